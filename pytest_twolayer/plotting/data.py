"""What the figures show, read from test reports: training loss curves and step benchmarks.

Reads only what the conformance tests publish (``published.published``) and their
``twolayer.*`` properties, so it works the same on the xdist controller as in one process.
Imports no plotting library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_twolayer.published import properties, published

LOSSES_KEY = "losses"
BENCHMARK_KEY = "benchmark"
TRAINING_CONCERN = "training"
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
    """One implementation's training-step benchmark on one device, in its training dtype."""

    impl: str
    device: str
    dtype: str
    median_s: float
    gflops: float
    peak_gflops: float  # the large-GEMM peak measured in the same process, device and dtype
    peak_fraction: float
    threads: int


def verdict(report: pytest.TestReport) -> str:
    if report.passed:
        return "passed"
    if report.skipped and hasattr(report, "wasxfail"):
        return "FAILED, expected"
    return "FAILED"


def curve_from(report: pytest.TestReport) -> Curve | None:
    """The loss curve a call-phase ``test_training`` report carries, if any."""
    losses = published(report).get(LOSSES_KEY)
    props = properties(report)
    if report.when != "call" or props.get("concern") != TRAINING_CONCERN:
        return None
    if not isinstance(losses, list):
        return None
    return Curve(
        impl=props.get("impl", "?"),
        device=props.get("device", "?"),
        dtype=props.get("dtype", "?"),
        losses=tuple(_float(v) for v in losses),
        verdict=verdict(report),
    )


def benchmark_from(report: pytest.TestReport) -> StepBenchmark | None:
    """The training-step benchmark a call-phase report carries, if any and well formed."""
    if report.when != "call":
        return None
    data = published(report).get(BENCHMARK_KEY)
    if not isinstance(data, dict) or data.get("what") != STEP:
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
        )
    except (KeyError, TypeError, ValueError):
        return None  # a malformed record is the benchmark module's bug; the figure skips it


@dataclass
class Collected:
    """Every curve and step benchmark seen in the run, keyed by case (a rerun replaces)."""

    curves: dict[tuple[str, str, str], Curve] = field(default_factory=dict)
    benchmarks: dict[tuple[str, str, str], StepBenchmark] = field(default_factory=dict)

    def add(self, report: pytest.TestReport) -> None:
        curve = curve_from(report)
        if curve is not None:
            self.curves[curve.impl, curve.device, curve.dtype] = curve
        bench = benchmark_from(report)
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


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
