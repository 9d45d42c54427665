"""Timing an implementation's training steps with pytest-benchmark, and the figures around it.

One measurement: a warm-up instance takes a few steps (TensorFlow's first ``session.run``
and torch's first optimizer step are slow), then a fresh instance on the tutorial's dims and
standard normal data runs the tutorial's 500 steps, each timed (one pytest-benchmark round)
and followed by a device sync. That run is the training check's run (same seed, data stream
and steps), so its loss curve is recorded for the training check to judge
(:mod:`pytest_twolayer.checking.tutorial_run`). Around the timing: the FLOPs of the depths actually
drawn (:mod:`.depths`: the parameters each step starts from are copied untimed), the in-run
GEMM peak, threads and cores, page faults, and the memory the allocators hold before every
step (:mod:`.memory`, sampled untimed between two timed steps). Steps drawn at random are
audited (:mod:`.audit`): the loss each returned must be the loss of the parameters it started
from. With sealed verdicts the timer stays here, a round is several steps made in the host in
one request (:data:`ROUND_STEPS`), and the host's crossing is measured and left out of the
figures (:mod:`.crossing`).
"""

from __future__ import annotations

import contextlib
import gc
import math
import resource
from collections.abc import Iterator
from typing import Any

import numpy as np

from pytest_twolayer.benchmarking.audit import StepAudit
from pytest_twolayer.benchmarking.crossing import CrossingClock, Remote
from pytest_twolayer.benchmarking.depths import ParamsTape, depths_drawn, depths_replayed
from pytest_twolayer.benchmarking.memory import MemoryMeter
from pytest_twolayer.benchmarking.peak import gemm_peak
from pytest_twolayer.benchmarking.sync import synchronizer
from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.compare import as_loss
from pytest_twolayer.checking.tutorial_run import DATA_STREAM, TutorialRuns
from pytest_twolayer.host.machine import available_cores, thread_budget

WARMUP_STEPS = 5
CROSSING_EVERY = 4
"""With sealed verdicts and one step per round, the round trip to the host is timed before one
step in four: the median of 125 samples is as steady as of 500, and each sample is a crossing
of 0.1-0.2 ms the run pays for nothing else."""

ROUND_STEPS = 20
"""With sealed verdicts, the most steps one timed round makes in the host, in one request.

A step timed across the boundary alone costs more than the empty round trip taken off: the
host's CPU idled while the judge read the last answer, and the step after wakes it with cold
caches (0.08 ms more for the tensor net's 0.33 ms step here), while the judge, asleep for the
whole step, wakes later the longer it slept (0.1 to 0.35 ms for steps of 0.3 to 3 ms, where the
empty round trip is 0.06 to 0.2 ms). A round of 20 pays both once: a twentieth of them per
step, below 5% of the fastest built-in's step (docs/trust.md#how-a-sealed-step-is-timed)."""

MIN_ROUNDS = 10
"""Fewer rounds than this make for a poor median: a short run takes smaller rounds."""

NOISY_SPREAD = 1.0
"""A benchmark whose steps' interquartile range exceeds their median is flagged noisy: the
middle half of its steps spreads wider than a typical step takes, which is the machine's
load (another process, another worker), not the implementation. On a quiet machine the
tutorial's nets stay well below it, the dynamic net (whose steps vary with the depth drawn)
too; under load they exceeded it several times over
(docs/benchmarks.md#figures-behind-the-timer)."""


class Prepared:
    """An instance with native data (drawn from the tutorial run's stream), and one synced,
    checked training step."""

    def __init__(self, case: Case, check: str) -> None:
        self.case, self.check = case, check
        self.impl = case.make(check=check)
        rng = case.rng(DATA_STREAM)
        d = case.dims
        self.x, self.y = rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))
        # What was given, kept apart: a net that mutates its inputs is the hygiene check's
        # to judge; the audit compares with the data the steps were meant to see.
        self.x_given, self.y_given = self.x.copy(), self.y.copy()
        self.xn = case.call(check, "to_device(x)", lambda: self.impl.to_device(self.x))
        self.yn = case.call(check, "to_device(y)", lambda: self.impl.to_device(self.y))
        self.remote = self.impl if isinstance(self.impl, Remote) else None
        self.crossing = (
            None if self.remote is None else CrossingClock(self.remote, self.xn, self.yn)
        )
        self.sync = synchronizer(case.device)
        self.losses: list[float] = []

    def step(self) -> None:
        """One synced step: in this process, or in the host as a round of one."""
        if self.remote is not None:
            self.steps(1)
            return

        def synced() -> object:
            loss = self.impl.step(self.xn, self.yn)
            self.sync()  # the step's work, not only its launch
            return loss

        label = f"step() #{len(self.losses) + 1}"
        returned = self.case.call(self.check, label, synced)
        self.losses.append(as_loss(self.case, self.check, label, returned))

    def steps(self, count: int) -> None:
        """``count`` steps in one request to the host, each synced there, where the work runs
        (a timed round, see :data:`ROUND_STEPS`)."""
        remote, device = self.remote, self.case.device
        assert remote is not None, "rounds of several steps are for sealed runs"
        first = len(self.losses) + 1
        label = f"step() #{first}" if count == 1 else f"steps() #{first} to #{first + count - 1}"
        losses, raised = self.case.call(
            self.check, label, remote._twolayer_steps, device, count, self.xn, self.yn
        )
        for returned in losses:
            self.losses.append(
                as_loss(self.case, self.check, f"step() #{len(self.losses) + 1}", returned)
            )
        if raised is not None:
            self.case.call(self.check, f"step() #{len(self.losses) + 1}", _reraise, raised)

    def params(self) -> dict[str, np.ndarray]:
        params: dict[str, np.ndarray] = self.case.call(self.check, "params()", self.impl.params)
        return params

    def untimed(self) -> float:
        """The loss ``gradients()`` reports at the current parameters (it changes nothing)."""
        label = f"gradients() before step() #{len(self.losses) + 1}"
        returned = self.case.call(self.check, label, self.impl.gradients, self.xn, self.yn)
        loss = returned[0] if isinstance(returned, tuple) and returned else returned
        return as_loss(self.case, self.check, label, loss)

    def crossing_s(self) -> float:
        """The median round trip to the host measured so far (0 in one process)."""
        return 0.0 if self.crossing is None else self.crossing.median()

    def sample_crossing(self) -> None:
        if self.crossing is not None:
            self.case.call(self.check, "a round trip to its host", self.crossing.sample)

    def memory_meter(self, every: int = 1) -> MemoryMeter:
        """A meter of the memory of the process the steps run in, read before every round
        of ``every`` steps."""
        remote, device = self.remote, self.case.device
        if remote is None:
            return MemoryMeter(device, every=every)
        return MemoryMeter(device, reading=lambda: remote._twolayer_memory(device), every=every)

    def minor_faults(self) -> int:
        """Minor page faults so far of the process the steps run in (every thread: BLAS pools
        fault too)."""
        if self.remote is not None:
            return self.remote._twolayer_minor_faults()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _reraise(error: Exception) -> None:
    raise error


def steps_per_round(steps: int, remote: bool) -> int:
    """Steps timed per pytest-benchmark round: one in one process; with sealed verdicts the
    largest divisor of ``steps`` up to :data:`ROUND_STEPS` that leaves :data:`MIN_ROUNDS`
    rounds."""
    if not remote:
        return 1
    return max(
        (k for k in range(1, ROUND_STEPS + 1) if steps % k == 0 and steps // k >= MIN_ROUNDS),
        default=1,
    )


def measure_steps(
    case: Case, benchmark: Any, steps: int, runs: TutorialRuns | None = None
) -> dict[str, Any]:
    """Time every step of the tutorial's run of a fresh instance (another one warms the
    process's kernels and graph caches up first); return the published figures, and give
    the run's loss curve to ``runs``.

    Each step is one pytest-benchmark round, so the statistics describe the steps of a real
    run, and their sum is the run's time. With sealed verdicts a round is several steps made
    in the host in one request (:func:`steps_per_round`); each figure is then per step (a
    round's time over its steps), the audited steps are rounds' first steps, and the memory
    is read before each round.
    """
    warm = Prepared(case, "benchmark_step.steps")
    for _ in range(WARMUP_STEPS):
        warm.step()
    gemm_peak(case.device, case.dtype)  # measured before timing: it must not interleave
    net = Prepared(case, "benchmark_step.steps")
    depths = tuple(case.cls.depths)
    start = net.params()
    per_round = steps_per_round(steps, net.remote is not None)
    tape = ParamsTape(start, steps // per_round) if len(depths) > 1 else None
    audit = StepAudit(case, start, steps, tape, every=per_round)
    del start
    meter = net.memory_meter(per_round)  # its baseline comes after the tapes' allocation

    def before_each_round() -> None:  # pytest-benchmark's untimed setup of each round
        meter.sample()
        if tape is not None or audit.wants(len(net.losses)):
            copy_params()
        if per_round > 1 or len(net.losses) % CROSSING_EVERY == 0:
            net.sample_crossing()  # last: the host is as awake as the step will find it

    def timed_round() -> None:
        if per_round == 1:
            net.step()
        else:
            net.steps(per_round)

    def copy_params() -> None:  # returned arrays gone before the step (a host drops them)
        params = net.params()
        if tape is not None:
            case.call("benchmark_step.steps", "copying params()", tape.record, params)
        else:
            case.call(
                "benchmark_step.steps", "copying params()", audit.record, params, net.untimed()
            )

    faults = net.minor_faults()
    with paused_garbage_collection():
        benchmark.pedantic(
            timed_round, setup=before_each_round, rounds=steps // per_round, iterations=1
        )
        meter.sample()  # after the last step, before anything is collected
    faults = net.minor_faults() - faults
    if runs is not None:
        runs.record(case, net.losses)
    cheated = audit.failure(net.losses, net.x_given, net.y_given, depths)
    if cheated is not None:
        case.judge("benchmark_step.steps").fail(cheated)
    if tape is None:
        drawn = [depths[0]] * len(net.losses)
    elif per_round == 1:
        drawn = depths_drawn(tape, net.losses, net.x, net.y, depths)
    else:
        drawn = depths_replayed(
            tape, net.losses, net.x, net.y, depths, case.cls.optimizer, per_round
        )
    figures = _figures(case, benchmark, drawn, faults / steps, net.crossing_s(), per_round)
    return figures | memory_figures(meter)


def memory_figures(meter: MemoryMeter) -> dict[str, Any]:
    """The meter's figures for the reports: every source under ``memory``, and the run's own
    device's (the host on cpu, the device on cuda) flat, for the tables."""
    sources = meter.figures()
    if not sources:
        return {}
    own = sources[-1]
    return {
        "memory": sources,
        "memory_source": own["source"],
        "memory_peak_bytes": own["peak_bytes"],
        "memory_growth_bytes_per_step": own["growth_bytes_per_step"],
    }


def _figures(
    case: Case,
    benchmark: Any,
    drawn: list[int],
    faults_per_step: float,
    crossing_s: float = 0.0,
    per_round: int = 1,
) -> dict[str, Any]:
    """The published figures of a timed run, per step. ``crossing_s`` (the median round trip
    to a host; 0 in one process) is taken off every round: it is the suite's cost, not the
    implementation's; a round of ``per_round`` steps counts for that many. pytest-benchmark's
    own statistics keep what its timer read, per round."""
    stats = benchmark.stats.stats

    def per_step(seconds: float) -> float:
        return max(seconds - crossing_s, 0.0) / per_round

    median_step = per_step(stats.median)
    depth_mean = float(np.mean(drawn))
    flops = float(np.mean([case.dims.matmul_flops_per_step(d) for d in drawn]))
    gflops = flops / median_step / 1e9 if median_step > 0 else 0.0
    peak = gemm_peak(case.device, case.dtype, at_least=gflops)
    spread = stats.iqr / per_round / median_step if median_step > 0 else math.inf
    figures: dict[str, Any] = {
        "impl": case.name,
        "device": case.device,
        "dtype": case.dtype,
        "what": "step",
        "median_s": median_step,
        "iqr_s": stats.iqr / per_round,
        "spread": spread,  # the IQR over the median
        "noisy": spread > NOISY_SPREAD,
        "min_s": per_step(stats.min),
        "mean_s": per_step(stats.mean),
        "stddev_s": stats.stddev / per_round,  # of a round's mean step
        "rounds": stats.rounds,
        "steps_per_round": per_round,
        "run_s": max(stats.total - crossing_s * stats.rounds, 0.0),  # every timed step
        "crossing_s": crossing_s,
        "flops_per_step": flops,
        "gflops": gflops,
        "peak_gflops": peak.gflops,
        "peak_fraction": peak.fraction(gflops),
        "peak_source": peak.source,
        "threads": thread_budget(),
        "cores": len(available_cores()),
        "minor_faults_per_step": faults_per_step,
        "depth_mean": depth_mean,
    }
    return figures


@contextlib.contextmanager
def paused_garbage_collection() -> Iterator[None]:
    """No cyclic garbage collection while timing, as ``timeit`` (and torch's ``Timer``) do:
    a collection's cost grows with everything else the process holds (a long pytest
    session holds a lot), not with the step being timed. Nothing is collected first either
    (as in ``timeit``): with torch and TensorFlow loaded a full collection costs far more
    than a timed step, and a step's garbage is freed by reference counting."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
