"""Benchmark: every step of the tutorial's 500-step run timed, in the training dtype, with
pytest-benchmark's statistics (per step, and the run's total); FLOPs, GFLOP/s and the
fraction of the in-run GEMM peak.

A benchmark passes unless a gate is set and violated: ``--twolayer-budget`` (ms per step),
``--twolayer-max-ratio`` (against another implementation, timed interleaved in the same
test), and pytest-benchmark's ``--benchmark-compare-fail`` against a saved baseline; and
unless memory keeps growing over the run's second half (``--twolayer-max-memory-growth``
sets the limit; a default applies where the host allocator can be read). The check itself,
:func:`check_benchmark_step`, also runs without pytest (a reproduction snippet calls it
with the gates that failed).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_twolayer.benchmarking.gates import (
    RATIO_PAIRS,
    BenchmarkPlan,
    check_budget,
    check_memory_growth,
    interleaved_ratio,
)
from pytest_twolayer.benchmarking.measure import Prepared, measure_steps
from pytest_twolayer.benchmarking.results import as_plain
from pytest_twolayer.benchmarking.timer import StepTimer
from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.published import publish
from pytest_twolayer.checking.tutorial_run import STEPS, TutorialRuns, runs_of

pytest.importorskip("pytest_benchmark", reason="the benchmark concern needs pytest-benchmark")

pytestmark = pytest.mark.twolayer_dtypes("training")


def check_benchmark_step(
    case: Case,
    steps: int = STEPS,
    budget_s: float | None = None,
    reference: Case | None = None,
    max_ratio: float | None = None,
    max_memory_growth: float | None = None,
    benchmark: Any = None,
    figures: dict[str, Any] | None = None,
    runs: TutorialRuns | None = None,
) -> dict[str, Any]:
    """Time every step of the tutorial's run of ``case`` (``steps`` of them), then apply the
    gates: memory that levels off (growth per step over the run's second half at most
    ``max_memory_growth`` bytes, or the default where it applies), and those given: the
    median step at most ``budget_s`` seconds, and at most ``max_ratio`` times
    ``reference``'s, both timed in alternation. Returns the figures; ``figures``, when
    given, receives them as they are known, so a failed gate's are kept too.

    ``benchmark`` is pytest-benchmark's fixture; without it (no pytest) a stand-in times the
    same rounds with pytest-benchmark's statistics. ``runs`` keeps the timed run's loss curve
    for the training check.
    """
    found: dict[str, Any] = {} if figures is None else figures
    timer = StepTimer() if benchmark is None else benchmark
    found.update(measure_steps(case, timer, steps, runs))
    check_memory_growth(case, found.get("memory", []), max_memory_growth)
    if budget_s is not None:
        check_budget(case, found["median_s"], budget_s)
    if reference is not None and max_ratio is not None:
        found.update(ratio_figures(case, reference, max_ratio))
        check_ratio(case, found)
    return found


def ratio_figures(case: Case, reference: Case, ceiling: float) -> dict[str, Any]:
    """Time this implementation and the ratio gate's reference in alternation: the ratio of
    their median steps, the reference and the allowed ceiling."""
    if case.device not in reference.cls.devices:
        case.judge("benchmark_step.ratio").fail(
            f"the ratio gate's reference {reference.name!r} does not declare {case.device}"
        )
    mine, theirs = (
        Prepared(case, "benchmark_step.ratio"),
        Prepared(reference, "benchmark_step.ratio"),
    )
    for _ in range(5):  # both warm before the first pair
        mine.step()
        theirs.step()
    for _ in range(RATIO_PAIRS):  # the round trips to their hosts, if sealed
        mine.sample_crossing()
        theirs.sample_crossing()
    crossings = (mine.crossing_s(), theirs.crossing_s())
    mine_s, theirs_s, ratio = interleaved_ratio(mine.step, theirs.step, crossings)
    return {
        "reference": reference.name,
        "ratio": ratio,
        "max_ratio": ceiling,
        "reference_median_s": theirs_s,
        "ratio_median_s": mine_s,
    }


def check_ratio(case: Case, figures: dict[str, Any]) -> None:
    """Fail ``benchmark_step.ratio`` when the ratio of median steps exceeds the gate's ceiling."""
    if figures["ratio"] > figures["max_ratio"]:
        case.judge("benchmark_step.ratio").fail(
            f"median step {figures['ratio_median_s'] * 1e3:.3g} ms is {figures['ratio']:.2f}x "
            f"{figures['reference']}'s {figures['reference_median_s'] * 1e3:.3g} ms (timed "
            f"interleaved), above the allowed {figures['max_ratio']:g}x (--twolayer-max-ratio)"
        )


def test_benchmark_step(
    twolayer_case: Case,
    benchmark: Any,
    twolayer_benchmark_settings: BenchmarkPlan,
    request: pytest.FixtureRequest,
) -> None:
    """The tutorial's run, step by step: median step and run time, memory before every step;
    then the memory gate, and the budget and ratio gates if set. Every figure, the ratio
    included, goes to the reports and into pytest-benchmark's own results (``extra_info``),
    also when a gate fails."""
    if getattr(benchmark, "disabled", False):
        pytest.skip("benchmarks are disabled (--benchmark-disable)")
    arguments = twolayer_benchmark_settings.arguments(twolayer_case)
    figures: dict[str, Any] = {}
    try:
        # The timed run is the training check's run: its curve is kept for that check to judge.
        check_benchmark_step(
            twolayer_case,
            **arguments,
            benchmark=benchmark,
            figures=figures,
            runs=runs_of(request.config),
        )
    finally:
        if figures:  # none when a step failed before the timing ended
            benchmark.extra_info.update(figures)
            publish(request.node, "benchmark", figures)
            publish(request.node, "pytest_benchmark", as_plain(benchmark))
