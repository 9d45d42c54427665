"""Options are read once per process, and the registry is built once per process, on the
xdist controller and on every worker alike."""

from __future__ import annotations

import json

import pytest

from pytest_twolayer.run import options

COUNTING_CONFTEST = """
import json, os

from pytest_twolayer.zoo.numpy_bugs import NumpyControl


def pytest_twolayer_register(registry):
    with open("register-calls.jsonl", "a") as log:
        log.write(json.dumps(os.getpid()) + "\\n")
    registry.add("mine", NumpyControl)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("workers", "args", "processes"),
    [
        ("2", ("-n", "0"), 1),  # the user's choice: one process
        ("1", (), 1),  # the default, on one core: counted, then one process
        ("2", (), 3),  # the default, on two cores: the controller and its two workers
    ],
    ids=["n0", "default-one-core", "default-two-workers"],
)
def test_the_registry_is_built_once_per_process(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
    args: tuple[str, ...],
    processes: int,
):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", workers)
    pytester.makeconftest(COUNTING_CONFTEST)
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,mine", "-k", "implementation_loads", *args
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    log = (pytester.path / "register-calls.jsonl").read_text()
    calls = [json.loads(line) for line in log.split()]
    assert len(calls) == processes, calls
    assert len(set(calls)) == processes  # once in each


def test_options_are_read_once(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    reads: list[object] = []
    read = options.read

    def counting(config: pytest.Config) -> options.Settings:
        reads.append(config)
        return read(config)

    monkeypatch.setattr(options, "read", counting)
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "numpy", "-k", "implementation_loads or training"
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    assert len(reads) == 1


def test_a_plain_run_reads_no_twolayer_setting(pytester: pytest.Pytester):
    """Without --impl the plugin is inert: a bad ini value of its own does not fail a run."""
    pytester.makeini("[pytest]\ntwolayer_budget = nonsense\ntwolayer_timeout = never\n")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "twolayer")
    result.assert_outcomes(passed=1)
