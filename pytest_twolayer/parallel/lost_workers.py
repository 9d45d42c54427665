"""The controller's side of workers that go down without finishing: a lost host's workers
dropped (their checks rescheduled, no replacement tried there), a worker that will not end
its session let go, and, when no worker is left, every unjudged check reported as an error.

This is the one module that reaches into pytest-xdist's controller (``DSession``), which has
no hook for any of it: its ``worker_errordown`` replaces every worker that goes down, on the
same gateway spec, so a replacement on a dead host fails inside ``_clone_node`` and ends the
run with an INTERNALERROR; with no worker left its loop raises; and it waits for a worker's
``workerfinished`` without a limit. Checked against pytest-xdist 3.7.0 and 3.8.0 (the
package's floor and the newest; their ``dsession.py`` and ``workermanage.py`` are
identical): ``DSession.worker_errordown``, ``worker_workerfinished``, ``_clone_node``,
``_active_nodes``, ``queue``, ``sched``, ``shuttingdown``, ``nodemanager`` (its ``group``
and ``teardown_nodes``) and ``triggershutdown``; ``WorkerController.gateway`` and
``shutting_down``; and against execnet 2.1.0 and 2.1.2 (``Group._gateways`` and
``_gateways_to_join``). Events are posted to ``DSession.queue`` in its own ``(name, kwargs)``
form, so they are handled on its loop's thread, in order with the workers' own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import execnet
import pytest

from pytest_twolayer.parallel.losses import SHUTDOWN_SECONDS, SILENT_SECONDS, Losses
from pytest_twolayer.parallel.reachability import address_of, why_gone

Node = Any  # xdist.workermanage.WorkerController
TICK_SECONDS = 1.0  # how often the watchdog looks; the limits it keeps are tens of seconds
SETTLE_SECONDS = 2.0
"""How long a proxied host whose worker went down must keep its proxy to be taken for up."""
SETTLE_TICK_SECONDS = 0.05


class LostWorkers:
    """Installed on xdist's ``DSession`` at the session's start (see :meth:`install`).

    ``host_of(worker_id)`` names a worker's host as the run does; ``losses`` is the record the
    reports read; ``nothing_held(node)`` says whether a worker holds no more checks.
    """

    def __init__(
        self,
        config: pytest.Config,
        losses: Losses,
        host_of: Callable[[str], str],
        nothing_held: Callable[[Node], bool],
    ) -> None:
        self.config = config
        self.losses = losses
        self.host_of = host_of
        self.nothing_held = nothing_held
        self.dsession: Any = None
        self.heard: dict[str, float] = {}  # worker id -> when it was last heard from
        self.idle_since: dict[Node, float] = {}  # node -> when it held nothing, told to end
        self.silent: dict[str, str] = {}  # worker id -> why its host is taken for lost
        self.posted: set[Node] = set()
        self.finished: list[Node] = []  # workers that ended their sessions cleanly
        self.gone: list[Any] = []  # the gateways of lost hosts (workers' and proxies')
        self.guarded = False  # whether xdist's teardown leaves them out (_forget_gateways)
        self.proxies = {  # proxy id -> its spec (``--px``), known when its gateway is not
            str(spec.id): spec for spec in map(execnet.XSpec, config.getoption("px") or [])
        }
        self.stop = threading.Event()

    # -- wiring -------------------------------------------------------------------------
    def install(self, dsession: Any) -> None:
        """Route xdist's handling of a worker that goes down through this object."""
        self.dsession = dsession
        self._errordown = dsession.worker_errordown
        self._workerfinished = dsession.worker_workerfinished
        self._clone = dsession._clone_node
        dsession.worker_errordown = self.worker_errordown
        dsession.worker_workerfinished = self.worker_workerfinished
        dsession._clone_node = self.clone_node
        threading.Thread(target=self._watch, name="twolayer-watchdog", daemon=True).start()

    def heard_from(self, worker_id: str) -> None:
        """A worker's heartbeat arrived (on execnet's receiver thread)."""
        self.heard[worker_id] = time.monotonic()

    # -- xdist's events, on its loop's thread ---------------------------------------------
    def worker_errordown(self, node: Node, error: object | None) -> None:
        ds = self.dsession
        if node not in ds._active_nodes:
            return  # let go already (it would not end its session, or its host was lost)
        worker = str(node.gateway.id)
        host = self.host_of(worker)
        if not self.losses.is_lost(host):
            spec = node.gateway.spec
            proxy_spec = self.proxies.get(str(getattr(spec, "via", None) or ""))
            why = self.silent.get(worker) or self._settled_why_gone(node, proxy_spec)
            if why is not None:
                self.losses.lose(host, why)
        if self.losses.is_lost(host):
            self.losses.worker_lost(host, worker, [], [])
            self._drop(node, error)
            self._forget_gateways(node)
        elif self.nothing_held(node) and not ds.sched.has_pending:
            self._drop(node, error)  # down after its last check: nothing for a replacement
        else:
            # A crash: xdist reports it and replaces the worker, unless its host went meanwhile
            # (see clone_node) or the restarts are used up; either may leave no worker.
            self._errordown(node, error)
        self._keep_going()

    def worker_workerfinished(self, node: Node) -> None:
        if node not in self.dsession._active_nodes:
            return  # one this object let go already
        self._workerfinished(node)
        if not self.losses.is_lost(self.host_of(str(node.gateway.id))):
            self.finished.append(node)
        self._keep_going()

    def clone_node(self, node: Node) -> Node | None:
        """xdist's replacement for a crashed worker; its host may have gone meanwhile."""
        host = self.host_of(str(node.gateway.id))
        if self.losses.is_lost(host):
            return None
        try:
            return self._clone(node)
        except Exception as exc:  # execnet raises OSError, EOFError and its own errors
            self.losses.lose(host, f"a replacement worker could not start there: {exc!r:.200}")
            self._forget_gateways(node)  # and the one half made for the replacement
            return None

    # -- internals ----------------------------------------------------------------------
    def _settled_why_gone(self, node: Node, proxy_spec: Any | None) -> str | None:
        """Why ``node``'s host is gone, once its end has had time to arrive. A killed host's
        processes do not end at one instant: its worker's connection may drop while its
        proxy's receiver has not yet seen the end and its server still listens, and one look
        then takes the loss for a crash of the check running there (blamed on its
        implementation). So a proxied worker's proxy is watched for up to
        :data:`SETTLE_SECONDS` (its receiver ends with the host), and a socket host is given a
        moment, before its address is asked once: asking again and again would fill a busy
        server's backlog with connections it never accepts, and take it for gone."""
        spec = node.gateway.spec
        if getattr(spec, "via", None):
            deadline = time.monotonic() + SETTLE_SECONDS
            while time.monotonic() < deadline:
                proxy = self._proxy_of(node)
                if proxy is None or not proxy.hasreceiver():
                    break
                time.sleep(SETTLE_TICK_SECONDS)
        elif address_of(spec) is not None:
            time.sleep(SETTLE_TICK_SECONDS)
        return why_gone(spec, proxy_spec, self._proxy_of(node))

    def _proxy_of(self, node: Node) -> Any | None:
        via = getattr(node.gateway.spec, "via", None)
        if not via:
            return None
        with contextlib.suppress(KeyError):
            return self.dsession.nodemanager.group[via]
        return None

    def _drop(self, node: Node, error: object | None) -> None:
        """Forget ``node`` with no crash reported and no replacement started; the scheduler
        queues what it held again (see ``GroupScheduling.remove_node``)."""
        ds = self.dsession
        self.config.hook.pytest_testnodedown(node=node, error=error)
        with contextlib.suppress(KeyError):
            ds.sched.remove_node(node)
        ds._active_nodes.discard(node)

    def _keep_going(self) -> None:
        """Checks a lost worker held are queued again, but every live worker may have been
        told to end already (nothing was queued for it then): start one in the place of a
        worker that ended cleanly, on a host still up. With no worker left at all, end."""
        ds = self.dsession
        queued = bool(getattr(ds.sched, "queue", None))
        takers = [n for n in ds._active_nodes if not n.shutting_down]  # starting ones too
        if queued and not takers and not ds.shuttingdown:
            for finished in reversed(self.finished):
                if self.losses.is_lost(self.host_of(str(finished.gateway.id))):
                    continue
                if self.clone_node(finished) is not None:
                    return
        if not ds._active_nodes:
            self._no_worker_left()

    def _forget_gateways(self, node: Node) -> None:
        """Keep a lost host's gateways (the worker's, its proxy) out of xdist's teardown,
        which would wait for them over a connection that is gone: it asks a proxied
        gateway's process to end through the proxy, which raises there, after the last
        verdict and before the reports are written."""
        nodemanager = self.dsession.nodemanager
        if not self.guarded:
            self.guarded = True
            teardown = nodemanager.teardown_nodes

            def teardown_nodes() -> None:
                self._purge(nodemanager.group)
                try:
                    teardown()
                except OSError:  # one more gateway of a lost host that could not be told
                    self._purge(nodemanager.group)
                    with contextlib.suppress(OSError):
                        teardown()

            nodemanager.teardown_nodes = teardown_nodes
        remote = not (node.gateway.spec.popen and not node.gateway.spec.via)
        # (a silent worker on this machine is a process of ours: xdist's teardown kills it)
        if remote:
            self.gone += [g for g in (node.gateway, self._proxy_of(node)) if g is not None]
        self.gone += self._via_lost_proxies(nodemanager.group)

    def _via_lost_proxies(self, group: Any) -> list[Any]:
        lost = {proxy for proxy in self.proxies if self.losses.is_lost(proxy)}
        members = [*group, *group._gateways_to_join]
        return [g for g in members if g.id in lost or getattr(g.spec, "via", None) in lost]

    def _purge(self, group: Any) -> None:
        """Out of execnet's group: every gateway of a lost host. (``Group._gateways`` holds
        the live ones, ``_gateways_to_join`` those that ended, for ``terminate()`` to wait
        for; execnet 2.1, which pytest-xdist 3.7 requires. The receiver of a lost gateway
        may move it from the one to the other at any time, so this runs at teardown.)"""
        gone = {id(g) for g in [*self.gone, *self._via_lost_proxies(group)]}
        group._gateways[:] = [g for g in group._gateways if id(g) not in gone]
        group._gateways_to_join[:] = [g for g in group._gateways_to_join if id(g) not in gone]

    def _no_worker_left(self) -> None:
        """Every check no worker ran gets an error naming the lost hosts; the loop ends."""
        ds = self.dsession
        unjudged = ds.sched.unjudged() if hasattr(ds.sched, "unjudged") else []
        if self.losses.hosts:
            message = self.losses.unjudged_message()
            for nodeid in unjudged:
                path = nodeid.split("::", 1)[0]
                report = pytest.TestReport(
                    nodeid=nodeid,
                    location=(path, None, path),
                    keywords={},
                    outcome="failed",
                    longrepr=message,
                    when="setup",
                )
                self.config.hook.pytest_runtest_logreport(report=report)
        ds.triggershutdown()  # its loop ends once no worker is active

    def _watch(self) -> None:
        while not self.stop.wait(TICK_SECONDS):
            self.look(time.monotonic())

    def look(self, now: float) -> None:
        """One tick of the watchdog: let go of a worker that holds nothing but will not end
        its session, and take a worker's host for lost when the worker has fallen silent."""
        ds = self.dsession
        if ds is None or ds.sched is None:
            return
        try:
            nodes = list(ds._active_nodes)
        except RuntimeError:  # changed while copied: look again next tick
            return
        for node in nodes:
            if node in self.posted:
                continue
            worker = str(node.gateway.id)
            # A worker not heard from yet is timed from now: one whose host froze before its
            # first heartbeat (5 s after it came up) is as silent as any other.
            last = self.heard.setdefault(worker, now)
            if now - last > SILENT_SECONDS:
                self.silent[worker] = f"no heartbeat for {SILENT_SECONDS:g} s"
                self._post(node, self.silent[worker])
            elif node.shutting_down and self.nothing_held(node):
                since = self.idle_since.setdefault(node, now)
                if now - since > SHUTDOWN_SECONDS:
                    why = f"it did not end its session within {SHUTDOWN_SECONDS:g} s"
                    self._post(node, why)

    def _post(self, node: Node, why: str) -> None:
        self.posted.add(node)
        self.dsession.queue.put(("errordown", {"node": node, "error": why}))
