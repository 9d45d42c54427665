"""A class registered as an object that a host cannot import by name (made inside a function)
is refused, sealed, with one line that names it and the way out; its neighbours run sealed as
before, and the same registration runs in one process with ``--twolayer-isolation none``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sessions import run_as_user

CONFTEST = """
from pytest_twolayer.implementations.numpy_net import NumpyNet


class TopLevel(NumpyNet):
    pass


def made_in_a_function():
    class Inner(NumpyNet):
        pass

    return Inner


def pytest_twolayer_register(registry):
    registry.add("top", TopLevel)
    registry.add("inner", made_in_a_function())
"""

LOADS = ["pytest", "-p", "twolayer", "--impl", "top,inner", "-k", "implementation_loads", "-rA"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("unreachable")
    (path / "conftest.py").write_text(CONFTEST)
    return path


def test_sealed_a_class_made_in_a_function_is_refused_naming_it(folder: Path):
    done = run_as_user([*LOADS, "--twolayer-isolation", "process"], folder)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-3000:]
    refusal = next(line for line in done.stdout.splitlines() if "cannot run sealed" in line)
    assert "'inner' (register hook conftest:made_in_a_function.<locals>.Inner)" in refusal
    assert "is defined inside a function" in refusal
    assert "--twolayer-isolation none" in refusal
    passed = [line for line in done.stdout.splitlines() if line.startswith("PASSED")]
    assert len(passed) == 1
    assert "implementation_loads[top" in passed[0]


def test_in_one_process_the_same_registration_loads(folder: Path):
    done = run_as_user([*LOADS, "--twolayer-isolation", "none"], folder)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 passed" in done.stdout
