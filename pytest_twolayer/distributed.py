"""Running the suite under pytest-xdist: one implementation per worker at a time.

On the controller: hand each worker the selection (so it collects without importing any
framework), its share of cores, threads and GPUs, and schedule by implementation. On a
worker: rebuild the selection and pin the cores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer import nodeids
from pytest_twolayer.devices import cuda_device_count
from pytest_twolayer.scheduling import GroupScheduling
from pytest_twolayer.selection import Selection
from pytest_twolayer.workers import available_cores, plan_workers, worker_environment

SELECTION_INPUT = "twolayer_selection"
IMPORT_SECONDS = {"torch": 1.6, "tensorflow": 3.4}  # cold imports measured on a 2-core machine


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def selection_from_controller(config: pytest.Config) -> dict[str, Any] | None:
    """The selection the controller sent this worker, if it sent one."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    data = workerinput.get(SELECTION_INPUT)
    return data if isinstance(data, dict) else None


def suite_modules(suite: Path) -> frozenset[str]:
    """The shipped suite's module file names."""
    return frozenset(p.name for p in suite.glob("test_*.py"))


class Distribution:
    """Controller-side xdist hooks; registered only when xdist runs with ``-n``."""

    def __init__(self, config: pytest.Config, selection: Selection, suite: Path) -> None:
        self.config = config
        self.selection = selection
        self.names = [i.spec.name for i in selection.implementations]
        self.modules = suite_modules(suite)
        self.frameworks = {
            f"impl {i.spec.name}": frozenset(i.declared.frameworks)
            for i in selection.implementations
            if i.declared
        }

    def group_of(self, nodeid: str) -> str:
        """A conformance test's implementation; any other test's module."""
        key = nodeids.parse(nodeid, self.names, self.modules)
        return f"impl {key.impl}" if key else nodeid.split("::", 1)[0]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist") != "load":  # the user chose a scheduler: respect it
            return None
        workers = len(config.getoption("tx") or []) or int(config.option.numprocesses or 0)
        return GroupScheduling(workers, self.group_of, self.needs, self.cost, log.twolayersched)

    def needs(self, group: str) -> frozenset[str]:
        return self.frameworks.get(group, frozenset())

    def cost(self, group: str, tests: int) -> float:
        """Seconds, roughly: a check ~0.1 s, importing a framework several (DESIGN.md)."""
        return 0.1 * tests + sum(IMPORT_SECONDS.get(f, 2.0) for f in self.needs(group))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: list[Any]) -> None:
        gpus = cuda_device_count() if self.selection.devices.get("cuda", "absent") is None else 0
        plans = plan_workers(len(specs), available_cores(), gpus)
        for spec, plan in zip(specs, plans, strict=True):
            if getattr(spec, "popen", False) and not getattr(spec, "via", None):
                spec.env.update(worker_environment(plan, os.environ))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[SELECTION_INPUT] = self.selection.to_json()
