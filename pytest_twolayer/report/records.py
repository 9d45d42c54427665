"""One record per conformance test, built from its reports as they reach the controller."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest

from pytest_twolayer import nodeids
from pytest_twolayer.published import properties, published

LOSSES_KEY = "losses"
BENCHMARK_KEY = "benchmark"
CRASH_MARK = "crashed while running"  # pytest-xdist's report for a test whose worker died


class Outcome(str, Enum):
    """What became of one check; ``error`` is a failure outside the test body (a fixture)."""

    PASSED = "passed"
    FAILED = "failed"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    SKIPPED = "skipped"
    ERROR = "error"
    CRASHED = "crashed"


@dataclass
class Record:
    """A conformance test's verdict, where it ran, what it said and what it published."""

    nodeid: str
    impl: str
    device: str | None  # None for a check of the implementation alone (it loads)
    dtype: str | None
    seed: int | None
    concern: str
    check: str  # the check id: the test function's name without ``test_``
    outcome: Outcome | None = None  # None while only a passing setup has been seen
    message: str | None = None  # the failure text, skip reason or expected-failure reason
    line: str = ""  # the message in one line: the exception pytest's summary shows
    duration_s: float = 0.0
    worker: str | None = None  # the xdist worker ("gw0") that sent it
    data: dict[str, Any] = field(default_factory=dict)  # what the test published

    @property
    def losses(self) -> list[float] | None:
        values = self.data.get(LOSSES_KEY)
        return [_number(v) for v in values] if isinstance(values, list) else None

    @property
    def benchmark(self) -> dict[str, Any] | None:
        figures = self.data.get(BENCHMARK_KEY)
        return figures if isinstance(figures, dict) else None

    def losses_summary(self) -> dict[str, Any] | None:
        """First and last loss and the number of steps (the curve itself only in ``values``)."""
        values = self.losses
        if values is None:
            return None
        return {
            "first": finite_or_none(values[0]) if values else None,
            "last": finite_or_none(values[-1]) if values else None,
            "steps": len(values),
        }

    def to_json(self) -> dict[str, Any]:
        summary = self.losses_summary()
        if summary is not None:
            summary["values"] = [finite_or_none(v) for v in self.losses or []]
        others = {k: v for k, v in self.data.items() if k not in (LOSSES_KEY, BENCHMARK_KEY)}
        return {
            "nodeid": self.nodeid,
            "impl": self.impl,
            "device": self.device,
            "dtype": self.dtype,
            "seed": self.seed,
            "concern": self.concern,
            "check": self.check,
            "outcome": self.outcome.value if self.outcome else None,
            "message": self.message,
            "line": self.line,
            "duration_s": self.duration_s,
            "worker": self.worker,
            "losses": summary,
            "benchmark": json_safe(self.benchmark),
            "published": json_safe(others),
        }


class Recorder:
    """Turns the stream of test reports into records, in the order the tests started.

    Fed by ``pytest_runtest_logreport`` on the xdist controller (or the only process): it
    sees the setup, call and teardown reports of every test, and pytest-xdist's one report
    for a test whose worker crashed, which carries no properties: its node id says the case.
    """

    def __init__(self, names: list[str], suite_modules: frozenset[str], seed: int) -> None:
        self.names = names
        self.suite_modules = suite_modules
        self.seed = seed
        self._records: dict[str, Record] = {}

    def add(self, report: pytest.TestReport) -> None:
        crashed = (
            report.failed and CRASH_MARK in failure_text(report) and not report.user_properties
        )
        record = self._record_for(report, fresh=report.when == "setup" or crashed)
        if record is None:
            return
        record.duration_s += float(report.duration or 0.0)
        node = getattr(report, "node", None)  # on the controller: the worker it came from
        gateway = getattr(node, "gateway", None)
        if gateway is not None:
            record.worker = str(gateway.id)
        if crashed:
            record.outcome, record.message = Outcome.CRASHED, failure_text(report)
        elif report.when == "setup":
            _setup(record, report)
        elif report.when == "call":
            _call(record, report)
            record.data = dict(published(report))
        elif report.when == "teardown" and report.failed and record.outcome != Outcome.FAILED:
            record.outcome, record.message = Outcome.ERROR, failure_text(report)
        if record.message is not None and (report.failed or crashed or not record.line):
            record.line = headline(report, record.message)

    def records(self) -> list[Record]:
        """Every test that reached a verdict (one interrupted mid-test has none)."""
        return [r for r in self._records.values() if r.outcome is not None]

    def _record_for(self, report: pytest.TestReport, *, fresh: bool) -> Record | None:
        if not fresh:
            return self._records.get(report.nodeid)
        props = properties(report)
        if "impl" in props:
            seed = props.get("seed")
            record = Record(
                nodeid=report.nodeid,
                impl=props["impl"],
                device=props.get("device"),
                dtype=props.get("dtype"),
                seed=int(seed) if seed and seed.lstrip("-").isdigit() else None,
                concern=props.get("concern", "other"),
                check=props.get("check", _check_of(report.nodeid)),
            )
        else:
            key = nodeids.parse(report.nodeid, self.names, self.suite_modules)
            if key is None:
                return None  # not a conformance test: the user's own, outside the reports
            record = Record(
                nodeid=report.nodeid,
                impl=key.impl,
                device=key.device,
                dtype=key.dtype,
                seed=self.seed,
                concern=key.concern,
                check=key.check.removeprefix("test_"),
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


def _check_of(nodeid: str) -> str:
    function = nodeid.partition("::")[2].partition("[")[0].rsplit("::", 1)[-1]
    return function.removeprefix("test_")


def count(records: Iterable[Record]) -> dict[str, int]:
    """How many records ended in each outcome (every outcome named, zeros included)."""
    counts = {outcome.value: 0 for outcome in Outcome}
    for record in records:
        if record.outcome is not None:
            counts[record.outcome.value] += 1
    return counts


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a diverged loss is written as null."""
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None and tuples by lists."""
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
