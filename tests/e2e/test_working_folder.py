"""A run leaves the folder it starts in as it found it (pytest's own cache aside), unless the
user asked for files there: pytest-benchmark's storage when saving, hypothesis's when their
own tests use it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import _settings

from pytest_twolayer.checking.strategies import STORAGE_VARIABLE
from tests.support.sessions import run_as_user

CI_VARIABLES = tuple(getattr(_settings, "_CI_VARS", ("CI",)))
"""The variables by which hypothesis knows it runs on a CI (its own list, where it has one)."""


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pytest ARGS`` run in ``folder`` as a user runs it there, on their own machine:
    where a CI variable is set, hypothesis loads its "ci" profile, which keeps no examples."""
    env = {k: v for k, v in os.environ.items() if k not in (STORAGE_VARIABLE, *CI_VARIABLES)}
    return run_as_user(["pytest", *args], folder, env)


CONTROL = "pytest_twolayer.zoo.numpy_bugs:NumpyControl"  # numpy's net again: no framework


@pytest.mark.parametrize("processes", [["-n", "0"], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_run_leaves_an_empty_folder_empty(tmp_path: Path, processes: list[str]):
    """The README's main command on two implementations, in one process and with workers,
    running the checks that made the folders (hypothesis's and the benchmark's): nothing is
    left but pytest's own cache."""
    done = pytest_in(
        tmp_path, "-p", "twolayer", "--impl", f"numpy,{CONTROL}", *processes,
        "-k", "any_dims or benchmark", "--twolayer-benchmark-steps", "20",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert sorted(os.listdir(tmp_path)) == [".pytest_cache"]


def test_benchmark_storage_is_kept_when_the_user_saves(tmp_path: Path):
    done = pytest_in(
        tmp_path, "-p", "twolayer", "--impl", "numpy", "-k", "benchmark", "-p", "no:cacheprovider",
        "--twolayer-benchmark-steps", "10", "--benchmark-save", "baseline",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert os.listdir(tmp_path) == [".benchmarks"]
    assert [p.name for p in (tmp_path / ".benchmarks").glob("*/*.json")] == ["0001_baseline.json"]


def test_a_folder_that_was_there_stays(tmp_path: Path):
    (tmp_path / ".benchmarks").mkdir()
    done = pytest_in(
        tmp_path, "-p", "twolayer", "--impl", "numpy", "-k", "params_canonical",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert os.listdir(tmp_path) == [".benchmarks"]


def test_the_users_own_property_tests_keep_their_storage(tmp_path: Path):
    """A user's failing property test beside the suite: hypothesis saves its example in
    ``.hypothesis/`` of their folder, as it would without the plugin."""
    (tmp_path / "test_mine.py").write_text(
        "from hypothesis import given, strategies as st\n\n"
        "@given(st.integers())\n"
        "def test_small(n):\n"
        "    assert n < 10\n"
    )
    done = pytest_in(
        tmp_path, "-p", "twolayer", "--impl", "numpy", "test_mine.py", "-p", "no:cacheprovider",
        "-k", "small or any_dims", "-n", "0",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 failed, 2 passed" in done.stdout
    assert list((tmp_path / ".hypothesis" / "examples").iterdir())
