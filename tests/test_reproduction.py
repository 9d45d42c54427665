"""Reproduction snippets: a failing conformance check's report ends with a ``python -c``
command that reruns the check without pytest, and running it gives the same verdict."""

from __future__ import annotations

import shlex
import subprocess
import sys
import types

import pytest

from pytest_twolayer import suite
from pytest_twolayer.case import Case
from pytest_twolayer.reproduction import HEADER, check_function, snippet
from pytest_twolayer.zoo.numpy_bugs import LrDoubled

CONFTEST = """
from pytest_twolayer.zoo.numpy_bugs import LrDoubled


def pytest_twolayer_register(registry):
    registry.add("lr2", "pytest_twolayer.zoo.numpy_bugs:LrDoubled")

    class Local(LrDoubled):  # defined in a function: no import path reaches it
        pass

    registry.add("local", Local)
"""

VERDICT = "[[]update.rule[]] impl={name} device=cpu dtype=float64 seed=3: after step #1 w1 moved *"


def run(pytester: pytest.Pytester, impl: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    return pytester.runpytest(
        "-p", "twolayer", "--impl", impl, "-k", "update or params_canonical",
        "--twolayer-seed", "3", "-p", "no:cacheprovider",
    )  # fmt: skip


def test_a_failure_ends_with_a_snippet_that_reproduces_it(pytester: pytest.Pytester):
    result = run(pytester, "lr2")
    result.assert_outcomes(passed=1, failed=1)  # a passing check gets no snippet
    result.stdout.fnmatch_lines(
        [
            VERDICT.format(name="lr2"),
            "  reproduce: pytest -p twolayer --impl lr2 --device cpu --twolayer-seed 3",
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
    lines = result.outlines
    verdict = next(line for line in lines if line.startswith("[update.rule] impl=lr2"))
    command = shlex.split(lines[lines.index(f"  {HEADER}") + 1])
    assert command[:2] == ["python", "-c"]
    rerun = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 1
    assert rerun.stderr.splitlines()[-2:] == [
        f"pytest_twolayer.case.ConformanceFailure: {verdict}",
        "  reproduce: pytest -p twolayer --impl lr2 --device cpu --twolayer-seed 3",
    ]


def test_a_class_without_an_import_path_gets_no_snippet(pytester: pytest.Pytester):
    result = run(pytester, "local")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            VERDICT.format(name="local"),
            "  reproduce: pytest -p twolayer --impl local --device cpu --twolayer-seed 3",
        ]
    )
    assert HEADER not in result.stdout.str()


def test_only_plain_functions_of_a_case_are_offered(monkeypatch: pytest.MonkeyPatch):
    assert check_function(suite.check("update_follows_rule")) is not None
    assert check_function(suite.check("training")) is not None  # `record` has a default
    assert check_function(suite.check("implementation_loads")) is None  # a check of the class
    module = types.ModuleType("fake")
    exec(
        "from pytest_twolayer.case import Case\n"
        "def check_needs_more(case: Case, extra): pass\n"
        "def check_not_a_case(n: int): pass\n"
        "def check_keyword_only(*, case: Case): pass\n"
        "check_not_a_function = 3\n",
        module.__dict__,
    )
    monkeypatch.setitem(sys.modules, f"{suite.SUITE_PACKAGE}.test_fake", module)
    for check in ("needs_more", "not_a_case", "keyword_only", "not_a_function", "missing"):
        assert check_function(suite.Check(check, "fake", ())) is None, check


def test_a_name_that_double_quotes_cannot_hold_is_single_quoted():
    case = Case('say "hi" $HOME', LrDoubled, "cpu", "float64", seed=0)
    line = snippet(case, suite.check("update_follows_rule"))
    assert line is not None
    assert line.startswith("python -c '")
    code = shlex.split(line)[2]
    compile(code, "<snippet>", "exec")
    assert "Case('say \"hi\" $HOME', Impl," in code
