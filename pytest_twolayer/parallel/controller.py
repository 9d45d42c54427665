"""The xdist controller's side of a run: one implementation per worker at a time.

It gives each worker its share of the implementations to describe (see :mod:`.discovery`),
its share of the cores, threads and GPUs (see :mod:`.resources`), and schedules the tests by
implementation (see :mod:`.scheduler`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from typing import TYPE_CHECKING, Any

import pytest

from pytest_twolayer.machine import available_cores, visible_gpu_count
from pytest_twolayer.parallel.discovery import SELECTION_INPUT, PendingSelection
from pytest_twolayer.parallel.resources import plan_workers, worker_environment
from pytest_twolayer.parallel.scheduler import GroupScheduling
from pytest_twolayer.parallel.shares import IMPORT_SECONDS, describing_shares, guess_frameworks
from pytest_twolayer.suite import parse_nodeid

if TYPE_CHECKING:
    from xdist.scheduler.protocol import Scheduling  # what GroupScheduling implements

SUMMARY_DEPENDENCIES = ("hypothesis",)
"""Imported by other plugins' terminal summaries on the controller (hypothesis's plugin
imports hypothesis there): ~1.5 s when pytest's assertion rewriting cannot cache its work
(``PYTHONDONTWRITEBYTECODE``), paid after the last test unless imported during the run."""


class Distribution:
    """Controller-side xdist hooks; registered only when xdist runs with ``-n``."""

    def __init__(self, config: pytest.Config, pending: PendingSelection) -> None:
        self.config = config
        self.pending = pending
        self.selection = pending.selection
        self.names = [i.spec.name for i in self.selection.implementations]
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
        key = parse_nodeid(nodeid, self.names)
        return group_name(key.impl) if key else nodeid.split("::", 1)[0]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Scheduling | None:
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
        """Seconds, roughly: a check ~0.1 s, importing a framework several (see .shares)."""
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


CRASHES_ALLOWED_PER_IMPLEMENTATION = 50
"""Under xdist a crashed worker is replaced at most ``4 x -n`` times by default, which one
implementation that aborts in every check exhausts, stopping the others' checks. Unless the
user sets ``--max-worker-restart``, each selected implementation may crash this often."""


def allow_worker_restarts(config: pytest.Config, implementations: int) -> None:
    """Raise xdist's worker-restart cap (before xdist's own trylast configure reads it)."""
    if getattr(config.option, "numprocesses", None) and config.option.maxworkerrestart is None:
        config.option.maxworkerrestart = str(CRASHES_ALLOWED_PER_IMPLEMENTATION * implementations)
