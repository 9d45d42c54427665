"""Benchmark gates a CI can rely on despite noise: a budget per step, and a ratio to another
implementation measured interleaved in the same test. (The third gate, regression against a
saved baseline, is pytest-benchmark's ``--benchmark-compare-fail`` on the merged results.)"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_twolayer.case import Case
from pytest_twolayer.contract import TwoLayerImplementation
from pytest_twolayer.tutorial_run import STEPS

RATIO_PAIRS = 25
"""Interleaved step pairs behind a ratio: drift (another process, frequency scaling) hits
both sides of a pair alike, so the ratio of medians holds where absolute times drift ±30%."""


@dataclass(frozen=True)
class BenchmarkSettings:
    """What the benchmark concern is told: how many steps to time, and the gates.

    ``budgets`` are seconds per step (key ``"*"``: every implementation); ``ratios`` map an
    implementation to (reference, largest allowed ratio of median steps); ``load`` loads a
    registered implementation's class by name (a ratio's reference).
    """

    steps: int = STEPS
    budgets: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, tuple[str, float]] = field(default_factory=dict)
    load: Callable[[str], type[TwoLayerImplementation]] | None = None

    def budget_for(self, impl: str) -> float | None:
        return self.budgets.get(impl, self.budgets.get("*"))

    def arguments(self, case: Case) -> dict[str, Any]:
        """The benchmark check's keyword arguments for ``case``: the steps, and the gates set
        for its implementation (a ratio's reference as a case on the same device, in its own
        training dtype). The test passes them, and a reproduction snippet writes them out."""
        arguments: dict[str, Any] = {"steps": self.steps}
        budget = self.budget_for(case.name)
        if budget is not None:
            arguments["budget_s"] = budget
        gate = self.ratios.get(case.name)
        if gate is not None and self.load is not None:
            name, ceiling = gate
            cls = self.load(name)
            arguments["reference"] = Case(name, cls, case.device, str(cls.dtypes[0]), case.seed)
            arguments["max_ratio"] = ceiling
        return arguments


def check_budget(case: Case, median_s: float, budget_s: float) -> None:
    """Fail ``benchmark.budget`` when the median step exceeds the budget."""
    if median_s > budget_s:
        case.fail(
            "benchmark.budget",
            f"median step {median_s * 1e3:.3g} ms exceeds the budget of {budget_s * 1e3:.3g} ms "
            "(--twolayer-budget)",
        )


def interleaved_ratio(
    mine: Callable[[], None], reference: Callable[[], None]
) -> tuple[float, float, float]:
    """Median seconds of ``mine()`` and ``reference()`` timed in alternation, and their
    ratio. Each callable runs one synced training step."""
    mine_times: list[float] = []
    reference_times: list[float] = []
    for _ in range(RATIO_PAIRS):
        for run, times in ((mine, mine_times), (reference, reference_times)):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    mine_median = statistics.median(mine_times)
    reference_median = statistics.median(reference_times)
    return mine_median, reference_median, mine_median / reference_median
