"""The one reader of the per-test channel: every test report becomes a record here.

The matrix, the terminal tables, the JSON and Markdown reports, the plots, the coverage
ratchet and pytest-benchmark's merged results are all rendered from :meth:`Collector.records`
(see :mod:`pytest_twolayer.checking.published` for what a test's report carries).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pytest_twolayer.checking.published import Message, read
from pytest_twolayer.checking.suite import OTHER_CONCERN, parse_nodeid
from pytest_twolayer.checking.suite_errors import is_suite_error
from pytest_twolayer.report.records import Outcome, Record

CRASH_MARK = "crashed while running"  # pytest-xdist's report for a test whose worker died
NOT_RUN = (
    "not run: collected, but no verdict came back (its worker or host died, or the run "
    "stopped before it was handed out)"
)


class Collector:
    """Turns the stream of test reports into records, in the order the tests started.

    Registered on the xdist controller (or the only process), where
    ``pytest_runtest_logreport`` sees the setup, call and teardown reports of every test,
    and pytest-xdist's one report for a test whose worker crashed, which carries no message:
    its node id says the case. It also knows what was collected (here, or by the xdist
    workers), so a check that never reported is recorded as not run, never left out.

    ``worker_hosts`` maps an xdist worker's id to its host (for a crashed worker's report).
    """

    def __init__(
        self, names: list[str], seed: int, worker_hosts: Mapping[str, str] | None = None
    ) -> None:
        self.names = names
        self.seed = seed
        self.worker_hosts = worker_hosts if worker_hosts is not None else {}
        self._records: dict[str, Record] = {}
        self.collected: dict[str, None] = {}  # node ids, in order

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected.update(dict.fromkeys(item.nodeid for item in session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.collected.update(dict.fromkeys(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.add(report)

    @pytest.hookimpl(tryfirst=True)  # before the ratchet and the reports read the records
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Record every collected check that has no verdict as not run; that fails the run."""
        if session.config.option.collectonly:
            return  # nothing was to run
        lost = 0
        for nodeid in self.collected:
            record = self._records.get(nodeid)
            if record is not None and record.outcome is not None:
                continue
            key = parse_nodeid(nodeid, self.names)
            if key is None:
                continue  # not a conformance test
            self._records.pop(nodeid, None)
            self._records[nodeid] = Record(
                nodeid, key.impl, key.device, key.dtype, self.seed, key.concern, key.check,
                outcome=Outcome.NOT_RUN, message=NOT_RUN, line=NOT_RUN,
            )  # fmt: skip
            lost += 1
        if lost and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

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
            record.host = record.host or self.worker_hosts.get(record.worker)
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
                host=props.get("host"),
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
        text = failure_text(report)
        record.outcome = Outcome.SUITE_ERROR if is_suite_error(text) else Outcome.FAILED
        record.message = text


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
