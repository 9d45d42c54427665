"""Running the suite under pytest-xdist: one implementation per worker at a time.

On the controller: give each worker its share of the implementations to describe (see
:class:`Discovery`), of the cores, threads and GPUs, and schedule by implementation. On a
worker: describe its share, wait for the others' records, collect.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer import nodeids
from pytest_twolayer.describing import IMPORT_SECONDS, describing_shares, guess_frameworks
from pytest_twolayer.devices import unavailable_reason, visible_gpu_count
from pytest_twolayer.registry import Registry
from pytest_twolayer.scheduling import GroupScheduling
from pytest_twolayer.selection import Declared, Loaded, Selection, resolve_devices
from pytest_twolayer.workers import available_cores, plan_workers, worker_environment

SELECTION_INPUT = "twolayer_selection"  # the whole selection, or where to discover it
SUITE_DEPENDENCIES = ("pytest_twolayer.strategies", "pytest_twolayer.benchmarking.measure")
SUMMARY_DEPENDENCIES = ("hypothesis",)
"""Imported by other plugins' terminal summaries on the controller (hypothesis's plugin
imports hypothesis there): ~1.5 s when pytest's assertion rewriting cannot cache its work
(``PYTHONDONTWRITEBYTECODE``), paid after the last test unless imported during the run."""


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def distributes(config: pytest.Config) -> bool:
    """Whether this process is an xdist controller about to start workers."""
    return (
        bool(getattr(config.option, "numprocesses", None))
        and not is_worker(config)
        and not config.getoption("twolayer_dry_run", False)  # a dry run starts no workers
    )


SELECTION_WAIT_SECONDS = 900  # importing a user's implementations can be slow; not forever
TAKEOVER_SECONDS = 120  # the controller describes what a worker that died never did
POLL_SECONDS = 0.02


class Discovery:
    """The folder where each selected implementation's record lands as it is imported.

    Importing the frameworks is most of a run's start-up (torch ~1.6 s, TensorFlow ~3.4 s
    cold), and every worker must import what it runs anyway. So the controller imports
    nothing: each worker imports its share of the implementations (balanced on the
    frameworks their modules import, see :mod:`pytest_twolayer.describing`) and writes
    what collection needs of each (declared devices, dtypes, expected failures,
    frameworks, or why it failed to load) to this folder; whoever needs the whole
    selection (every worker, the controller's scheduler and reports) waits for every
    record. The worker that imported an implementation declaring cuda also writes whether
    cuda is usable here.
    """

    def __init__(self, folder: Path, names: list[str], requested: list[str], seed: int) -> None:
        self.folder = folder
        self.names = names
        self.requested = requested
        self.seed = seed

    def to_json(self, share: list[str]) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "names": self.names,
            "requested": self.requested,
            "seed": self.seed,
            "share": share,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Discovery:
        return cls(Path(data["folder"]), list(data["names"]), list(data["requested"]), data["seed"])

    def record(self, name: str) -> Path:
        return self.folder / f"impl-{self.names.index(name)}.json"

    @property
    def cuda_record(self) -> Path:
        return self.folder / "cuda.json"

    def publish(self, loaded: Loaded) -> None:
        """Write what collection needs of ``loaded`` (and, for cuda, what this process sees)."""
        declared = loaded.declared
        _write(
            self.record(loaded.spec.name),
            {"declared": declared.to_json() if declared else None, "error": loaded.error},
        )
        if declared and "cuda" in declared.devices and not self.requested:
            # Its framework is imported here already: asking it costs nothing more.
            _write(self.cuda_record, {"reason": unavailable_reason("cuda")})

    def fill(self, selection: Selection) -> None:
        """Complete ``selection`` in place from the records (all of which exist)."""
        by_name = {i.spec.name: i for i in selection.implementations}
        for name in self.names:
            data = json.loads(self.record(name).read_text())
            loaded = by_name[name]
            loaded.declared = Declared.from_json(data["declared"]) if data["declared"] else None
            loaded.error = data["error"]
        devices: dict[str, str | None] = {d: None for d in self.requested}  # validated present
        if not self.requested:
            devices = {"cpu": None}
            if self._declares_cuda(selection):
                devices["cuda"] = json.loads(self.cuda_record.read_text())["reason"]
        selection.devices.clear()
        selection.devices.update(devices)

    def missing(self) -> list[Path]:
        """Records not written yet (the cuda record counts once a record declares cuda)."""
        absent = [self.record(name) for name in self.names if not self.record(name).exists()]
        if absent or self.requested:
            return absent
        for name in self.names:
            declared = json.loads(self.record(name).read_text())["declared"]
            if declared and "cuda" in declared["devices"] and not self.cuda_record.exists():
                return [self.cuda_record]
        return []

    @staticmethod
    def _declares_cuda(selection: Selection) -> bool:
        return any(i.declared and "cuda" in i.declared.devices for i in selection.implementations)

    def wait(self, seconds: float, *, parent: int | None = None) -> bool:
        """Wait until every record exists; False after ``seconds`` (or if ``parent`` died)."""
        deadline = time.monotonic() + seconds
        while self.missing():
            if parent is not None and os.getppid() != parent:
                raise pytest.UsageError("pytest-twolayer: the xdist controller exited")
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write ``path`` whole: readers take its existence to mean it is complete."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")  # writers may race
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def selection_on_worker(config: pytest.Config, registry: Registry) -> Selection:
    """This worker's selection: sent whole, or discovered with the other workers."""
    sent: dict[str, Any] = config.workerinput[SELECTION_INPUT]  # type: ignore[attr-defined]
    if "declared" in sent:
        return Selection.from_json(registry, sent)
    discovery = Discovery.from_json(sent)
    # What collecting the suite imports anyway (hypothesis alone takes ~2 s).
    for module in SUITE_DEPENDENCIES:
        importlib.import_module(module)
    imported = {}
    for name in sent["share"]:
        if not discovery.record(name).exists():  # a replacement may find it done
            imported[name] = Loaded.load(registry.get(name))
            discovery.publish(imported[name])
    if not discovery.wait(SELECTION_WAIT_SECONDS, parent=os.getppid()):
        raise pytest.UsageError(
            f"pytest-twolayer: the implementations were not described within "
            f"{SELECTION_WAIT_SECONDS} s (missing: {', '.join(map(str, discovery.missing()))})"
        )
    selection = Selection(
        [imported.get(n) or Loaded(registry.get(n), None) for n in discovery.names],
        {},
        discovery.seed,
    )
    discovery.fill(selection)
    return selection


class PendingSelection:
    """The controller's selection before the workers have described the implementations.

    The ``Selection`` object is filled in place (see :class:`Discovery`), so everything
    that holds it (reports, the scheduler) sees the declarations afterwards; the controller
    itself imports no implementation unless a worker died before describing its share.
    """

    def __init__(self, selection: Selection, requested_devices: list[str]) -> None:
        self.selection = selection
        self.folder = Path(tempfile.mkdtemp(prefix="pytest-twolayer-"))
        names = [i.spec.name for i in selection.implementations]
        self.discovery = Discovery(self.folder, names, requested_devices, selection.seed)
        self.loaded = False

    def collect(self) -> None:
        """Wait for the workers' records; describe what none did after a while, then fill."""
        if self.loaded:
            return
        if not self.discovery.wait(TAKEOVER_SECONDS):
            for loaded in self.selection.implementations:  # a worker died importing its share
                if not self.discovery.record(loaded.spec.name).exists():
                    self.discovery.publish(Loaded.load(loaded.spec))
            if self.discovery.missing():  # cuda: ask here
                _write(self.discovery.cuda_record, {"reason": unavailable_reason("cuda")})
        self.discovery.fill(self.selection)
        self.loaded = True

    def load(self) -> None:
        """Describe every implementation here (for a worker that cannot share the folder)."""
        if self.loaded:
            return
        for loaded in self.selection.implementations:
            fresh = Loaded.load(loaded.spec)
            loaded.declared, loaded.error, loaded._cls = fresh.declared, fresh.error, fresh._cls
            self.discovery.publish(fresh)
        devices = resolve_devices(self.discovery.requested, self.selection.implementations)
        self.selection.devices.clear()
        self.selection.devices.update(devices)
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
        self.shares: dict[str, list[str]] = {}  # worker id -> implementations it describes
        # What worker i is to describe, balanced on the frameworks guessed from the sources.
        guesses = {
            i.spec.name: guess_frameworks(i.spec.target) for i in pending.selection.implementations
        }
        self.planned_shares = describing_shares(self.names, guesses, self.workers())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> None:
        """The workers are describing the implementations: wait for their records (and
        meanwhile import what the terminal summary will need)."""
        if self.config.pluginmanager.has_plugin("hypothesispytest"):
            import_in_background(SUMMARY_DEPENDENCIES)
        self.pending.collect()

    def pytest_unconfigure(self) -> None:
        self.pending.cleanup()

    def group_of(self, nodeid: str) -> str:
        """A conformance test's implementation; any other test's module."""
        key = nodeids.parse(nodeid, self.names, self.modules)
        return group_name(key.impl) if key else nodeid.split("::", 1)[0]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist") != "load":  # the user chose a scheduler: respect it
            return None
        return GroupScheduling(
            self.workers(), self.group_of, self.needs, self.cost, log.twolayersched, self.preloaded
        )

    def needs(self, group: str) -> frozenset[str]:
        for loaded in self.selection.implementations:
            if group == group_name(loaded.spec.name) and loaded.declared:
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
            if _runs_here(spec):
                spec.env.update(worker_environment(plan, os.environ))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.pending.loaded or not _runs_here(node.gateway.spec):
            if not self.pending.loaded:
                self.pending.load()  # a worker on another machine: describe them here
            node.workerinput[SELECTION_INPUT] = self.selection.to_json()
            return
        # Worker i describes the i-th share; a replacement started before the records were
        # complete describes none (the controller takes over if needed).
        index = len(self.shares)
        share = self.planned_shares[index] if index < len(self.planned_shares) else []
        self.shares[node.gateway.id] = share
        node.workerinput[SELECTION_INPUT] = self.pending.discovery.to_json(share)

    def workers(self) -> int:
        return len(self.config.getoption("tx") or []) or int(self.config.option.numprocesses or 0)

    def preloaded(self, node: Any) -> frozenset[str]:
        """The frameworks ``node`` imported while describing its share."""
        names = self.shares.get(str(getattr(getattr(node, "gateway", None), "id", "")), [])
        return frozenset().union(*(self.needs(group_name(name)) for name in names))


def import_in_background(modules: tuple[str, ...]) -> None:
    """Import ``modules`` on a daemon thread (a failure is left for the real import to
    report): the controller idles while its workers run."""

    def run() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    threading.Thread(target=run, name="twolayer-imports", daemon=True).start()


def group_name(impl: str) -> str:
    """The scheduling group of an implementation's checks."""
    return f"impl {impl}"


def _runs_here(spec: Any) -> bool:
    """An xdist worker started on this machine by popen: it shares our cores and files."""
    return bool(getattr(spec, "popen", False)) and not getattr(spec, "via", None)
