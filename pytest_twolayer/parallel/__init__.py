"""Everything pytest-xdist: how many workers a run gets, what the controller and each worker
do before collection, the scheduler, each worker's share of the machine, a quick exit.

Worker identity comes from xdist's own predicates (:func:`is_worker`, :func:`is_controller`,
:func:`worker_id`); the default worker count from its ``pytest_xdist_auto_num_workers`` hook
(see :mod:`.auto`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import xdist


@dataclass(frozen=True)
class _Scope:
    """What xdist's predicates read of a request or session: its config. Before the session
    exists (at configure time) this stands in for one."""

    config: pytest.Config


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is an xdist worker."""
    return bool(xdist.is_xdist_worker(_Scope(config)))


def is_controller(config: pytest.Config) -> bool:
    """Whether this process is an xdist controller that distributes (not a ``-n 0`` run, nor
    one with xdist switched off by ``-p no:xdist``, whose options xdist never added)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return False
    return bool(xdist.is_xdist_controller(_Scope(config)))


def worker_id(config: pytest.Config) -> str:
    """``gw0``, ``gw1``, ... on a worker; ``master`` in a process that is none."""
    return str(xdist.get_xdist_worker_id(_Scope(config)))


def worker_input(config: pytest.Config) -> dict[str, Any]:
    """What the controller gave this worker (``workerinput``); empty in any other process."""
    given: dict[str, Any] = getattr(config, "workerinput", {})
    return given
