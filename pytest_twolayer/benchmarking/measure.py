"""Timing an implementation's training step with pytest-benchmark, and the figures around it.

One measurement: a fresh instance on the tutorial's dims and standard normal data, a few
warm-up steps (TensorFlow's first ``session.run`` and torch's first optimizer step are slow),
then ``rounds`` timed steps, each followed by a device sync. Around the timing: the FLOPs
of the depths actually drawn, the in-run GEMM peak, threads and cores, page faults.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np

from pytest_twolayer import reference
from pytest_twolayer.benchmarking.peak import gemm_peak_gflops
from pytest_twolayer.benchmarking.sync import synchronizer
from pytest_twolayer.case import Case
from pytest_twolayer.compare import as_loss, closest_depth
from pytest_twolayer.workers import available_cores, thread_budget

WARMUP_STEPS = 5
MIN_ROUNDS = 10
MAX_ROUNDS = 400
"""Rounds continue one training run: beyond the tutorial's 500 steps the loss reaches its
rounding floor and float32 kernels can meet subnormal numbers, a workload nobody runs."""

RUN_STEPS = 500  # the tutorial's loop


class Prepared:
    """An instance with native data, and one synced, checked training step."""

    def __init__(self, case: Case, check: str) -> None:
        self.case, self.check = case, check
        self.impl = case.make(check=check)
        rng = case.rng(check)
        d = case.dims
        self.x, self.y = rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))
        self.xn = case.call(check, "to_device(x)", lambda: self.impl.to_device(self.x))
        self.yn = case.call(check, "to_device(y)", lambda: self.impl.to_device(self.y))
        self.sync = synchronizer(case.device)
        self.losses: list[float] = []

    def step(self) -> None:
        def synced() -> object:
            loss = self.impl.step(self.xn, self.yn)
            self.sync()  # the step's work, not only its launch
            return loss

        label = f"step() #{len(self.losses) + 1}"
        returned = self.case.call(self.check, label, synced)
        self.losses.append(as_loss(self.case, self.check, label, returned))

    def params(self) -> dict[str, np.ndarray]:
        params: dict[str, np.ndarray] = self.case.call(self.check, "params()", self.impl.params)
        return params


def rounds_for(seconds: float, per_step: float) -> int:
    """How many timed steps fit in ``seconds``, within [MIN_ROUNDS, MAX_ROUNDS]."""
    return int(min(MAX_ROUNDS, max(MIN_ROUNDS, seconds / max(per_step, 1e-9))))


def measure_step(case: Case, benchmark: Any, seconds: float) -> dict[str, Any]:
    """Time single training steps for about ``seconds``; return the published figures."""
    net = Prepared(case, "benchmark.step")
    peak = gemm_peak_gflops(case.device, case.dtype)  # before timing: it must not interleave
    for _ in range(WARMUP_STEPS):
        net.step()
    start = time.perf_counter()
    for _ in range(3):
        net.step()
    rounds = rounds_for(seconds, (time.perf_counter() - start) / 3)
    depths = tuple(case.cls.depths)  # type: ignore[attr-defined]
    snapshots: list[dict[str, np.ndarray]] = []
    first = len(net.losses)

    def snapshot() -> None:  # untimed: pytest-benchmark calls it before each round
        if len(depths) > 1:
            snapshots.append(net.params())

    faults = _minor_faults()
    benchmark.pedantic(net.step, setup=snapshot, rounds=rounds, iterations=1)
    faults = _minor_faults() - faults
    drawn = _depths_drawn(net, depths, snapshots, net.losses[first:])
    return _figures(case, benchmark, "step", 1, drawn, peak, faults / rounds)


def measure_run(case: Case, benchmark: Any) -> dict[str, Any]:
    """Time the tutorial's 500-step run of a fresh instance (after another one warmed up the
    process's kernels and graph caches); return the published figures."""
    warm = Prepared(case, "benchmark.run")
    for _ in range(WARMUP_STEPS):
        warm.step()
    peak = gemm_peak_gflops(case.device, case.dtype)
    nets: list[Prepared] = []

    def fresh() -> None:
        nets.append(Prepared(case, "benchmark.run"))

    def run() -> None:
        for _ in range(RUN_STEPS):
            nets[-1].step()

    faults = _minor_faults()
    benchmark.pedantic(run, setup=fresh, rounds=1, iterations=1)
    faults = _minor_faults() - faults
    # Identifying 500 depths would need a parameter copy per step inside the timed run; a
    # uniform draw's expectation stands in (the step benchmark counts the drawn ones).
    depths = tuple(case.cls.depths)  # type: ignore[attr-defined]
    expected = [d for d in depths for _ in range(RUN_STEPS // len(depths))]
    return _figures(case, benchmark, "run", RUN_STEPS, expected, peak, faults / RUN_STEPS)


def _depths_drawn(
    net: Prepared,
    depths: tuple[int, ...],
    snapshots: list[dict[str, np.ndarray]],
    losses: list[float],
) -> list[int]:
    """The depth each timed step used: its returned loss matched against the reference at
    the parameters it started from (fixed-depth nets: their one depth)."""
    if len(depths) == 1:
        return [depths[0]] * len(losses)
    return [
        closest_depth(loss, {d: reference.loss(params, net.x, net.y, d) for d in depths})[0]
        for params, loss in zip(snapshots, losses, strict=True)
    ]


def _figures(
    case: Case,
    benchmark: Any,
    what: str,
    steps_per_round: int,
    drawn: list[int],
    peak: float,
    faults_per_step: float,
) -> dict[str, Any]:
    stats = benchmark.stats.stats
    median_step = stats.median / steps_per_round
    depth_mean = float(np.mean(drawn))
    flops = float(np.mean([case.dims.matmul_flops_per_step(d) for d in drawn]))
    gflops = flops / median_step / 1e9
    peak = gemm_peak_gflops(case.device, case.dtype, at_least=gflops)
    figures: dict[str, Any] = {
        "impl": case.name,
        "device": case.device,
        "dtype": case.dtype,
        "what": what,
        "median_s": median_step,
        "iqr_s": stats.iqr / steps_per_round,
        "min_s": stats.min / steps_per_round,
        "mean_s": stats.mean / steps_per_round,
        "stddev_s": stats.stddev / steps_per_round,
        "rounds": stats.rounds,
        "steps_per_round": steps_per_round,
        "flops_per_step": flops,
        "gflops": gflops,
        "peak_gflops": peak,
        "peak_fraction": gflops / peak,
        "threads": thread_budget(),
        "cores": len(available_cores()),
        "minor_faults_per_step": faults_per_step,
        "depth_mean": depth_mean,
    }
    benchmark.extra_info.update(figures)  # saved with pytest-benchmark's JSON too
    return figures


def _minor_faults() -> int:
    """Minor page faults of this process so far (every thread: BLAS pools fault too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
