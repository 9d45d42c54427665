"""Describing the selected implementations before the xdist workers collect, over xdist's own
channels: no folder, no process tree or machine is assumed to be shared.

Every worker must collect the same cases, and the cases depend on what each implementation
declares (devices, dtypes), which is known only by importing it. Importing the frameworks is
most of a run's start-up (TensorFlow's cold import about twice torch's; the figures:
docs/parallel.md#figures-behind-the-design), and a worker imports what it runs anyway. So
the controller imports nothing: each worker is given a share of the implementations to
describe (balanced on the frameworks their modules import, on hosts that have them, see
:mod:`.shares`), sends back what collection needs of each (or why it failed to load) and,
where it imported a framework that can use cuda, whether cuda is usable on its host; the
controller merges the descriptions into the selection and sends it to every worker. The
messages travel on the channel each worker's probe opened (see :mod:`.probe`), so it works
the same on popen, socket, ssh and proxied gateways.
"""

from __future__ import annotations

import contextlib
import importlib
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_twolayer.host.heap import imports_outside_the_collector
from pytest_twolayer.host.machine import unavailable_reason
from pytest_twolayer.host.probe import BOX, HEARTBEAT
from pytest_twolayer.option_table import DEVICE
from pytest_twolayer.parallel import worker_input
from pytest_twolayer.run.registry import Registry, Spec
from pytest_twolayer.run.selection import Declared, Loaded, Selection

INPUT = "twolayer"
"""The key of what the controller puts in each worker's ``workerinput``."""
SUITE_DEPENDENCIES = ("pytest_twolayer.checking.strategies", "pytest_twolayer.benchmarking.measure")
"""What collecting the suite imports anyway (hypothesis alone is as slow an import as torch):
a worker imports it while it waits for its share."""
SELECTION_WAIT_SECONDS = 900  # importing a user's implementations can be slow; not forever


def selection_on_worker(
    config: pytest.Config, registry: Registry, load: Callable[[Spec], Loaded] = Loaded.load
) -> Selection:
    """This worker's selection: describe the share the controller sends, send the records
    back, and wait for the merged selection."""
    box = sys.modules.get(BOX)
    if box is None or INPUT not in worker_input(config):
        raise pytest.UsageError(
            "pytest-twolayer: this xdist worker was not prepared by the controller's plugin "
            "(is pytest-twolayer installed and enabled on the controller?)"
        )
    with imports_outside_the_collector():
        for module in SUITE_DEPENDENCIES:
            importlib.import_module(module)
    share = _next(box, "share")
    described = {name: load(registry.get(name)) for name in share["names"]}
    cuda: dict[str, str | None] | None = None  # None: not asked here
    declares_cuda = any(d.declared and "cuda" in d.declared.devices for d in described.values())
    if declares_cuda or "cuda" in share["requested"]:
        # Its framework is imported here already: asking costs nothing more.
        cuda = {"reason": unavailable_reason("cuda")}
    box.channel.send(
        (
            "described",
            {name: _record(loaded) for name, loaded in described.items()},
            cuda,
        )
    )
    selection = Selection.from_json(registry, _next(box, "selection")["selection"])
    for loaded in selection.implementations:  # keep what this worker imported
        mine = described.get(loaded.spec.name)
        if mine is not None and loaded.declared is not None:
            loaded._cls = mine._cls
    return selection


def _next(box: Any, kind: str) -> dict[str, Any]:
    """The controller's next message, which must be of ``kind``."""
    try:
        message = box.inbox.get(timeout=SELECTION_WAIT_SECONDS)
    except queue.Empty:
        raise pytest.UsageError(
            f"pytest-twolayer: the controller sent no {kind} within {SELECTION_WAIT_SECONDS} s"
        ) from None
    if message is None:
        raise pytest.UsageError("pytest-twolayer: the xdist controller exited")
    if message.get("kind") != kind:
        raise pytest.UsageError(f"pytest-twolayer: expected the {kind}, got {message!r:.200}")
    return dict(message)


def _record(loaded: Loaded) -> dict[str, Any]:
    declared = loaded.declared
    return {"declared": declared.to_json() if declared else None, "error": loaded.error}


@dataclass
class Worker:
    """What the controller knows of one worker: where it runs and what it describes."""

    id: str
    host: str
    channel: Any  # the probe's channel to it
    share: list[str] = field(default_factory=list)
    described: bool = False


END = object()
"""Put in the controller's queue by execnet when a worker's channel closes."""


class Describing:
    """The controller's side: shares out, descriptions in, the merged selection out.

    ``selection`` is filled in place when every share is described (or its worker died, or
    the wait ran out: those implementations are reported broken, with the reason), so every
    holder of it (the scheduler, the reports) sees the declarations afterwards.
    """

    def __init__(
        self,
        selection: Selection,
        requested: list[str],
        heard: Callable[[str], None] = lambda worker_id: None,
    ) -> None:
        self.selection = selection
        self.heard = heard  # told of every worker's heartbeat
        self.requested = requested
        self.names = [i.spec.name for i in selection.implementations]
        self.workers: dict[str, Worker] = {}
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.records: dict[str, dict[str, Any]] = {}
        self.cuda_reasons: list[str | None] = []
        self.shared = False
        self.complete = False

    def add(self, worker_id: str, host: str, channel: Any) -> None:
        """A new worker's channel (a replacement's too); messages on it go to one queue."""
        self.workers[worker_id] = Worker(worker_id, host, channel)

        def arrived(message: Any) -> None:
            self.heard(worker_id)  # any message says the worker is alive
            if message != HEARTBEAT:
                self.messages.put((worker_id, message))

        channel.setcallback(arrived, endmarker=END)
        worker = self.workers[worker_id]
        if self.shared:  # a replacement for a worker that died: its share is not redone
            worker.described = True
            self._send(worker, {"kind": "share", "names": [], "requested": self.requested})
        if self.complete:
            self._send(worker, self._selection_message())

    def share_out(self, shares: dict[str, list[str]]) -> None:
        """Send each worker its share (every worker gets a message, maybe an empty share)."""
        for worker in self.workers.values():
            worker.share = list(shares.get(worker.id, []))
            message = {"kind": "share", "names": worker.share, "requested": self.requested}
            self._send(worker, message)
        self.shared = True

    def wait(self, seconds: float = SELECTION_WAIT_SECONDS) -> None:
        """Take descriptions until every share is in; then fill the selection and send it."""
        if self.complete:
            return
        deadline = time.monotonic() + seconds
        while self._missing():
            try:
                worker_id, message = self.messages.get(
                    timeout=max(0.0, deadline - time.monotonic())
                )
            except queue.Empty:
                self._give_up(f"was not described within {seconds:g} s")
                break
            worker = self.workers.get(worker_id)
            if worker is None:
                continue
            if message is END:
                if not worker.described:
                    self._give_up(
                        f"its xdist worker {worker.id} (host {worker.host}) died while "
                        "importing it",
                        only=worker.share,
                    )
                    worker.described = True
                continue
            kind, records, cuda = message
            if kind == "described" and not worker.described:
                self.records.update(records)
                if cuda is not None:  # this worker asked its host whether cuda is usable
                    self.cuda_reasons.append(cuda["reason"])
                worker.described = True
        self._fill()
        for worker in self.workers.values():
            self._send(worker, self._selection_message())

    def _missing(self) -> list[str]:
        return [name for name in self.names if name not in self.records]

    def _give_up(self, why: str, only: list[str] | None = None) -> None:
        for name in only if only is not None else self._missing():
            if name not in self.records:
                error = f"implementation {name!r} {why}"
                self.records[name] = {"declared": None, "error": error}

    def _fill(self) -> None:
        by_name = {i.spec.name: i for i in self.selection.implementations}
        for name in self.names:
            record = self.records[name]
            loaded = by_name[name]
            loaded.declared = Declared.from_json(record["declared"]) if record["declared"] else None
            loaded.error = record["error"]
        devices: dict[str, str | None] = {d: None for d in self.requested}
        if "cuda" in self.requested and self.cuda_reasons and None not in self.cuda_reasons:
            reason = next(r for r in self.cuda_reasons if r)
            pytest.exit(
                f"{DEVICE.flag} cuda was asked for but no worker's host can use it: {reason}",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )
        if not self.requested:
            devices = {"cpu": None}
            if any(i.declared and "cuda" in i.declared.devices for i in by_name.values()):
                # Usable when one host says so (its implementations run there, see eligible()).
                reasons = self.cuda_reasons or ["no worker could ask its host"]
                devices["cuda"] = None if None in reasons else next(r for r in reasons if r)
        self.selection.devices.clear()
        self.selection.devices.update(devices)
        self.complete = True

    def _selection_message(self) -> dict[str, Any]:
        return {"kind": "selection", "selection": self.selection.to_json()}

    @staticmethod
    def _send(worker: Worker, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the worker is gone; xdist reports it
            worker.channel.send(message)
