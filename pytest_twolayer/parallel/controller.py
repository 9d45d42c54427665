"""The xdist controller's side of a run: one implementation per worker at a time, on hosts
that can run it.

For each worker gateway (popen, ``socket=``, ``ssh=``, ``via=`` a proxy) the controller runs
the probe there (:mod:`.probe`: the host described, the worker's share of it applied), gives
the workers their shares of the implementations to describe and merges what they send back
(:mod:`.discovery`), and schedules whole implementations (:mod:`.scheduler`), each on a
worker whose host has its frameworks and, for cuda cases, a GPU.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import execnet
import pytest
from xdist.workermanage import parse_tx_spec_config

from pytest_twolayer.checking.suite import parse_nodeid
from pytest_twolayer.host import probe
from pytest_twolayer.parallel import is_controller
from pytest_twolayer.parallel.discovery import INPUT, Describing
from pytest_twolayer.parallel.losses import Losses
from pytest_twolayer.parallel.lost_workers import LostWorkers
from pytest_twolayer.parallel.scheduler import GroupScheduling
from pytest_twolayer.parallel.shares import IMPORT_SECONDS, describing_shares, guess_frameworks
from pytest_twolayer.parallel.worker import LOCAL_HOST
from pytest_twolayer.run.selection import Selection

if TYPE_CHECKING:
    from xdist.scheduler.protocol import Scheduling  # what GroupScheduling implements

SUMMARY_DEPENDENCIES = ("hypothesis",)
"""Imported by other plugins' terminal summaries on the controller (hypothesis's plugin
imports hypothesis there): as slow as a framework's import when pytest's assertion rewriting
cannot cache its work (``PYTHONDONTWRITEBYTECODE``; the figures:
docs/parallel.md#figures-behind-the-design), paid after the last test unless imported during
the run."""

PROBE_SECONDS = 120  # starting an interpreter on a busy remote host can be slow; not forever


def host_of(spec: Any) -> str:
    """Which host a gateway spec runs on: its proxy (``via=``), its socket or ssh address,
    or this machine for a plain popen."""
    for attribute in ("via", "socket", "ssh", "vagrant_ssh"):
        value = getattr(spec, attribute, None)
        if value:
            return str(value)
    return LOCAL_HOST


@dataclass
class Host:
    """A host of the run: its workers' slots and what its probe found there."""

    name: str
    workers: int  # how many of the run's initial workers it runs
    slots: dict[int, str] = field(default_factory=dict)  # slot -> the worker holding it
    facts: dict[str, Any] = field(default_factory=dict)

    def free_slot(self) -> int:
        """The lowest slot no live worker holds (a replacement takes its dead one's)."""
        return next(i for i in range(max(self.workers, len(self.slots) + 1)) if i not in self.slots)


@dataclass
class WorkerPlace:
    """Where a worker runs and what it may use there."""

    id: str
    host: str
    slot: int
    plan: dict[str, Any]


class Distribution:
    """Controller-side xdist hooks; registered when xdist distributes an ``--impl`` run."""

    def __init__(self, config: pytest.Config, selection: Selection, requested: list[str]) -> None:
        self.config = config
        self.selection = selection
        self.names = [i.spec.name for i in selection.implementations]
        self.losses = Losses()
        self.scheduler: GroupScheduling | None = None
        self.lost_workers = LostWorkers(
            config, self.losses, self.host_of_worker, self.holds_nothing
        )
        self.describing = Describing(selection, requested, heard=self.lost_workers.heard_from)
        self.specs = [str(spec) for spec in parse_tx_spec_config(config)]
        self.hosts: dict[str, Host] = {}
        for spec in self.specs:
            name = host_of(execnet.XSpec(spec))
            self.hosts.setdefault(name, Host(name, 0)).workers += 1
        self.places: dict[str, WorkerPlace] = {}  # gateway id -> where it runs (live ones)
        self.worker_hosts: dict[str, str] = {}  # gateway id -> host, every worker of the run
        self.worker_plans: dict[str, dict[str, Any]] = {}  # gateway id -> its share of its host
        self.shares: dict[str, list[str]] = {}  # gateway id -> implementations it describes

    def host_of_worker(self, worker_id: str) -> str:
        return self.worker_hosts.get(worker_id, LOCAL_HOST)

    def holds_nothing(self, node: Any) -> bool:
        """Whether ``node`` holds no check of this run's scheduler (under another ``--dist``
        that is not known, so never assumed)."""
        return self.scheduler is not None and not self.scheduler.pending.get(node)

    def host_lost(self, node: Any) -> bool:
        return self.losses.is_lost(self.host_of_worker(str(node.gateway.id)))

    def rescheduled(self, node: Any, nodeids: list[str]) -> None:
        """A lost host's worker held ``nodeids``: the scheduler queued them again."""
        keys = [parse_nodeid(nodeid, self.names) for nodeid in nodeids]
        running = list(dict.fromkeys(key.impl for key in keys if key is not None))
        worker = str(node.gateway.id)
        self.losses.worker_lost(self.host_of_worker(worker), worker, running, nodeids)

    def all_local(self) -> bool:
        """Whether every worker runs on this machine (plain popen gateways)."""
        return set(self.hosts) <= {LOCAL_HOST}

    # -- the workers come up --------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_newgateway(self, gateway: Any) -> None:
        """Probe the new gateway's host and give the worker its share of it."""
        host = self.hosts.setdefault(host_of(gateway.spec), Host(host_of(gateway.spec), 1))
        slot = host.free_slot()
        host.slots[slot] = gateway.id
        channel = gateway.remote_exec(probe)
        channel.send((slot, max(host.workers, 1)))
        prepared, box = channel.receive(timeout=PROBE_SECONDS)
        host.facts = prepared["host"]
        self.places[gateway.id] = WorkerPlace(gateway.id, host.name, slot, prepared["plan"])
        self.worker_hosts[gateway.id] = host.name
        self.worker_plans[gateway.id] = {"host": host.name, **prepared["plan"]}
        self.describing.add(gateway.id, host.name, box)
        if not self.describing.shared and len(self.places) >= len(self.specs):
            self.share_out()

    def share_out(self) -> None:
        """Every initial worker is up: deal out the implementations to describe, balanced on
        the frameworks guessed from their sources, each to a host that has them."""
        workers = list(self.places.values())
        guesses = {
            i.spec.name: guess_frameworks(i.spec.target) for i in self.selection.implementations
        }
        installed = [frozenset(self.hosts[w.host].facts.get("frameworks", ())) for w in workers]
        planned = describing_shares(self.names, guesses, len(workers), installed)
        self.shares = {w.id: share for w, share in zip(workers, planned, strict=True)}
        self.describing.share_out(self.shares)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        place = self.places.get(node.gateway.id)
        node.workerinput[INPUT] = {"host": place.host if place else host_of(node.gateway.spec)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        place = self.places.pop(node.gateway.id, None)
        if place is not None:
            self.hosts[place.host].slots.pop(place.slot, None)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Handle workers that go down without finishing (see :mod:`.lost_workers`)."""
        dsession = self.config.pluginmanager.get_plugin("dsession")
        if dsession is not None:
            self.lost_workers.install(dsession)

    def pytest_sessionfinish(self) -> None:
        self.lost_workers.stop.set()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> None:
        """The workers are describing the implementations: wait for their records (and
        meanwhile import what the terminal summary will need)."""
        if self.config.pluginmanager.has_plugin("hypothesispytest"):
            import_in_background(SUMMARY_DEPENDENCIES)
        if not self.describing.shared:  # fewer gateways came up than asked for
            self.share_out()
        self.describing.wait()

    # -- scheduling -------------------------------------------------------------------------
    def group_of(self, nodeid: str) -> str:
        """A conformance test's implementation; any other test's module."""
        key = parse_nodeid(nodeid, self.names)
        return group_name(key.impl) if key else nodeid.split("::", 1)[0]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Scheduling | None:
        if config.getoption("dist") != "load":  # the user chose a scheduler: respect it
            return None
        self.scheduler = GroupScheduling(
            len(self.specs),
            self.group_of,
            self.needs,
            self.cost,
            log.twolayersched,
            self.preloaded,
            self.eligible,
            self.host_lost,
            self.rescheduled,
        )
        return self.scheduler

    def _loaded(self, group: str) -> Any:
        return next(
            (i for i in self.selection.implementations if group == group_name(i.spec.name)), None
        )

    def needs(self, group: str) -> frozenset[str]:
        loaded = self._loaded(group)
        return frozenset(loaded.declared.frameworks) if loaded and loaded.declared else frozenset()

    def cost(self, group: str, tests: int) -> float:
        """Seconds, roughly: 0.1 per check, and each framework's cold import
        (``IMPORT_SECONDS``, see .shares; 2 for one it does not list)."""
        return 0.1 * tests + sum(IMPORT_SECONDS.get(f, 2.0) for f in self.needs(group))

    def preloaded(self, node: Any) -> frozenset[str]:
        """The frameworks ``node`` imported while describing its share."""
        names = self.shares.get(str(getattr(getattr(node, "gateway", None), "id", "")), [])
        return frozenset().union(*(self.needs(group_name(name)) for name in names))

    def eligible(self, group: str, node: Any) -> bool:
        """The worker's host has the group's frameworks and, for its cuda cases, the worker a
        GPU of its own."""
        place = self.places.get(str(getattr(getattr(node, "gateway", None), "id", "")))
        loaded = self._loaded(group)
        if place is None or loaded is None or loaded.declared is None:
            return True
        installed = set(self.hosts[place.host].facts.get("frameworks", ()))
        if not self.needs(group) <= installed:
            return False
        devices = self.selection.devices
        runs_cuda = "cuda" in loaded.declared.devices and "cuda" in devices and not devices["cuda"]
        return not runs_cuda or place.plan.get("gpu") is not None

    # -- what the header and the reports say ------------------------------------------------
    def spread(self) -> str:
        """How the work is spread: ``4 xdist workers on 2 hosts (h1: 2, h2: 2), one
        implementation per worker at a time``."""
        hosts = ", ".join(f"{h.name}: {h.workers}" for h in self.hosts.values())
        count = len(self.specs)
        dist = self.config.getoption("dist")
        scheduler = (
            "one implementation per worker at a time"
            if dist == "load"
            else f"xdist's --dist {dist} scheduler"
        )
        return (
            f"{count} xdist worker{'' if count == 1 else 's'} on {len(self.hosts)} "
            f"host{'' if len(self.hosts) == 1 else 's'} ({hosts}), {scheduler}"
        )

    def host_facts(self) -> dict[str, dict[str, Any]]:
        """What each host's probe found, by host name, with the share each worker took."""
        facts = {name: dict(host.facts) for name, host in self.hosts.items() if host.facts}
        for worker, plan in self.worker_plans.items():
            if plan["host"] in facts:
                share = {k: v for k, v in plan.items() if k != "host"}
                facts[plan["host"]].setdefault("workers", {})[worker] = share
        for name in facts:
            facts[name].update(self.losses.facts(name))
        return facts


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


CRASHES_ALLOWED_PER_IMPLEMENTATION = 50
"""Under xdist a crashed worker is replaced at most ``4 x -n`` times by default, which one
implementation that aborts in every check exhausts, stopping the others' checks. Unless the
user sets ``--max-worker-restart``, each selected implementation may crash this often."""


def allow_worker_restarts(config: pytest.Config, implementations: int) -> None:
    """Raise xdist's worker-restart cap (before xdist's own trylast configure reads it), for
    any distribution: ``-n``, ``--tx`` or both."""
    if is_controller(config) and config.option.maxworkerrestart is None:
        config.option.maxworkerrestart = str(CRASHES_ALLOWED_PER_IMPLEMENTATION * implementations)
