"""Frameworks' start-up logs stay out of the suite's output unless the user asks for them
(``TF_CPP_MIN_LOG_LEVEL``): in one process, in xdist workers, in the listing and the dry run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pytest_twolayer.host.framework_logs import LEVEL_VARIABLE, QUIET
from tests.support.sessions import run_as_user

ANY_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:)", re.M)


def pytest_in(folder: Path, env: dict[str, str], *args: str) -> str:
    done = run_as_user(["pytest", "-p", "twolayer", "-p", "no:cacheprovider", *args], folder, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


EXPECTED = "TWOLAYER_TEST_EXPECTED_LEVEL"
LEVEL_SEEN = f"""
import os


def test_level_seen(twolayer_case):
    assert os.environ.get("{LEVEL_VARIABLE}") == os.environ["{EXPECTED}"]
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--impl", "tf-static,numpy", "-n", "2"],
        ["--impl", "tf-static,numpy", "-n", "0"],
        ["--twolayer-list"],
    ],
    ids=["xdist workers", "one process", "list"],
)
def test_no_framework_log_line_by_default(tmp_path: Path, args: list[str]):
    """Where TensorFlow is imported (the workers too), the level is quiet, and no log line
    reaches the output; the own test ``level_seen`` fails otherwise (and so the run). (The
    dry run imports as ``-n 0`` does, at configure time; the listing before it.)"""
    env = {k: v for k, v in os.environ.items() if k not in (LEVEL_VARIABLE, "PYTEST_ADDOPTS")}
    (tmp_path / "test_level.py").write_text(LEVEL_SEEN)
    if "--impl" in args:
        args = [*args, "test_level.py", "-k", "params_canonical or level_seen"]
    output = pytest_in(tmp_path, env | {EXPECTED: QUIET}, *args)
    assert not ANY_LOG_LINE.findall(output), output


def test_the_users_level_wins(tmp_path: Path):
    """The level the user set is the one implementations see (the filter keeps what it
    shows: see tests/unit/test_framework_logs.py)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env |= {LEVEL_VARIABLE: "0", EXPECTED: "0"}
    (tmp_path / "test_level.py").write_text(LEVEL_SEEN)
    output = pytest_in(tmp_path, env, "--impl", "numpy", "test_level.py", "-k", "level_seen")
    assert "2 passed" in output  # in each of numpy's dtypes
