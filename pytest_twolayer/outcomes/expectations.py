"""Expected failures: an implementation's declared ``{check id: reason}`` run as strict xfails."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Generator

import pytest

from pytest_twolayer.checking.suite import GLOBAL_STATE_CHECK, check_ids
from pytest_twolayer.run.collection import collected_case
from pytest_twolayer.run.selection import Declared, Loaded, Selection
from pytest_twolayer.spec.contract import EXPECTED_FAILURE_KEY

XFAIL_KEY = pytest.StashKey[tuple[str, str, str]]()
"""On an item marked as an expected failure: (implementation, declared key, reason)."""

XPASS_PREFIX = "[XPASS(strict)]"


class TwoLayerWarning(pytest.PytestWarning):
    """A pytest-twolayer declaration that does not do what its author meant."""


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
            hosted = getattr(cls, "_twolayer_source", None)  # sealed: where its host found it
            if hosted is not None:
                filename, lineno = hosted
            else:
                filename = inspect.getsourcefile(cls) or filename
                lineno = inspect.getsourcelines(cls)[1]
    except Exception:  # no source to point at (a built class, a zip): the message says it all
        pass
    try:
        warnings.warn_explicit(TwoLayerWarning(message), TwoLayerWarning, filename, lineno, module)
    except TwoLayerWarning as exc:
        raise pytest.UsageError(str(exc)) from None


class ExpectedFailures:
    """Adds ``xfail(strict=True)`` to every case an implementation declares it fails (not
    strict for the tests of ``global_state_untouched``, one per call, most of which pass).

    ``warns``: whether this process warns about declarations that expect nothing (under
    xdist every worker collects the same items; one of them warns, so a warning shows once).
    """

    def __init__(self, selection: Selection, *, warns: bool) -> None:
        self.selection = selection
        self.warns = warns

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: every collected id is valid
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        valid = set(check_ids())
        for item in items:
            case = collected_case(item)
            if case is None:
                continue
            valid.add(case.check)  # a user's own test can be declared too
            declared = case.loaded.declared
            if declared is None:
                continue
            found = expected_reason(declared, case.check, case.device, case.dtype)
            if found is None:
                continue
            key, reason = found
            # global_state_untouched runs once per contract call and fails only for the calls
            # that change the state: declared as a whole, its other calls' passes are expected.
            strict = case.check != GLOBAL_STATE_CHECK
            item.add_marker(pytest.mark.xfail(strict=strict, reason=reason))
            item.stash[XFAIL_KEY] = (case.impl, key, reason)
        if self.warns:
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
