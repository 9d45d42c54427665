"""What a twolayer test's reports carry: the suite's verdict as it wrote it, a snippet that
reproduces it, the case's labels for ``--junitxml``, and the test's message on the channel
of :mod:`pytest_twolayer.checking.published`, the verdict's fix hint under it
(:mod:`pytest_twolayer.checking.hints`); an exception from a check's own code is
reported as the suite's error (:mod:`pytest_twolayer.checking.suite_errors`), never as the
implementation's failure."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_twolayer.checking import suite_errors
from pytest_twolayer.checking.case import ConformanceFailure
from pytest_twolayer.checking.hints import with_hint
from pytest_twolayer.checking.published import attach, junit_properties
from pytest_twolayer.outcomes.reproduction import Reproduction
from pytest_twolayer.run.collection import CollectedCase, collected_case


class Verdicts:
    """Registered once implementations are selected, in every process that runs tests;
    ``host`` names the host this process runs on (every check's labels carry it)."""

    def __init__(self, reproduction: Reproduction, host: str) -> None:
        self.reproduction = reproduction
        self.host = host

    def labels(self, item: pytest.Item) -> dict[str, str] | None:
        case = collected_case(item)
        return None if case is None else case.labels() | {"host": self.host}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            labels = self.labels(item)
            if labels is not None:
                item.user_properties.extend(junit_properties(labels))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        case = collected_case(item)
        if case is None:
            return report
        # A conformance verdict is a complete message; a traceback into the suite hides it.
        if call.excinfo is not None and call.excinfo.errisinstance(ConformanceFailure):
            report.longrepr = with_hint(str(call.excinfo.value))
            self.reproduction.annotate(item, case, call, report)
        elif report.failed and call.when == "call" and case.in_suite and _own_exception(call):
            assert call.excinfo is not None
            report.longrepr = suite_errors.message(where(case), case.check, call.excinfo.value)
        attach(item, report, case.labels() | {"host": self.host})
        return report


def _own_exception(call: pytest.CallInfo[None]) -> bool:
    """Whether the test raised an ``Exception`` that is no verdict: then it came from the
    suite's own code, since every call into the implementation is the judge's, which makes
    what it raises a verdict. (pytest's skip, fail and xfail, Ctrl-C and the time limit are
    no ``Exception``.)"""
    excinfo = call.excinfo
    return (
        excinfo is not None
        and excinfo.errisinstance(Exception)
        and not excinfo.errisinstance(ConformanceFailure)
    )


def where(collected: CollectedCase) -> str:
    """``impl=... device=... dtype=... seed=...``, or ``impl=...`` for a check of the class."""
    case = collected.case()
    return case.where() if case is not None else f"impl={collected.impl}"
