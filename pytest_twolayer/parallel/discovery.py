"""Describing the selected implementations before the xdist workers collect.

Importing the frameworks is most of a run's start-up (torch ~1.6 s, TensorFlow ~3.4 s cold,
measured on the 2-core design machine), and every worker must import what it runs anyway.
So the controller imports nothing: each worker imports its share of the implementations
(balanced on the frameworks their modules import, see :mod:`.shares`) and writes what
collection needs of each (declared devices, dtypes, expected failures, frameworks, or why it
failed to load) to a folder; whoever needs the whole selection (every worker, the
controller's scheduler and reports) waits for every record.
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

from pytest_twolayer.machine import unavailable_reason
from pytest_twolayer.parallel import worker_input
from pytest_twolayer.registry import Registry
from pytest_twolayer.selection import Declared, Loaded, Selection, resolve_devices

SELECTION_INPUT = "twolayer_selection"  # the whole selection, or where to discover it
SUITE_DEPENDENCIES = ("pytest_twolayer.strategies", "pytest_twolayer.benchmarking.measure")
"""What collecting the suite imports anyway (hypothesis alone takes ~2 s): a worker imports
it while the others describe their shares."""

SELECTION_WAIT_SECONDS = 900  # importing a user's implementations can be slow; not forever
TAKEOVER_SECONDS = 120  # the controller describes what a worker that died never did
POLL_SECONDS = 0.02


class Discovery:
    """The folder where each selected implementation's record lands as it is imported.

    The worker that imported an implementation declaring cuda also writes whether cuda is
    usable here.
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
    sent: dict[str, Any] = worker_input(config)[SELECTION_INPUT]
    if "declared" in sent:
        return Selection.from_json(registry, sent)
    discovery = Discovery.from_json(sent)
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
