"""What the figures show, read from the report collector's records: training loss curves and
step benchmarks. Imports no plotting library."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pytest_twolayer.report.records import Outcome, Record

TRAINING_CONCERN = "training"
BENCHMARK_CONCERN = "benchmark"
STEP = "step"  # the benchmark of one training step (the other kind, "run", is not drawn)


@dataclass(frozen=True)
class Curve:
    """One training check's loss curve: ``losses[t]`` is the loss before step ``t + 1``."""

    impl: str
    device: str
    dtype: str
    losses: tuple[float, ...]
    verdict: str  # "passed", "FAILED", or "FAILED, expected" (a declared expected failure)

    @property
    def failed(self) -> bool:
        return self.verdict != "passed"


@dataclass(frozen=True)
class StepBenchmark:
    """One implementation's training-step benchmark on one device, in its training dtype.

    A benchmark that failed keeps its figures if it had any (a gate failed after timing) and
    has none (``measured`` is False) if it failed before the timing ended.
    """

    impl: str
    device: str
    dtype: str
    median_s: float
    gflops: float
    peak_gflops: float  # the large-GEMM peak measured in the same process, device and dtype
    peak_fraction: float
    threads: int
    host: str | None = None  # the host whose peak it is measured against
    verdict: str = "passed"  # as a Curve's
    measured: bool = True
    why: str = ""  # a failure's one line

    @property
    def failed(self) -> bool:
        return self.verdict != "passed"


def shown_verdict(record: Record) -> str:
    """A record's verdict as a figure's legend says it."""
    if record.outcome in (Outcome.PASSED, Outcome.XPASSED):
        return "passed"
    if record.outcome == Outcome.XFAILED:
        return "FAILED, expected"
    return "FAILED"


def curve_from(record: Record) -> Curve | None:
    """The loss curve a training check published, if any."""
    losses = record.losses
    if record.concern != TRAINING_CONCERN or losses is None:
        return None
    return Curve(
        impl=record.impl,
        device=record.device or "?",
        dtype=record.dtype or "?",
        losses=tuple(losses),
        verdict=shown_verdict(record),
    )


def benchmark_from(record: Record) -> StepBenchmark | None:
    """The training-step benchmark a record carries, if any and well formed; for a benchmark
    check that failed without figures, an unmeasured entry that says so."""
    data = record.benchmark
    if data is None:
        return _unmeasured(record)
    if data.get("what") != STEP:
        return None
    try:
        return StepBenchmark(
            impl=str(data["impl"]),
            device=str(data["device"]),
            dtype=str(data["dtype"]),
            median_s=float(data["median_s"]),
            gflops=float(data["gflops"]),
            peak_gflops=float(data["peak_gflops"]),
            peak_fraction=float(data["peak_fraction"]),
            threads=int(data["threads"]),
            host=record.host,
            verdict=shown_verdict(record),
            why=record.line if record.outcome in FAILED else "",
        )
    except (KeyError, TypeError, ValueError):
        return None  # a malformed record is the benchmark module's bug; the figure skips it


FAILED = (
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.CRASHED,
    Outcome.XFAILED,
    Outcome.NOT_RUN,
    Outcome.SUITE_ERROR,
)


def _unmeasured(record: Record) -> StepBenchmark | None:
    """A benchmark check that failed before publishing figures: a row without a bar."""
    if record.concern != BENCHMARK_CONCERN or record.outcome not in FAILED:
        return None
    if record.device is None or record.dtype is None:
        return None
    nan = math.nan
    return StepBenchmark(
        record.impl, record.device, record.dtype, nan, nan, nan, nan, 0,
        host=record.host, verdict=shown_verdict(record), measured=False, why=record.line,
    )  # fmt: skip


@dataclass
class Collected:
    """Every curve and step benchmark seen in the run, keyed by case (a rerun replaces)."""

    curves: dict[tuple[str, str, str], Curve] = field(default_factory=dict)
    benchmarks: dict[tuple[str, str, str], StepBenchmark] = field(default_factory=dict)

    @classmethod
    def of(cls, records: list[Record]) -> Collected:
        collected = cls()
        for record in records:
            collected.add(record)
        return collected

    def add(self, record: Record) -> None:
        curve = curve_from(record)
        if curve is not None:
            self.curves[curve.impl, curve.device, curve.dtype] = curve
        bench = benchmark_from(record)
        if bench is not None:
            self.benchmarks[bench.impl, bench.device, bench.dtype] = bench

    def ordered_curves(self, names: list[str], devices: list[str]) -> list[Curve]:
        return sorted(self.curves.values(), key=lambda c: _order(c, names, devices))

    def ordered_benchmarks(self, names: list[str], devices: list[str]) -> list[StepBenchmark]:
        return sorted(self.benchmarks.values(), key=lambda b: _order(b, names, devices))


def _order(item: Curve | StepBenchmark, names: list[str], devices: list[str]) -> tuple[Any, ...]:
    """Selection order (the order of ``--impl``), then device order; strangers last."""
    impl = names.index(item.impl) if item.impl in names else len(names)
    device = devices.index(item.device) if item.device in devices else len(devices)
    return (impl, item.impl, device, item.device, item.dtype)
