"""A stand-in for pytest-benchmark's ``benchmark`` fixture, for the benchmark check run
without pytest (a reproduction snippet): the same rounds, and pytest-benchmark's own
statistics of them, so a figure means the same in both."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any


class StepTimer:
    """What the benchmark check uses of the fixture: ``pedantic`` (one timed call per round,
    an untimed ``setup`` before each), ``stats.stats`` and ``extra_info``."""

    def __init__(self) -> None:
        stats_module: Any = importlib.import_module("pytest_benchmark.stats")
        self.stats = SimpleNamespace(stats=stats_module.Stats())
        self.extra_info: dict[str, Any] = {}

    def pedantic(
        self,
        target: Callable[[], object],
        setup: Callable[[], object] | None = None,
        rounds: int = 1,
        iterations: int = 1,
    ) -> None:
        for _ in range(rounds):
            if setup is not None:
                setup()
            start = time.perf_counter()
            for _ in range(iterations):
                target()
            self.stats.stats.update((time.perf_counter() - start) / iterations)
