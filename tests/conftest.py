"""Configuration of the plugin's own tests: hypothesis profiles, and one process per run."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI must be reproducible: a derandomized profile runs the same examples every time.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def one_process_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pytest runs these tests start stay in one process unless a test passes ``-n``:
    an ``--impl`` run is otherwise parallel on every core (see pytest_twolayer.parallel)."""
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "1")
