"""Running the suite under pytest-xdist: one implementation per worker at a time.

On the controller: hand each worker the selection (so it collects without importing any
framework), its share of cores, threads and GPUs, and schedule by implementation. On a
worker: rebuild the selection and pin the cores.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer import nodeids
from pytest_twolayer.devices import visible_gpu_count
from pytest_twolayer.registry import Registry
from pytest_twolayer.scheduling import GroupScheduling
from pytest_twolayer.selection import Loaded, Selection, resolve_devices
from pytest_twolayer.workers import available_cores, plan_workers, worker_environment

SELECTION_INPUT = "twolayer_selection"  # the record itself, or the file it will be written to
PRELOAD_INPUT = "twolayer_preload"  # implementations a worker imports while it waits
SUITE_DEPENDENCIES = ("pytest_twolayer.strategies", "pytest_twolayer.benchmarking.measure")
IMPORT_SECONDS = {"torch": 1.6, "tensorflow": 3.4}  # cold imports measured on a 2-core machine


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def distributes(config: pytest.Config) -> bool:
    """Whether this process is an xdist controller about to start workers."""
    return (
        bool(getattr(config.option, "numprocesses", None))
        and not is_worker(config)
        and not config.getoption("twolayer_dry_run", False)  # a dry run starts no workers
    )


def preload(config: pytest.Config, registry: Registry) -> dict[str, type]:
    """Import the implementations the controller asked this worker to preload (while it
    waits for the selection record); one that fails is left for its own check to report."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    if PRELOAD_INPUT in workerinput:
        # What collecting the suite imports anyway (hypothesis alone takes ~2 s), done
        # while the controller is still busy rather than after it.
        for module in SUITE_DEPENDENCIES:
            importlib.import_module(module)
    classes: dict[str, type] = {}
    for name in workerinput.get(PRELOAD_INPUT, []):
        try:
            classes[name] = registry.get(name).load()
        except Exception:  # the controller's own load reports it, as its check
            continue
    return classes


def selection_from_controller(config: pytest.Config) -> dict[str, Any]:
    """The selection the controller sent this worker, waiting for it if it is still being
    written (the controller imports the implementations while its workers start)."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    sent = workerinput[SELECTION_INPUT]
    if isinstance(sent, dict):
        return sent
    path = Path(sent)
    deadline = time.monotonic() + SELECTION_WAIT_SECONDS
    controller = os.getppid()
    while not path.exists():  # written whole by os.replace: existing means complete
        if os.getppid() != controller:  # the controller died: nobody will write it
            raise pytest.UsageError("pytest-twolayer: the xdist controller exited")
        if time.monotonic() > deadline:
            raise pytest.UsageError(
                f"pytest-twolayer: the xdist controller did not describe the implementations "
                f"within {SELECTION_WAIT_SECONDS} s ({path} missing)"
            )
        time.sleep(SELECTION_POLL_SECONDS)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


SELECTION_WAIT_SECONDS = 900  # importing a user's implementations can be slow; not forever
SELECTION_POLL_SECONDS = 0.02


class PendingSelection:
    """The controller's selection before its classes are imported.

    Importing the frameworks takes seconds (torch ~1.6 s, TensorFlow ~3.4 s cold) that the
    workers would only wait through: the controller sends each worker the path of a file
    instead, starts them, and imports while they start up; each worker reads the file when
    it is complete. The ``Selection`` object is filled in place, so everything that holds
    it (reports, header) sees the loaded classes afterwards.
    """

    def __init__(self, selection: Selection, requested_devices: list[str]) -> None:
        self.selection = selection
        self.requested_devices = requested_devices
        self.folder = Path(tempfile.mkdtemp(prefix="pytest-twolayer-"))
        self.path = self.folder / "selection.json"
        self.loaded = False

    def load(self) -> None:
        """Import every selected class, resolve the devices, write the record."""
        if self.loaded:
            return
        for loaded in self.selection.implementations:
            fresh = Loaded.load(loaded.spec)
            loaded.declared, loaded.error, loaded._cls = fresh.declared, fresh.error, fresh._cls
        devices = resolve_devices(self.requested_devices, self.selection.implementations)
        self.selection.devices.update(devices)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.selection.to_json()))
        os.replace(partial, self.path)
        self.loaded = True

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def suite_modules(suite: Path) -> frozenset[str]:
    """The shipped suite's module file names."""
    return frozenset(p.name for p in suite.glob("test_*.py"))


class Distribution:
    """Controller-side xdist hooks; registered only when xdist runs with ``-n``."""

    def __init__(self, config: pytest.Config, pending: PendingSelection, suite: Path) -> None:
        self.config = config
        self.pending = pending
        self.selection = pending.selection
        self.names = [i.spec.name for i in self.selection.implementations]
        self.modules = suite_modules(suite)
        self.preloads: dict[str, list[str]] = {}  # worker id -> implementations it preloads

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> None:
        """The workers are starting: import the implementations now, in parallel with them."""
        self.pending.load()

    def pytest_unconfigure(self) -> None:
        self.pending.cleanup()

    def group_of(self, nodeid: str) -> str:
        """A conformance test's implementation; any other test's module."""
        key = nodeids.parse(nodeid, self.names, self.modules)
        return f"impl {key.impl}" if key else nodeid.split("::", 1)[0]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist") != "load":  # the user chose a scheduler: respect it
            return None
        return GroupScheduling(
            self.workers(), self.group_of, self.needs, self.cost, log.twolayersched, self.preloaded
        )

    def needs(self, group: str) -> frozenset[str]:
        for loaded in self.selection.implementations:
            if group == f"impl {loaded.spec.name}" and loaded.declared:
                return frozenset(loaded.declared.frameworks)
        return frozenset()

    def cost(self, group: str, tests: int) -> float:
        """Seconds, roughly: a check ~0.1 s, importing a framework several (DESIGN.md)."""
        return 0.1 * tests + sum(IMPORT_SECONDS.get(f, 2.0) for f in self.needs(group))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: list[Any]) -> None:
        gpus = visible_gpu_count()  # the frameworks are not imported yet; the driver's files say
        plans = plan_workers(len(specs), available_cores(), gpus)
        for spec, plan in zip(specs, plans, strict=True):
            if getattr(spec, "popen", False) and not getattr(spec, "via", None):
                spec.env.update(worker_environment(plan, os.environ))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.pending.loaded or not _shares_files(node):
            self.pending.load()  # a replacement worker, or one on another machine
            node.workerinput[SELECTION_INPUT] = self.selection.to_json()
            return
        node.workerinput[SELECTION_INPUT] = str(self.pending.path)
        # While the controller imports, worker i imports every n-th implementation too, so
        # its frameworks are in place when its checks come (the scheduler sends them there).
        index, workers = len(self.preloads), self.workers()
        self.preloads[node.gateway.id] = self.names[index::workers] if workers else []
        node.workerinput[PRELOAD_INPUT] = self.preloads[node.gateway.id]

    def workers(self) -> int:
        return len(self.config.getoption("tx") or []) or int(self.config.option.numprocesses or 0)

    def preloaded(self, node: Any) -> frozenset[str]:
        """The frameworks ``node`` imported while it waited for the selection."""
        names = self.preloads.get(str(getattr(getattr(node, "gateway", None), "id", "")), [])
        return frozenset().union(*(self.needs(f"impl {name}") for name in names))


def _shares_files(node: Any) -> bool:
    """A worker started here by popen sees this machine's temporary files."""
    spec = getattr(getattr(node, "gateway", None), "spec", None)
    return bool(getattr(spec, "popen", False)) and not getattr(spec, "via", None)
