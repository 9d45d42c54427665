"""Configuration of the plugin's own tests: hypothesis profiles, one process per run they
start, and how ``pytest -n auto`` spreads them over workers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI must be reproducible: a derandomized profile runs the same examples every time.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


XDIST_WORKER_VARIABLES = (
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
)
"""What an xdist worker running these tests (``pytest -n auto``) puts in its environment."""


@pytest.fixture(autouse=True)
def one_process_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pytest runs these tests start stay in one process unless a test passes ``-n``:
    an ``--impl`` run is otherwise parallel on every core (see pytest_twolayer.parallel).
    And they are not workers of the run that runs these tests: pytest-benchmark (and a
    test's own plugin) would read this worker's variables as their own."""
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "1")
    for name in XDIST_WORKER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


FIRST = Path(__file__).parent / "e2e" / "test_zoo_verdicts.py"
"""The file whose module fixture runs the whole zoo, the longest of these files: under xdist
it starts first, so that the other files fill the other workers meanwhile instead of waiting
for it at the end."""


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent under -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``pytest -n auto`` on these tests sends whole files to workers (xdist's ``--dist
    loadfile``): a module's fixtures, the zoo's run above all, then run once, not on every
    worker. An ``--impl`` run from this checkout (whose scheduler is the plugin's), or another
    ``--dist``, is left alone."""
    if config.getoption("dist") != "load" or config.getoption("impl", None):
        return None
    from xdist.scheduler import LoadFileScheduling

    return LoadFileScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput") and not config.getoption("impl", None):
        items.sort(key=lambda item: item.path != FIRST)  # stable: the rest keep order
