"""The benchmark concern's options: how many steps to time, and the gates."""

from __future__ import annotations

import pytest

from pytest_twolayer.benchmarking.gates import BenchmarkSettings, parse_budgets, parse_ratios
from pytest_twolayer.options import (
    BENCHMARK_STEPS_HELP,
    BUDGET_HELP,
    DEFAULT_BENCHMARK_STEPS,
    MAX_RATIO_HELP,
)
from pytest_twolayer.registry import Registry


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """The benchmark options and their ini equivalents."""
    group.addoption(
        "--twolayer-benchmark-steps", default=None, metavar="N", help=BENCHMARK_STEPS_HELP
    )
    group.addoption(
        "--twolayer-budget", action="append", default=[], metavar="[IMPL=]MS", help=BUDGET_HELP
    )
    group.addoption(
        "--twolayer-max-ratio",
        action="append",
        default=[],
        metavar="IMPL:REF=X",
        help=MAX_RATIO_HELP,
    )
    parser.addini("twolayer_benchmark_steps", BENCHMARK_STEPS_HELP, default=DEFAULT_BENCHMARK_STEPS)
    parser.addini("twolayer_budget", BUDGET_HELP, type="linelist", default=[])
    parser.addini("twolayer_max_ratio", MAX_RATIO_HELP, type="linelist", default=[])


def from_config(config: pytest.Config, registry: Registry) -> BenchmarkSettings:
    """The benchmark concern's options, from the command line or else the ini file."""
    value = config.getoption("twolayer_benchmark_steps") or config.getini(
        "twolayer_benchmark_steps"
    )
    steps = int(value) if str(value).strip().isdigit() else 0
    if steps < 1:
        raise pytest.UsageError(
            f"--twolayer-benchmark-steps: {value!r} is not a positive whole number of steps"
        )
    try:
        budgets = parse_budgets(
            config.getoption("twolayer_budget") or config.getini("twolayer_budget")
        )
        ratios = parse_ratios(
            config.getoption("twolayer_max_ratio") or config.getini("twolayer_max_ratio")
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    for impl, (reference, _) in ratios.items():
        if reference not in registry:
            raise pytest.UsageError(
                f"--twolayer-max-ratio {impl}:{reference}: unknown reference {reference!r}; "
                f"available: {', '.join(registry.names())}"
            )

    def load(name: str) -> type:
        return registry.get(name).load()

    return BenchmarkSettings(steps, budgets, ratios, load)
