"""An ``--impl`` run is parallel across implementations unless the user says otherwise.

``pytest -p twolayer --impl all`` checks the implementations in parallel: when the user has
not chosen how to distribute (no ``-n``, ``--dist`` or ``--tx``, on the command line or in
``addopts``), the run asks pytest-xdist for ``-n auto``, and xdist's own
``pytest_xdist_auto_num_workers`` hook decides how many workers that is (one per core, or
``PYTEST_XDIST_AUTO_NUM_WORKERS``). This module wraps that hook to cap the answer: at most
one worker per selected implementation (the scheduler keeps each implementation on one
worker, see :mod:`.scheduler`) and, where cuda may run, one per GPU (two workers timing
steps on one GPU would each measure the other's work too). A run that would get fewer than
two workers stays in the pytest process. ``-n 0`` always does.

A run also stays in one process when a worker cannot do what was asked: debugging (``--pdb``,
``--trace``), output shown live (``-s``), ``--collect-only`` and the setup-only modes,
``--stepwise``, ``--looponfail``, a dry run or listing.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import pytest

from pytest_twolayer.host.machine import visible_gpu_count
from pytest_twolayer.parallel import is_worker
from pytest_twolayer.run.options import settings_of

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
)
"""pytest's and xdist's options (by their ``dest``) under which a run stays in the pytest
process; the plugin's own (the dry run, the listing) are read from its settings."""

AUTO = "auto"


def user_chose_distribution(config: pytest.Config) -> bool:
    """``-n``, ``--dist`` or ``--tx`` given (``-n 0`` included), or this is a worker."""
    option = config.option
    return (
        getattr(option, "numprocesses", None) is not None
        or getattr(option, "dist", "no") != "no"
        or bool(getattr(option, "tx", None))
        or is_worker(config)
    )


def tx_without_dist(config: pytest.Config) -> bool:
    """``--tx`` given with neither ``-n`` nor ``--dist`` (xdist alone would not distribute)."""
    option = config.option
    return (
        not is_worker(config)  # a worker is handed the controller's --tx too
        and bool(getattr(option, "tx", None))
        and getattr(option, "dist", "no") == "no"
        and not getattr(option, "numprocesses", None)
        and not needs_one_process(config)
    )


def needs_one_process(config: pytest.Config) -> bool:
    """Whether something asked for makes sense only inside the pytest process."""
    if config.getoption("capture", "fd") == "no":  # -s: the user wants to see output live
        return True
    settings = settings_of(config)
    if settings.dry_run or settings.listing:
        return True
    return any(config.getoption(dest, False) for dest in IN_PROCESS_OPTIONS)


def free_to_choose(config: pytest.Config) -> bool:
    """xdist is there, the user left the distribution to us, and workers could do the job."""
    return (
        config.pluginmanager.has_plugin("xdist")
        and not user_chose_distribution(config)
        and not needs_one_process(config)
    )


def may_run_cuda(config: pytest.Config) -> bool:
    """GPUs are visible and ``--device`` asks for cuda or for whatever is available."""
    if not visible_gpu_count():
        return False
    requested = settings_of(config).devices
    return not requested or "cuda" in requested


def decide(config: pytest.Config, workers: int, implementations: int, *, chosen: bool) -> int:
    """``workers`` (xdist's count) capped by the implementations and, for cuda, the GPUs.

    For a run whose distribution this plugin ``chosen``, fewer than two workers means none
    (one worker is one process, only slower); the user's own ``-n auto`` gets at least one.
    """
    capped = min(workers, implementations)
    if may_run_cuda(config):
        capped = min(capped, visible_gpu_count())
    if not chosen:
        return max(capped, 1)
    return capped if capped >= 2 else 0


def chosen_by_default(config: pytest.Config) -> bool:
    """Whether this plugin chose to distribute the run (the user did not)."""
    return WORKERS_KEY in config.stash


class DefaultWorkers:
    """Asks xdist for ``-n auto`` on an undistributed ``--impl`` run, and caps its answer.

    ``count_implementations(config)`` counts what ``--impl`` selects without importing it.
    """

    def __init__(self, count_implementations: Callable[[pytest.Config], int]) -> None:
        self.count_implementations = count_implementations
        self.chosen = False

    @pytest.hookimpl(wrapper=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> Generator[None, object, object]:
        # A wrapper runs before every plain implementation, xdist's tryfirst one included.
        if settings_of(config).active:
            if free_to_choose(config):
                config.option.numprocesses = AUTO
                self.chosen = True
            elif tx_without_dist(config):
                # --tx names the workers to run on: distribute over them, as asked.
                config.option.dist = "load"
        return (yield)

    @pytest.hookimpl(wrapper=True, optionalhook=True)  # a hook of xdist's: may be switched off
    def pytest_xdist_auto_num_workers(self, config: pytest.Config) -> Generator[None, int, int]:
        workers = yield  # xdist's own count: PYTEST_XDIST_AUTO_NUM_WORKERS, else the cores
        if not settings_of(config).active:
            return workers
        implementations = self.count_implementations(config)
        workers = decide(config, workers, implementations, chosen=self.chosen)
        if self.chosen and workers:
            config.stash[WORKERS_KEY] = workers
        return workers
