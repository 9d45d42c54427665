"""Collecting the suite for a selection: its files, the parametrization over cases, and the
one reader of what a collected test checks.

Every feature that needs to know which implementation, device, dtype or check a test item
is about asks :func:`collected_case`; nothing else reads a test's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.suite import OTHER_CONCERN, case_id, suite_dir
from pytest_twolayer.run.options import settings_of
from pytest_twolayer.run.registry import RegistrationError
from pytest_twolayer.run.selection import Loaded, Selection

DTYPES_MARKER = "twolayer_dtypes"
DTYPES_MARKER_HELP = (
    f"{DTYPES_MARKER}(which): 'all' (default) runs a twolayer test in every declared "
    "dtype, 'training' only in the implementation's first (training) dtype"
)
CASE_FIXTURE = "twolayer_case"
"""A test using this fixture runs once per implementation x device x dtype."""
CLASS_FIXTURE = "twolayer_loaded"
"""A test using this fixture runs once per implementation (a check of the class alone)."""
TWOLAYER_FIXTURES = (CASE_FIXTURE, CLASS_FIXTURE)


@dataclass(frozen=True)
class CaseParam:
    """A collected case: resolved into a :class:`Case` (importing the class) at setup."""

    loaded: Loaded
    device: str
    dtype: str
    seed: int

    def case(self) -> Case:
        try:
            cls = self.loaded.cls
        except RegistrationError as exc:
            pytest.fail(str(exc), pytrace=False)
        assert cls is not None  # only implementations that declared something have cases
        return Case(self.loaded.spec.name, cls, self.device, self.dtype, self.seed)


def case_params(selection: Selection, which_dtypes: str) -> list[Any]:
    """``pytest.param`` objects, one per implementation x device x dtype that applies.

    ``which_dtypes`` is ``"all"`` (every declared dtype) or ``"training"`` (the first).
    A device that is absent, or that the implementation says it cannot use here, is a
    skip with its reason (the implementation's own first: "tensorflow sees no GPU" says more
    to a TensorFlow net than what torch says of the machine); a device the implementation
    does not declare is not a case.
    """
    params: list[Any] = []  # pytest.param(...) objects
    for loaded in selection.implementations:
        declared = loaded.declared
        if declared is None:
            continue
        dtypes = declared.dtypes if which_dtypes == "all" else declared.dtypes[:1]
        for device, absent in selection.devices.items():
            if device not in declared.devices:
                continue
            reason = declared.skip_reasons.get(device) or absent
            marks = [pytest.mark.skip(reason=f"{device}: {reason}")] if reason else []
            for dtype in dtypes:
                param = CaseParam(loaded, device, dtype, selection.seed)
                name = case_id(loaded.spec.name, device, dtype)
                params.append(pytest.param(param, id=name, marks=marks))
    return params


@dataclass(frozen=True)
class CollectedCase:
    """What a collected twolayer test checks, and where its verdict belongs."""

    loaded: Loaded
    device: str | None  # None for a check of the class alone
    dtype: str | None
    seed: int
    check: str  # the check id: the test function's name without ``test_``
    concern: str  # the suite module's concern, or "other" for a user's own test
    in_suite: bool

    @property
    def impl(self) -> str:
        return self.loaded.spec.name

    def case(self) -> Case | None:
        """The :class:`Case` a per-case test received (None for a check of the class alone)."""
        if self.device is None or self.dtype is None:
            return None
        return CaseParam(self.loaded, self.device, self.dtype, self.seed).case()

    def labels(self) -> dict[str, str]:
        """The case as strings: the reports' fields and ``--junitxml``'s properties."""
        labels = {"impl": self.impl}
        if self.device is not None and self.dtype is not None:
            labels |= {"device": self.device, "dtype": self.dtype}
        return labels | {"seed": str(self.seed), "concern": self.concern, "check": self.check}


def check_id(item: pytest.Item) -> str:
    """A check's stable id: its test function's name without ``test_`` (``training``)."""
    return str(getattr(item, "originalname", item.name)).removeprefix("test_")


_CASE_KEY = pytest.StashKey[CollectedCase | None]()


def collected_case(item: pytest.Item) -> CollectedCase | None:
    """The case a twolayer test item checks (None for any other test)."""
    if _CASE_KEY not in item.stash:
        item.stash[_CASE_KEY] = _read_case(item)
    return item.stash[_CASE_KEY]


def _read_case(item: pytest.Item) -> CollectedCase | None:
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    param, loaded = params.get(CASE_FIXTURE), params.get(CLASS_FIXTURE)
    in_suite = item.path.parent == suite_dir()
    concern = item.path.stem.removeprefix("test_") if in_suite else OTHER_CONCERN
    if isinstance(param, CaseParam):
        return CollectedCase(
            param.loaded, param.device, param.dtype, param.seed, check_id(item), concern, in_suite
        )
    if isinstance(loaded, Loaded):
        seed = settings_of(item.config).seed
        return CollectedCase(loaded, None, None, seed, check_id(item), concern, in_suite)
    return None


class Collection:
    """Per-run collection: the suite's files, the parametrization, the cases' labels."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self.suite = suite_dir()

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Module | None:
        """Collect the suite's ``test_*.py`` even when ``python_files`` would not match them."""
        if file_path.parent != self.suite or not fnmatch(file_path.name, "test_*.py"):
            return None
        patterns = parent.config.getini("python_files")
        if any(fnmatch(file_path.name, pattern) for pattern in patterns):
            return None  # pytest's python plugin collects it already
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if CLASS_FIXTURE in metafunc.fixturenames:
            loaded = self.selection.implementations
            metafunc.parametrize(CLASS_FIXTURE, loaded, ids=[i.spec.name for i in loaded])
        if CASE_FIXTURE in metafunc.fixturenames:
            marker = metafunc.definition.get_closest_marker(DTYPES_MARKER)
            which = marker.args[0] if marker and marker.args else "all"
            if which not in ("all", "training"):
                raise pytest.UsageError(
                    f"{metafunc.definition.nodeid}: {DTYPES_MARKER} takes 'all' or 'training', "
                    f"got {which!r}"
                )
            metafunc.parametrize(CASE_FIXTURE, case_params(self.selection, which), indirect=True)


def add_suite_to_args(config: pytest.Config) -> None:
    """Collect the shipped suite's folder (``Collection.pytest_collect_file`` keeps the user's
    ``python_files`` patterns from hiding its modules).

    Without explicit paths on the command line the run is the suite alone (the user's
    ``testpaths`` are not collected); named paths run beside the suite.
    """
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args.clear()
    folder = suite_dir()
    if all(Path(arg).resolve() != folder for arg in config.args):
        config.args.append(str(folder))
