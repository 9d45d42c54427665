"""Expected failures: an implementation's declared ``{check id: reason}`` run as strict xfails."""

from __future__ import annotations

import ast
import inspect
import warnings
from collections.abc import Generator
from pathlib import Path

import pytest

from pytest_twolayer import distributed, dryrun, ratchet
from pytest_twolayer.contract import EXPECTED_FAILURE_KEY
from pytest_twolayer.selection import CaseParam, Declared, Loaded, Selection

XFAIL_KEY = pytest.StashKey[tuple[str, str, str]]()
"""On an item marked as an expected failure: (implementation, declared key, reason)."""

XPASS_PREFIX = "[XPASS(strict)]"


class TwoLayerWarning(pytest.PytestWarning):
    """A pytest-twolayer declaration that does not do what its author meant."""


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """The CI gate's options: the coverage ratchet and the dry run."""
    ratchet.add_options(group, parser)
    dryrun.add_options(group, parser)


def configure(config: pytest.Config, selection: Selection) -> None:
    """Mark expected failures wherever items are collected; the ratchet and the dry run act
    on the controller (or the single process)."""
    config.pluginmanager.register(ExpectedFailures(selection), "twolayer-expectations")
    if not distributed.is_worker(config):
        dryrun.configure(config, selection)
        ratchet.configure(config, selection)


def keys_for(check: str, device: str | None, dtype: str | None) -> list[str]:
    """The declared keys that name one case of ``check``, most specific first."""
    if device is None or dtype is None:
        return [check]
    return [f"{check}[{device}-{dtype}]", f"{check}[{device}]", f"{check}[{dtype}]", check]


def expected_reason(
    declared: Declared, check: str, device: str | None, dtype: str | None
) -> tuple[str, str] | None:
    """``(key, reason)`` if ``declared`` expects ``check`` to fail in this case."""
    for key in keys_for(check, device, dtype):
        reason = declared.expected_failures.get(key)
        if reason is not None:
            return key, reason
    return None


def suite_check_ids(suite: Path) -> set[str]:
    """Every check id of the shipped suite, read from its source (nothing is imported)."""
    ids: set[str] = set()
    for path in suite.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        ids.update(
            node.name.removeprefix("test_")
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        )
    return ids


def unknown_keys(loaded: Loaded, valid: set[str]) -> list[str]:
    """One warning text per declared key of ``loaded`` that can match no check it runs."""
    declared = loaded.declared
    if declared is None:
        return []
    messages = []
    for key in declared.expected_failures:
        match = EXPECTED_FAILURE_KEY.fullmatch(key)
        check, qualifier = (match["check"], match["qualifier"]) if match else (key, None)
        where = f"implementation {loaded.spec.name!r} declares an expected failure {key!r}"
        if check not in valid:
            messages.append(
                f"{where}, but no check has the id {check!r}: it expects nothing; "
                f"valid ids: {', '.join(sorted(valid))}"
            )
        elif qualifier and not set(qualifier.split("-")) <= {*declared.devices, *declared.dtypes}:
            messages.append(
                f"{where}, but [{qualifier}] is not among its devices "
                f"({', '.join(declared.devices)}) and dtypes ({', '.join(declared.dtypes)}): "
                "it expects nothing"
            )
    return messages


def warn_at_class(loaded: Loaded, message: str) -> None:
    """Warn at the implementation's class, where the declaration is to be fixed; a warning
    filter that makes it an error (``-W error::...TwoLayerWarning``) makes it a usage error."""
    filename, lineno, module = "<unknown>", 0, "pytest_twolayer"
    try:
        cls = loaded.cls
        if cls is not None:
            module = cls.__module__
            filename = inspect.getsourcefile(cls) or filename
            lineno = inspect.getsourcelines(cls)[1]
    except Exception:  # no source to point at (a built class, a zip): the message says it all
        pass
    try:
        warnings.warn_explicit(TwoLayerWarning(message), TwoLayerWarning, filename, lineno, module)
    except TwoLayerWarning as exc:
        raise pytest.UsageError(str(exc)) from None


def _is_first_collector(config: pytest.Config) -> bool:
    """Under xdist every worker collects the same items: only gw0 warns, so a warning shows
    once (a restarted worker gets a new id)."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput is None or workerinput.get("workerid") == "gw0"


class ExpectedFailures:
    """Adds ``xfail(strict=True)`` to every case an implementation declares it fails."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: every collected id is valid
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        from pytest_twolayer.plugin import check_id, suite_dir  # plugin imports this module

        valid = suite_check_ids(suite_dir())
        for item in items:
            case = _case_of(item)
            if case is None:
                continue
            loaded, device, dtype = case
            check = check_id(item)
            valid.add(check)
            if loaded.declared is None:
                continue
            found = expected_reason(loaded.declared, check, device, dtype)
            if found is None:
                continue
            key, reason = found
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
            item.stash[XFAIL_KEY] = (loaded.spec.name, key, reason)
        if _is_first_collector(config):
            for loaded in self.selection.implementations:
                for message in unknown_keys(loaded, valid):
                    warn_at_class(loaded, message)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        declared = item.stash.get(XFAIL_KEY, None)
        longrepr = report.longrepr
        if declared and isinstance(longrepr, str) and longrepr.startswith(XPASS_PREFIX):
            # pytest's own text repeats the reason only: say what to do about it.
            name, key, reason = declared
            report.longrepr = (
                f"{XPASS_PREFIX} {key} passed, but {name!r} declares it an expected failure "
                f"({reason}): remove {key!r} from its expected_failures"
            )
        return report


def _case_of(item: pytest.Item) -> tuple[Loaded, str | None, str | None] | None:
    """The implementation, device and dtype a twolayer test item checks (None otherwise)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    param = callspec.params.get("twolayer_case")
    if isinstance(param, CaseParam):
        return param.loaded, param.device, param.dtype
    loaded = callspec.params.get("twolayer_loaded")
    if isinstance(loaded, Loaded):
        return loaded, None, None
    return None
