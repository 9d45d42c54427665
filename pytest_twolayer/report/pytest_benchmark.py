"""On the xdist controller: the workers' pytest-benchmark results, from the collector's
records, handed to the controller's own pytest-benchmark session before it saves, compares
and prints them (see :mod:`pytest_twolayer.parallel.benchmarks` for the workers' side)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_twolayer.benchmarking.results import benchmark_session, rebuilt
from pytest_twolayer.report.collector import Collector
from pytest_twolayer.report.records import PYTEST_BENCHMARK_KEY


class MergedBenchmarks:
    """Feeds pytest-benchmark's session on the controller, which ran no benchmark itself."""

    def __init__(self, config: pytest.Config, collector: Collector) -> None:
        self.config = config
        self.collector = collector

    # pytest-benchmark saves and compares in a sessionfinish wrapper; this one runs first.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self) -> Generator[None, None, None]:
        session = benchmark_session(self.config)
        results = [
            record.data[PYTEST_BENCHMARK_KEY]
            for record in self.collector.records()
            if isinstance(record.data.get(PYTEST_BENCHMARK_KEY), dict)
        ]
        if session is not None and results:
            session.xdist_warning = False  # the results are here: no "disabled" warning
            session.benchmarks.extend(rebuilt(result) for result in results)
        return (yield)
