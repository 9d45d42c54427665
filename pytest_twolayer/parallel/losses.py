"""The hosts a run lost, and what became of their work: the controller's record, which the
reports render (``environment.hosts[*].lost`` and ``rescheduled`` in the JSON report, one
line each in the terminal and the Markdown summary).

A host is lost when its workers go down with it: its connection reset or closed, it cannot
be reached again (:mod:`.reachability`), a replacement worker could not be started there, or
a worker of it was not heard from for :data:`SILENT_SECONDS` (:mod:`.lost_workers`). Nothing a
lost host held is its implementations' fault: every check it held is run again elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pytest_twolayer.host.probe import HEARTBEAT_SECONDS

SILENT_SECONDS = 12 * HEARTBEAT_SECONDS
"""A worker not heard from for this long (it sends a heartbeat every ``HEARTBEAT_SECONDS``,
5 s) has lost its host: the network is gone, or the machine froze."""
SHUTDOWN_SECONDS = 30.0
"""How long a worker that holds no more checks may take to end its session once told to;
past it, the run goes on without it (its verdicts are all in already)."""


@dataclass
class HostLoss:
    """One lost host: when, why, which workers went with it, what they were running."""

    host: str
    reason: str
    at: datetime
    after_s: float  # seconds into the run
    workers: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # implementations cut off there
    rescheduled: list[str] = field(default_factory=list)  # node ids queued again

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "after_s": round(self.after_s, 1),
            "reason": self.reason,
            "workers": list(self.workers),
            "running": list(self.running),
        }


class Losses:
    """Every host the run lost, in the order they were lost."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.hosts: dict[str, HostLoss] = {}

    def is_lost(self, host: str) -> bool:
        return host in self.hosts

    def lose(self, host: str, reason: str) -> HostLoss:
        """Record ``host`` as lost (the first reason given stays); returns its record."""
        if host not in self.hosts:
            now = datetime.now(timezone.utc)
            self.hosts[host] = HostLoss(host, reason, now, time.monotonic() - self.started)
        return self.hosts[host]

    def worker_lost(self, host: str, worker: str, running: list[str], nodeids: list[str]) -> None:
        """``worker`` went down with ``host``, holding ``nodeids`` (of ``running``)."""
        loss = self.hosts[host]
        if worker not in loss.workers:
            loss.workers.append(worker)
        loss.running += [impl for impl in running if impl not in loss.running]
        loss.rescheduled += [n for n in nodeids if n not in loss.rescheduled]

    def facts(self, host: str) -> dict[str, Any]:
        """What the JSON report says of ``host`` beyond its probe: ``lost`` (null while it
        stayed) and ``rescheduled``."""
        loss = self.hosts.get(host)
        return {
            "lost": loss.to_json() if loss else None,
            "rescheduled": list(loss.rescheduled) if loss else [],
        }

    def unjudged_message(self) -> str:
        """Why a check has no verdict when no worker is left."""
        named = ", ".join(f"{loss.host} ({loss.reason})" for loss in self.hosts.values())
        hosts = "host" if len(self.hosts) == 1 else "hosts"
        return f"{hosts} {named} lost before this check ran, and no worker was left: no verdict"
