"""An ``--impl`` run is parallel across implementations unless the user says otherwise.

DESIGN.md: ``pytest -p twolayer --impl all`` checks every implementation "in parallel
across implementations". When pytest-xdist is installed and the user has not chosen how to
distribute (no ``-n``, ``--dist`` or ``--tx``, in the command line or in ``addopts``), the
run starts one xdist worker per core, at most one per selected implementation, and the
plugin's scheduler keeps each implementation on one worker (:mod:`.scheduling`). ``-n 0``
runs everything in the pytest process, as without this plugin.

A run stays in one process when a worker cannot do what was asked: debugging (``--pdb``,
``--trace``), output shown live (``-s``), ``--collect-only`` and the setup-only modes,
``--stepwise``, a dry run or listing, a single implementation, or a single core.
``PYTEST_XDIST_AUTO_NUM_WORKERS`` (pytest-xdist's own setting for ``-n auto``) replaces
the core count. Where cuda may run (GPUs visible, and ``--device`` does not leave cuda
out) there is at most one worker per GPU: two workers timing steps on one GPU would each
measure the other's work too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator

import pytest

from pytest_twolayer.devices import visible_gpu_count
from pytest_twolayer.options import parse_devices
from pytest_twolayer.workers import available_cores

WORKERS_KEY = pytest.StashKey[int]()
"""The number of workers this plugin chose (absent when the user chose, or none run)."""

IN_PROCESS_OPTIONS = (
    "usepdb",  # --pdb
    "trace",  # --trace
    "collectonly",  # --collect-only
    "setuponly",  # --setup-only
    "setupplan",  # --setup-plan
    "stepwise",  # --stepwise
    "stepwise_skip",  # --stepwise-skip
    "looponfail",  # --looponfail: xdist's own loop decides how to run
    "twolayer_dry_run",  # --twolayer-dry-run
    "twolayer_list",  # --twolayer-list
)
"""Options (by their ``dest``) under which a run stays in the pytest process."""


def user_chose_distribution(config: pytest.Config) -> bool:
    """``-n``, ``--dist`` or ``--tx`` given (``-n 0`` included), or this is a worker."""
    option = config.option
    return (
        getattr(option, "numprocesses", None) is not None
        or getattr(option, "dist", "no") != "no"
        or bool(getattr(option, "tx", None))
        or hasattr(config, "workerinput")
    )


def needs_one_process(config: pytest.Config) -> bool:
    """Whether something asked for makes sense only inside the pytest process."""
    if config.getoption("capture", "fd") == "no":  # -s: the user wants to see output live
        return True
    return any(config.getoption(dest, False) for dest in IN_PROCESS_OPTIONS)


def core_count() -> int:
    """Cores to use: ``PYTEST_XDIST_AUTO_NUM_WORKERS`` when set to a number, else this
    process's cores."""
    value = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").strip()
    if value.isdigit():
        return int(value)
    return len(available_cores())


def free_to_choose(config: pytest.Config) -> bool:
    """xdist is there, the user left the distribution to us, and workers could do the job."""
    return (
        config.pluginmanager.has_plugin("xdist")
        and not user_chose_distribution(config)
        and not needs_one_process(config)
    )


def default_workers(config: pytest.Config, implementations: int) -> int:
    """Workers for an ``--impl`` run of ``implementations`` implementations: 0 for none."""
    if not free_to_choose(config):
        return 0
    workers = min(core_count(), implementations)
    if may_run_cuda(config):
        workers = min(workers, visible_gpu_count())
    return workers if workers >= 2 else 0


def may_run_cuda(config: pytest.Config) -> bool:
    """GPUs are visible and ``--device`` asks for cuda or for whatever is available."""
    if not visible_gpu_count():
        return False
    try:
        requested = parse_devices(config.getoption("device", []) or [])
    except ValueError:  # reported by pytest_configure
        return False
    return not requested or "cuda" in requested


def apply(config: pytest.Config, implementations: int) -> None:
    """Turn an undistributed ``--impl`` run into ``-n N`` (before pytest-xdist reads it)."""
    workers = default_workers(config, implementations)
    if workers:
        config.option.numprocesses = workers
        config.stash[WORKERS_KEY] = workers


def header(config: pytest.Config) -> list[str]:
    """The header line saying that, and why, the run is parallel."""
    workers = config.stash.get(WORKERS_KEY, 0)
    if not workers:
        return []
    return [
        f"twolayer: {workers} xdist workers, one implementation per worker at a time "
        "(the default for --impl; -n 0 runs in this process)"
    ]


class DefaultParallelism:
    """The hook that makes the choice, around pytest-xdist's own ``pytest_cmdline_main``.

    ``count_implementations(config)`` counts what ``--impl`` selects without importing it.
    """

    def __init__(self, count_implementations: Callable[[pytest.Config], int]) -> None:
        self.count_implementations = count_implementations

    @pytest.hookimpl(wrapper=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> Generator[None, object, object]:
        # A wrapper runs before every plain implementation, xdist's tryfirst one included.
        # Counting runs the register hooks: only when the count can matter (not on workers).
        if config.getoption("impl", None) and free_to_choose(config):
            apply(config, self.count_implementations(config))
        return (yield)
