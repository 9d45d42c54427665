"""Setting up pytester sessions that check small broken implementations, and running a
command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest


def with_exhibits(pytester: pytest.Pytester, exhibits: str, conftest: str) -> pytest.Pytester:
    """``exhibits.py`` (importable) and a ``conftest.py`` registering its classes."""
    pytester.makepyfile(exhibits=exhibits)
    pytester.makeconftest(conftest)
    pytester.syspathinsert()
    return pytester


def run_as_user(
    argv: list[str], folder: Path, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``argv`` run from ``folder`` in a process of its own, as a user runs a command there
    (``pytest`` and ``python`` are this interpreter's); ``PYTEST_ADDOPTS`` of the run that
    runs these tests is not the user's, nor are the variables an xdist worker running them
    carries (``PYTEST_XDIST_WORKER`` makes pytest-benchmark take the user's run for a worker
    and disable the benchmarks), nor anything else ``env`` leaves out."""
    program = {"pytest": [sys.executable, "-m", "pytest"], "python": [sys.executable]}
    base = os.environ if env is None else env
    return subprocess.run(
        [*program.get(argv[0], [argv[0]]), *argv[1:]],
        cwd=folder,
        env={k: v for k, v in base.items() if not _of_the_running_tests(k)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _of_the_running_tests(variable: str) -> bool:
    return variable == "PYTEST_ADDOPTS" or variable.startswith(("PYTEST_XDIST_", "PYTEST_CURRENT"))
