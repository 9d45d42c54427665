"""The one reader of the per-test channel: every test report becomes a record here.

The matrix, the terminal tables, the JSON and Markdown reports, the plots, the coverage
ratchet and pytest-benchmark's merged results are all rendered from :meth:`Collector.records`
(see :mod:`pytest_twolayer.published` for what a test's report carries).
"""

from __future__ import annotations

import pytest

from pytest_twolayer.published import Message, read
from pytest_twolayer.report.records import Outcome, Record
from pytest_twolayer.suite import OTHER_CONCERN, parse_nodeid

CRASH_MARK = "crashed while running"  # pytest-xdist's report for a test whose worker died


class Collector:
    """Turns the stream of test reports into records, in the order the tests started.

    Registered on the xdist controller (or the only process), where
    ``pytest_runtest_logreport`` sees the setup, call and teardown reports of every test,
    and pytest-xdist's one report for a test whose worker crashed, which carries no message:
    its node id says the case.
    """

    def __init__(self, names: list[str], seed: int) -> None:
        self.names = names
        self.seed = seed
        self._records: dict[str, Record] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.add(report)

    def add(self, report: pytest.TestReport) -> None:
        message = read(report)
        crashed = report.failed and CRASH_MARK in failure_text(report) and message is None
        record = self._record_for(report, message, fresh=report.when == "setup" or crashed)
        if record is None:
            return
        record.duration_s += float(report.duration or 0.0)
        node = getattr(report, "node", None)  # on the controller: the worker it came from
        gateway = getattr(node, "gateway", None)
        if gateway is not None:
            record.worker = str(gateway.id)
        if crashed:
            record.outcome, record.message = Outcome.CRASHED, failure_text(report)
            record.ran = True
        elif report.when == "setup":
            _setup(record, report)
            record.ran = report.failed
        elif report.when == "call":
            _call(record, report)
            record.ran = True
            record.data = dict(message.data) if message else {}
        elif report.when == "teardown" and report.failed and record.outcome != Outcome.FAILED:
            record.outcome, record.message = Outcome.ERROR, failure_text(report)
        if record.message is not None and (report.failed or crashed or not record.line):
            record.line = headline(report, record.message)

    def records(self) -> list[Record]:
        """Every test that reached a verdict (one interrupted mid-test has none)."""
        return [r for r in self._records.values() if r.outcome is not None]

    def _record_for(
        self, report: pytest.TestReport, message: Message | None, *, fresh: bool
    ) -> Record | None:
        if not fresh:
            return self._records.get(report.nodeid)
        props = message.case if message else {}
        if "impl" in props:
            seed = props.get("seed")
            record = Record(
                nodeid=report.nodeid,
                impl=props["impl"],
                device=props.get("device"),
                dtype=props.get("dtype"),
                seed=int(seed) if seed and seed.lstrip("-").isdigit() else None,
                concern=props.get("concern", OTHER_CONCERN),
                check=props.get("check", ""),
            )
        else:
            key = parse_nodeid(report.nodeid, self.names)
            if key is None:
                return None  # not a conformance test: the user's own, outside the reports
            record = Record(
                nodeid=report.nodeid,
                impl=key.impl,
                device=key.device,
                dtype=key.dtype,
                seed=self.seed,
                concern=key.concern,
                check=key.check,
            )
        # A rerun (a crashed worker's group run again, pytest-rerunfailures) replaces the
        # earlier attempt; re-inserting keeps the record where the test last started.
        self._records.pop(report.nodeid, None)
        self._records[report.nodeid] = record
        return record


def _setup(record: Record, report: pytest.TestReport) -> None:
    if report.failed:
        record.outcome, record.message = Outcome.ERROR, failure_text(report)
    elif report.skipped:
        if hasattr(report, "wasxfail"):  # xfail(run=False) never calls the test
            record.outcome, record.message = Outcome.XFAILED, str(report.wasxfail)
        else:
            record.outcome, record.message = Outcome.SKIPPED, skip_reason(report)


def _call(record: Record, report: pytest.TestReport) -> None:
    xfail = getattr(report, "wasxfail", None)
    if report.passed:
        record.outcome = Outcome.PASSED if xfail is None else Outcome.XPASSED
        record.message = None if xfail is None else str(xfail)
    elif report.skipped:
        if xfail is not None:
            record.outcome, record.message = Outcome.XFAILED, str(xfail)
        else:
            record.outcome, record.message = Outcome.SKIPPED, skip_reason(report)
    else:  # a strict xpass lands here too, as pytest counts it: failed
        record.outcome, record.message = Outcome.FAILED, failure_text(report)


def headline(report: pytest.TestReport, message: str) -> str:
    """One line for ``message``: the exception line of a traceback (``E   AssertionError``
    as pytest's short summary shows it), else the message's first non-empty line."""
    crash = getattr(report.longrepr, "reprcrash", None) if report.failed else None
    text = str(getattr(crash, "message", "") or "") or message
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line.removeprefix("Failed: ")  # pytest.fail(msg) says nothing more than msg


def failure_text(report: pytest.TestReport) -> str:
    """The failure as pytest prints it, without the ``[gw0] linux -- Python`` line that
    ``longreprtext`` starts with on the xdist controller."""
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):
        return skip_reason(report)
    return str(longrepr)


def skip_reason(report: pytest.TestReport) -> str:
    """The reason a skip report gives, without pytest's ``Skipped: `` prefix."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ")
