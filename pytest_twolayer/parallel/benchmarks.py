"""pytest-benchmark on xdist workers: measure there, save and compare on the controller.

pytest-benchmark switches itself off under xdist and would keep each worker's results to
itself. With ``--impl`` given, each worker measures instead; every benchmark test publishes
its results on the report channel (see :mod:`pytest_twolayer.checking.published`), and the
controller hands them to its own pytest-benchmark session
(:mod:`pytest_twolayer.report.pytest_benchmark`): one table, and ``--benchmark-save``,
``--benchmark-json``, ``--benchmark-compare`` and ``--benchmark-compare-fail`` work on the
merged results as in a single-process run.
"""

from __future__ import annotations

import pytest

from pytest_twolayer.benchmarking.results import benchmark_session


class WorkerBenchmarks:
    """On an xdist worker: measure for real; leave saving, comparing and the table to the
    controller, which sees every worker's results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_sessionstart(self) -> None:
        session = benchmark_session(self.config)
        if session is None:
            return
        # Only undo the switch-off xdist caused; --benchmark-disable stays the user's call.
        if session.xdist_warning:
            session.disabled = False
            session.xdist_warning = False
        session.save = session.autosave = session.json = False
        session.compare = session.compare_fail = False
        session.compared_mapping = {}
        session.quiet = True
