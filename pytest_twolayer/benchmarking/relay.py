"""pytest-benchmark under pytest-xdist: measure on the workers, report on the controller.

pytest-benchmark switches itself off under xdist and would keep each worker's results to
itself. With ``--impl`` given, each worker measures instead, every test's new results travel
to the controller on its call-phase report (so a worker that crashes later loses nothing),
and the controller hands them to its own pytest-benchmark session: one table, and
``--benchmark-save``, ``--benchmark-json``, ``--benchmark-compare`` and
``--benchmark-compare-fail`` work on the merged results as on a single-process run.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Generator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

REPORT_ATTRIBUTE = "twolayer_benchmarks"


def benchmark_session(config: pytest.Config) -> Any:
    """pytest-benchmark's session object (its documented home on the config), if active."""
    return getattr(config, "_benchmarksession", None)


class WorkerRelay:
    """On an xdist worker: measure for real, and ship each test's results with its report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.shipped = 0

    def pytest_sessionstart(self) -> None:
        session = benchmark_session(self.config)
        # Only undo the switch-off xdist caused; --benchmark-disable stays the user's call.
        if session is not None and session.xdist_warning:
            session.disabled = False
            session.xdist_warning = False
        if session is not None:
            # Saving, comparing and the table are the controller's, on the merged results.
            session.save = session.autosave = session.json = False
            session.compare = session.compare_fail = False
            session.compared_mapping = {}
            session.quiet = True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        session = benchmark_session(self.config)
        if call.when == "call" and session is not None:
            fresh = session.benchmarks[self.shipped :]
            self.shipped = len(session.benchmarks)
            shipped = [
                plain({"has_error": bool(b.has_error), **b.as_dict(include_data=True)})
                for b in fresh
                if b
            ]
            if shipped:
                setattr(report, REPORT_ATTRIBUTE, shipped)
        return report


class ControllerRelay:
    """On the xdist controller: hand the workers' results to pytest-benchmark's session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        session = benchmark_session(self.config)
        shipped = getattr(report, REPORT_ATTRIBUTE, None)
        if session is None or not shipped:
            return
        session.xdist_warning = False  # the results are here: no "disabled" warning
        session.benchmarks.extend(relayed(result) for result in shipped)


def plain(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` in types execnet can send (pytest-benchmark keeps times as Decimal)."""
    converted: dict[str, Any] = json.loads(json.dumps(result, default=_plain_value))
    return converted


def _plain_value(value: object) -> object:
    return float(value) if isinstance(value, Decimal) else str(value)


def relayed(result: dict[str, Any]) -> Any:
    """A worker's result as the object pytest-benchmark's session keeps for its own: its
    ``Metadata``, rebuilt from the JSON form without the fixture that made it."""
    stats_module: Any = importlib.import_module("pytest_benchmark.stats")
    metadata = stats_module.Metadata.__new__(stats_module.Metadata)
    for name in ("name", "fullname", "group", "param", "params", "extra_info", "options"):
        setattr(metadata, name, result[name])
    metadata.cprofile_stats = None
    metadata.iterations = result["stats"]["iterations"]
    metadata.stats = stats_module.Stats()
    for duration in result["stats"]["data"]:
        metadata.stats.update(duration)
    metadata.fixture = SimpleNamespace(has_error=result["has_error"])  # read by has_error
    return metadata
