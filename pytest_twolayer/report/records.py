"""One record per conformance test: its verdict, where it ran and what it published."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

LOSSES_KEY = "losses"
BENCHMARK_KEY = "benchmark"
PYTEST_BENCHMARK_KEY = "pytest_benchmark"  # pytest-benchmark's own results, for its session


class Outcome(str, Enum):
    """What became of one check; ``error`` is a failure outside the test body (a fixture)."""

    PASSED = "passed"
    FAILED = "failed"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    SKIPPED = "skipped"
    ERROR = "error"
    CRASHED = "crashed"
    NOT_RUN = "not run"  # collected, but no verdict came: its worker died, or the run stopped
    SUITE_ERROR = "suite error"  # the suite's own machinery failed: no verdict on the impl


FAILING = (Outcome.FAILED, Outcome.ERROR, Outcome.CRASHED, Outcome.NOT_RUN, Outcome.SUITE_ERROR)
"""The outcomes that fail a run (an expected failure does not; the suite's own error does, as
something went wrong that someone must see)."""


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
    host: str | None = None  # the host that worker ran on ("localhost" without remote ones)
    data: dict[str, Any] = field(default_factory=dict)  # what the test published
    ran: bool = False  # its body was called, or it failed in setup (the ratchet counts these)

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
        others = {
            k: v
            for k, v in self.data.items()
            if k not in (LOSSES_KEY, BENCHMARK_KEY, PYTEST_BENCHMARK_KEY)
        }
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
            "host": self.host,
            "losses": summary,
            "benchmark": json_safe(self.benchmark),
            "published": json_safe(others),
        }


def record_from_json(entry: dict[str, Any]) -> Record:
    """A record as a JSON report wrote it (what it published comes back but for
    pytest-benchmark's raw results, which the report leaves out)."""
    data = dict(entry.get("published") or {})
    losses = entry.get("losses")
    if isinstance(losses, dict):
        data[LOSSES_KEY] = [math.nan if v is None else v for v in losses.get("values", [])]
    if entry.get("benchmark") is not None:
        data[BENCHMARK_KEY] = entry["benchmark"]
    outcome = entry.get("outcome")
    return Record(
        nodeid=entry["nodeid"],
        impl=entry["impl"],
        device=entry.get("device"),
        dtype=entry.get("dtype"),
        seed=entry.get("seed"),
        concern=entry["concern"],
        check=entry["check"],
        outcome=None if outcome is None else Outcome(outcome),
        message=entry.get("message"),
        line=entry.get("line") or "",
        duration_s=float(entry.get("duration_s") or 0.0),
        worker=entry.get("worker"),
        host=entry.get("host"),
        data=data,
        ran=outcome not in (None, Outcome.SKIPPED.value, Outcome.NOT_RUN.value),
    )


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
