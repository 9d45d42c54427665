"""Benchmark: every step of the tutorial's 500-step run timed, in the training dtype, with
pytest-benchmark's statistics (per step, and the run's total); FLOPs, GFLOP/s and the
fraction of the in-run GEMM peak.

A benchmark passes unless a gate is set and violated: ``--twolayer-budget`` (ms per step),
``--twolayer-max-ratio`` (against another implementation, timed interleaved in the same
test), and pytest-benchmark's ``--benchmark-compare-fail`` against a saved baseline; and
unless memory keeps growing over the run's second half (``--twolayer-max-memory-growth``
sets the limit; a default applies where the host allocator can be read).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_twolayer.benchmarking.gates import (
    BenchmarkSettings,
    check_budget,
    check_memory_growth,
    interleaved_ratio,
)
from pytest_twolayer.benchmarking.measure import Prepared, measure_steps
from pytest_twolayer.benchmarking.results import as_plain
from pytest_twolayer.case import Case
from pytest_twolayer.published import publish
from pytest_twolayer.tutorial_run import runs_of

pytest.importorskip("pytest_benchmark", reason="the benchmark concern needs pytest-benchmark")

pytestmark = pytest.mark.twolayer_dtypes("training")


def ratio_figures(case: Case, settings: BenchmarkSettings) -> dict[str, Any] | None:
    """Time this implementation and its ratio gate's reference in alternation: the ratio of
    their median steps, the reference and the allowed ceiling (None without a ratio gate)."""
    gate = settings.ratios.get(case.name)
    if gate is None or settings.load is None:
        return None
    reference_name, ceiling = gate
    reference_cls = settings.load(reference_name)
    reference_dtype = reference_cls.dtypes[0]
    if case.device not in reference_cls.devices:
        case.fail(
            "benchmark.ratio",
            f"the ratio gate's reference {reference_name!r} does not declare {case.device}",
        )
    reference_case = Case(reference_name, reference_cls, case.device, reference_dtype, case.seed)
    mine, theirs = Prepared(case, "benchmark.ratio"), Prepared(reference_case, "benchmark.ratio")
    for _ in range(5):  # both warm before the first pair
        mine.step()
        theirs.step()
    mine_s, theirs_s, ratio = interleaved_ratio(mine.step, theirs.step)
    return {
        "reference": reference_name,
        "ratio": ratio,
        "max_ratio": ceiling,
        "reference_median_s": theirs_s,
        "ratio_median_s": mine_s,
    }


def check_ratio(case: Case, figures: dict[str, Any]) -> None:
    """Fail ``benchmark.ratio`` when the ratio of median steps exceeds the gate's ceiling."""
    if figures["ratio"] > figures["max_ratio"]:
        case.fail(
            "benchmark.ratio",
            f"median step {figures['ratio_median_s'] * 1e3:.3g} ms is {figures['ratio']:.2f}x "
            f"{figures['reference']}'s {figures['reference_median_s'] * 1e3:.3g} ms (timed "
            f"interleaved), above the allowed {figures['max_ratio']:g}x (--twolayer-max-ratio)",
        )


def test_benchmark_step(
    twolayer_case: Case,
    benchmark: Any,
    twolayer_benchmark_settings: BenchmarkSettings,
    request: pytest.FixtureRequest,
) -> None:
    """The tutorial's run, step by step: median step and run time, memory before every step;
    then the memory gate, and the budget and ratio gates if set. Every figure, the ratio
    included, goes to the reports and into pytest-benchmark's own results (``extra_info``),
    also when a gate fails."""
    if getattr(benchmark, "disabled", False):
        pytest.skip("benchmarks are disabled (--benchmark-disable)")
    settings = twolayer_benchmark_settings
    # The timed run is the training check's run: its curve is kept for that check to judge.
    runs = runs_of(request.config)
    figures = measure_steps(twolayer_case, benchmark, settings.steps, runs)
    try:
        check_memory_growth(
            twolayer_case, figures.get("memory", []), settings.growth_limit_for(twolayer_case.name)
        )
        budget = settings.budget_for(twolayer_case.name)
        if budget is not None:
            check_budget(twolayer_case, figures["median_s"], budget)
        ratio = ratio_figures(twolayer_case, settings)
        if ratio is not None:
            figures.update(ratio)
            check_ratio(twolayer_case, figures)
    finally:
        benchmark.extra_info.update(figures)
        publish(request.node, "benchmark", figures)
        publish(request.node, "pytest_benchmark", as_plain(benchmark))
