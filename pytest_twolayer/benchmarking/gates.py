"""Benchmark gates a CI can rely on despite noise: a budget per step, a ratio to another
implementation measured interleaved in the same test, and memory that levels off. (The
fourth gate, regression against a saved baseline, is pytest-benchmark's
``--benchmark-compare-fail`` on the merged results.)"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_twolayer.benchmarking.memory import DEFAULT_MAX_GROWTH, MIN_JUDGED_STEPS
from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.tutorial_run import STEPS
from pytest_twolayer.option_table import BUDGET, MAX_MEMORY_GROWTH
from pytest_twolayer.spec.contract import TwoLayerImplementation

RATIO_PAIRS = 25
"""Interleaved step pairs behind a ratio: drift (another process, frequency scaling) hits
both sides of a pair alike, so the ratio of medians holds where absolute times drift ±30%."""


@dataclass(frozen=True)
class BenchmarkPlan:
    """What the benchmark concern is told: how many steps to time, and the gates.

    ``budgets`` are seconds per step (key ``"*"``: every implementation); ``ratios`` map an
    implementation to (reference, largest allowed ratio of median steps); ``load`` loads a
    registered implementation's class by name (a ratio's reference); ``memory_growth`` is the
    bytes per step memory may grow by over the second half of the run (key ``"*"`` as for
    budgets; ``inf``: not judged), :data:`DEFAULT_MAX_GROWTH` where none is given.
    """

    steps: int = STEPS
    budgets: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, tuple[str, float]] = field(default_factory=dict)
    load: Callable[[str], type[TwoLayerImplementation]] | None = None
    memory_growth: dict[str, float] = field(default_factory=dict)

    def budget_for(self, impl: str) -> float | None:
        return self.budgets.get(impl, self.budgets.get("*"))

    def growth_limit_for(self, impl: str) -> float | None:
        """The growth limit given for ``impl`` (None: the default, where it applies)."""
        return self.memory_growth.get(impl, self.memory_growth.get("*"))

    def arguments(self, case: Case) -> dict[str, Any]:
        """The benchmark check's keyword arguments for ``case``: the steps, and the gates set
        for its implementation (a ratio's reference as a case on the same device, in its own
        training dtype; a memory growth limit only when one was given, the default applying
        otherwise). The test passes them, and a reproduction snippet writes them out."""
        arguments: dict[str, Any] = {"steps": self.steps}
        growth = self.growth_limit_for(case.name)
        if growth is not None:
            arguments["max_memory_growth"] = growth
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
    """Fail ``benchmark_step.budget`` when the median step exceeds the budget."""
    if median_s > budget_s:
        case.fail(
            "benchmark_step.budget",
            f"median step {median_s * 1e3:.3g} ms exceeds the budget of {budget_s * 1e3:.3g} ms "
            f"({BUDGET.flag})",
        )


def interleaved_ratio(
    mine: Callable[[], None],
    reference: Callable[[], None],
    crossings: tuple[float, float] = (0.0, 0.0),
) -> tuple[float, float, float]:
    """Median seconds of ``mine()`` and ``reference()`` timed in alternation, and their
    ratio. Each callable runs one synced training step; ``crossings`` are the round trips to
    their hosts (sealed verdicts), taken off each median as the benchmark takes them off its
    figures."""
    mine_times: list[float] = []
    reference_times: list[float] = []
    for _ in range(RATIO_PAIRS):
        for run, times in ((mine, mine_times), (reference, reference_times)):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    mine_median = max(statistics.median(mine_times) - crossings[0], 0.0)
    reference_median = max(statistics.median(reference_times) - crossings[1], 1e-12)
    return mine_median, reference_median, mine_median / reference_median


def growth_limit(source: dict[str, Any], given: float | None) -> float | None:
    """The bytes per step ``source``'s growth is held to: the limit given, else the default
    where the source is precise enough to be judged by default; None when not judged."""
    if source.get("steps", 0) < MIN_JUDGED_STEPS or source.get("growth_bytes_per_step") is None:
        return None
    if given is not None:
        return None if given == float("inf") else given
    return DEFAULT_MAX_GROWTH if source.get("judged_by_default") else None


def check_memory_growth(case: Case, memory: list[dict[str, Any]], given: float | None) -> None:
    """Fail ``benchmark_step.memory`` when memory grows over the second half of the run by more
    than the limit per step: it does not level off."""
    for source in memory:
        limit = growth_limit(source, given)
        source["limit_bytes_per_step"] = limit  # into the reports, with the figure it judged
        growth = source.get("growth_bytes_per_step")
        if limit is None or growth is None or growth <= limit:
            continue
        steps = source["steps"]
        case.fail(
            "benchmark_step.memory",
            f"memory does not level off: {source['source']} grows by {kib(growth)} per step over "
            f"the second half of the run's {steps} steps (from {mib(source['start_bytes'])} to "
            f"{mib(source['end_bytes'])} over the run), above the allowed {kib(limit)} per "
            f"step ({MAX_MEMORY_GROWTH.flag}): does the net keep something of every step?",
        )


def kib(n: float) -> str:
    return f"{n / 1024:.3g} KiB"


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"
