"""Reproduction: a failing check's report ends with a pytest command that reruns exactly that
check, and a ``python -c`` command that reruns it without pytest; both run from the folder
the run started in, both give the same verdict, and both survive ``shlex.split``."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from pytest_twolayer.outcomes.reproduction import HEADER, PYTEST_HEADER
from tests.support.sessions import run_as_user

MYBUGS = """
from pytest_twolayer.zoo.numpy_bugs import NoReluMask


class NoMask(NoReluMask):
    '''A user's net that forgets the ReLU mask in its backward pass.'''
"""

HOOK = """
from mybugs import NoMask


def pytest_twolayer_register(registry):
    registry.add("nomask", NoMask)
"""

CONFTEST = """
from pytest_twolayer.zoo.numpy_bugs import LrDoubled


def pytest_twolayer_register(registry):
    registry.add("lr2", "pytest_twolayer.zoo.numpy_bugs:LrDoubled")

    class Local(LrDoubled):  # defined in a function: no import path reaches it
        pass

    registry.add("local", Local)
"""

VERDICT = (
    "[[]update_follows_rule[]] impl={name} device=cpu dtype=float64 seed=3: "
    "after step #1 w1 moved *"
)


def run(pytester: pytest.Pytester, impl: str, *extra: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    return pytester.runpytest(
        "-p", "twolayer", "--impl", impl, "-k", "update or params_canonical",
        "--twolayer-seed", "3", "-p", "no:cacheprovider", *extra,
    )  # fmt: skip


def failures(lines: list[str]) -> list[str]:
    """The output up to pytest's short summary, which repeats each failure's whole message
    where a CI variable is set (as in this project's CI)."""
    summary = [i for i, line in enumerate(lines) if "short test summary info" in line]
    return lines[: summary[0]] if summary else lines


def after(lines: list[str], header: str) -> list[str]:
    """The commands printed after ``header`` (the pytest line carries it on the same line)."""
    found = []
    lines = failures(lines)
    for i, line in enumerate(lines):
        if line.startswith(f"  {header} "):
            found.append(line.removeprefix(f"  {header} "))
        elif line == f"  {header}":
            found.append(lines[i + 1].strip())
    return found


def verdicts(lines: list[str]) -> list[str]:
    return [line for line in failures(lines) if line.startswith("[") and "] impl=" in line]


def rerun(words: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A printed command, run from ``cwd`` as a user would paste it (``pytest`` and
    ``python`` are this interpreter's)."""
    return run_as_user(words, cwd, timeout=300)


def test_a_failure_ends_with_both_commands(pytester: pytest.Pytester):
    result = run(pytester, "lr2")
    result.assert_outcomes(passed=1, failed=1)  # a passing check gets no commands
    result.stdout.fnmatch_lines(
        [
            VERDICT.format(name="lr2"),
            "  reproduce: pytest -p twolayer --impl lr2 --device cpu --twolayer-seed 3 "
            "-k 'test_update_follows_rule[[]lr2-cpu-float64[]]'",
            f"  {HEADER}",
            '    python -c "from pytest_twolayer import Case, Dims; '
            "from pytest_twolayer.conformance.test_update import check_update_follows_rule "
            "as check; from pytest_twolayer.zoo.numpy_bugs import LrDoubled as Impl; "
            "check(Case('lr2', Impl, 'cpu', 'float64', seed=3, "
            'dims=Dims(N=64, D_in=1000, H=100, D_out=10)))"',
        ]
    )
    # once, in the failure (a CI terminal's short summary repeats whole messages)
    assert result.stdout.str().split("short test summary info")[0].count(HEADER) == 1


def test_the_snippet_reruns_the_check_to_the_same_verdict(pytester: pytest.Pytester):
    result = run(pytester, "lr2")
    [verdict] = verdicts(result.outlines)
    [command] = after(result.outlines, HEADER)
    words = shlex.split(command)
    assert words[:2] == ["python", "-c"]
    again = rerun(words, pytester.path)
    assert again.returncode == 1
    assert (
        again.stderr.splitlines()[-1]
        == f"pytest_twolayer.checking.case.ConformanceFailure: {verdict}"
    )


MAKE = {
    # how the user registered their net -> (the --impl they gave, the selector printed)
    "command line, named": ("nomask=mybugs:NoMask", "nomask=mybugs:NoMask"),
    "command line, unnamed": ("mybugs:NoMask", "mybugs:NoMask"),
    "register hook": ("nomask", "nomask"),
}


@pytest.mark.parametrize("how", list(MAKE))
def test_the_pytest_command_reruns_exactly_the_failing_check(pytester: pytest.Pytester, how: str):
    """The user's own net, registered three ways: each failure's ``reproduce:`` line, run from
    the same folder, runs that one check (no other) and reaches the same verdict."""
    impl, selector = MAKE[how]
    pytester.makepyfile(mybugs=MYBUGS)
    if how == "register hook":
        pytester.makeconftest(HOOK)
    first = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", impl, "-k", "update or gradients_match or params_canonical",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    first.assert_outcomes(passed=1, failed=2)
    commands = after(first.outlines, PYTEST_HEADER)
    assert len(commands) == 2
    for command, verdict in zip(commands, verdicts(first.outlines), strict=True):
        words = shlex.split(command)
        assert shlex.join(words) == command
        assert words[:5] == ["pytest", "-p", "twolayer", "--impl", selector], command
        again = rerun(words, pytester.path)
        outcome = pytest.RunResult(again.returncode, again.stdout.splitlines(), [], 0.0)
        outcome.assert_outcomes(failed=1, deselected=outcome.parseoutcomes()["deselected"])
        assert verdicts(outcome.outlines) == [verdict]
        assert after(outcome.outlines, PYTEST_HEADER) == [command]  # and it says so again


def test_a_users_own_test_is_named_with_its_file(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_mine="""
        def test_mine(twolayer_case):
            twolayer_case.fail("mine.always", "my own verdict")
        """
    )
    first = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy", "--twolayer-no-suite", "-p", "no:cacheprovider"
    )
    first.assert_outcomes(failed=2)  # numpy's two dtypes
    [command, _] = after(first.outlines, PYTEST_HEADER)
    words = shlex.split(command)
    assert words[-3:] == ["test_mine.py", "-k", "test_mine[numpy-cpu-float64]"]
    assert HEADER not in first.stdout.str()  # its module need not import by name
    again = rerun(words, pytester.path)
    outcome = pytest.RunResult(again.returncode, again.stdout.splitlines(), [], 0.0)
    outcome.assert_outcomes(failed=1, deselected=outcome.parseoutcomes()["deselected"])
    assert verdicts(outcome.outlines) == [
        "[mine.always] impl=numpy device=cpu dtype=float64 seed=0: my own verdict"
    ]


SLOW = """
import time

import numpy as np

from pytest_twolayer.implementations.numpy_net import NumpyNet


class Slow(NumpyNet):
    '''NumpyNet with a 5 ms nap in every step: slower than numpy, whatever the load; and it
    keeps 5 KiB of every step: its memory never levels off.'''

    def step(self, x, y):
        time.sleep(0.005)
        self.__dict__.setdefault("kept", []).append(np.ones(640))
        return super().step(x, y)
"""


@pytest.mark.parametrize(
    ("steps", "gate", "label", "argument"),
    [
        (20, ["--twolayer-budget", "slow=0.001"], "benchmark_step.budget", "budget_s=1e-06"),
        (
            20,
            ["--twolayer-max-ratio", "slow:numpy=1.01"],
            "benchmark_step.ratio",
            "reference=Case('numpy', Reference, 'cpu', 'float64', seed=0, dims=",
        ),
        # Memory is judged over runs of 100 steps or more.
        (
            120,
            ["--twolayer-max-memory-growth", "slow=2"],
            "benchmark_step.memory",
            "max_memory_growth=2048.0",
        ),
    ],
    ids=["budget", "ratio", "memory"],
)
def test_a_benchmark_failure_carries_both_commands(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    steps: int,
    gate: list[str],
    label: str,
    argument: str,
):
    # One BLAS thread per host: under -n 2 the reference's two spinning threads, sharing two
    # cores with the other worker's run, took its step from 0.5 ms to 9.5 ms (ratio 0.82x).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    pytester.makepyfile(slownet=SLOW)
    first = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "slow=slownet:Slow", "-k", "benchmark",
        "--twolayer-benchmark-steps", str(steps), *gate, "-p", "no:cacheprovider",
    )  # fmt: skip
    first.assert_outcomes(failed=1)
    [verdict] = verdicts(first.outlines)
    assert verdict.startswith(f"[{label}] impl=slow device=cpu dtype=float64 seed=0: ")
    [command] = after(first.outlines, PYTEST_HEADER)
    assert shlex.split(command)[4:] == [
        "slow=slownet:Slow", "--device", "cpu", "--twolayer-seed", "0",
        "--twolayer-benchmark-steps", str(steps), *gate,
        "-k", "test_benchmark_step[slow-cpu-float64]",
    ]  # fmt: skip
    again = rerun(shlex.split(command), pytester.path)
    outcome = pytest.RunResult(again.returncode, again.stdout.splitlines(), [], 0.0)
    outcome.assert_outcomes(failed=1, deselected=outcome.parseoutcomes()["deselected"])
    assert [v.partition(": ")[0] for v in verdicts(outcome.outlines)] == [
        verdict.partition(": ")[0]
    ]
    [code] = after(first.outlines, HEADER)
    assert f"steps={steps}, " in code
    assert argument in code
    again = rerun(shlex.split(code), pytester.path)
    assert again.returncode == 1, again.stderr
    last = again.stderr.splitlines()[-1]
    assert last.startswith(
        f"pytest_twolayer.checking.case.ConformanceFailure: {verdict.partition(': ')[0]}"
    )


def test_a_class_without_an_import_path_gets_no_snippet(pytester: pytest.Pytester):
    # in one process: sealed, a class made in a function is refused (test_sealed_unreachable)
    result = run(pytester, "local", "--twolayer-isolation", "none")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            VERDICT.format(name="local"),
            "  reproduce: pytest -p twolayer --impl local --device cpu --twolayer-seed 3 "
            "-k 'test_update_follows_rule[[]local-cpu-float64[]]'",
        ]
    )
    assert HEADER not in result.stdout.str()
