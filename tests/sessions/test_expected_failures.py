"""Expected failures: a declared ``{check id: reason}`` turns that check into a strict xfail, so
a known failure passes the run and a fixed one fails it; bad declarations are caught.

The implementations are zoo exhibits (``LrDoubled`` fails only ``update_follows_rule``) and
the correct ``NumpyBase``, subclassed in a module the conftest registers, as a user would.
"""

from __future__ import annotations

import re

import pytest

from pytest_twolayer.spec.contract import expected_failures_problem
from tests.support.sessions import with_exhibits

EXHIBITS = """
from pytest_twolayer.zoo.numpy_bugs import LrDoubled, NumpyBase


class Declared(LrDoubled):
    expected_failures = {"update_follows_rule": "steps with twice the rate, see #12"}


class Fixed(NumpyBase):
    expected_failures = {"update_follows_rule": "steps with twice the rate, see #12"}


class PerDtype(LrDoubled):
    dtypes = ("float64", "float32")
    expected_failures = {"update_follows_rule[cpu-float32]": "float32 only"}


class Typo(NumpyBase):
    expected_failures = {"trainig": "diverges", "update_follows_rule[cuda]": "no cuda rule"}


class EmptyReason(NumpyBase):
    expected_failures = {"update_follows_rule": ""}


class NotADict(NumpyBase):
    expected_failures = ["update_follows_rule"]


class BadQualifier(NumpyBase):
    expected_failures = {"update_follows_rule[tpu]": "no tpu"}


class ReseedsDeclared(NumpyBase):
    expected_failures = {"global_state_untouched": "reseeds numpy's global RNG, see #7"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import numpy as np

        np.random.seed(0)
"""

CONFTEST = """
NAMES = {
    "lr2": "pytest_twolayer.zoo.numpy_bugs:LrDoubled",
    "declared": "exhibits:Declared",
    "fixed": "exhibits:Fixed",
    "perdtype": "exhibits:PerDtype",
    "typo": "exhibits:Typo",
    "empty": "exhibits:EmptyReason",
    "notdict": "exhibits:NotADict",
    "badqual": "exhibits:BadQualifier",
    "reseeds": "exhibits:ReseedsDeclared",
}


def pytest_twolayer_register(registry):
    for name, target in NAMES.items():
        registry.add(name, target)
"""


@pytest.fixture
def zoo(pytester: pytest.Pytester) -> pytest.Pytester:
    return with_exhibits(pytester, EXHIBITS, CONFTEST)


def run(pytester: pytest.Pytester, impl: str, checks: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "twolayer", "--impl", impl, "-k", checks, "-rA", "-p", "no:cacheprovider", *args
    )


def test_a_failing_check_passes_the_run_once_declared_expected(zoo: pytest.Pytester):
    undeclared = run(zoo, "lr2", "update")
    undeclared.assert_outcomes(failed=1)
    assert undeclared.ret == pytest.ExitCode.TESTS_FAILED

    declared = run(zoo, "declared", "update")
    declared.assert_outcomes(xfailed=1)
    assert declared.ret == pytest.ExitCode.OK
    declared.stdout.fnmatch_lines(
        [
            "XFAIL *::test_update_follows_rule[[]declared-cpu-float64[]] - "
            "steps with twice the rate, see #12"
        ]
    )
    assert "TwoLayerWarning" not in declared.stdout.str()


def test_an_expected_failure_that_passes_fails_the_run(zoo: pytest.Pytester):
    result = run(zoo, "fixed", "update")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "[[]XPASS(strict)[]] update_follows_rule passed, but 'fixed' declares it an "
            "expected failure (steps with twice the rate, see #12): remove "
            "'update_follows_rule' from its expected_failures"
        ]
    )


def test_the_global_state_check_is_declared_for_the_calls_that_fail(zoo: pytest.Pytester):
    """One test per contract call: the call that reseeds fails as declared, the others pass
    without failing the run (a strict expectation would fail every one of them)."""
    result = run(zoo, "reseeds", "global_state_untouched")
    result.assert_outcomes(xfailed=1, xpassed=6)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["XFAIL *::test_global_state_untouched[[]reseeds-cpu-float64-__init__[]]*"]
    )


def test_a_qualified_declaration_expects_only_that_device_and_dtype(zoo: pytest.Pytester):
    result = run(zoo, "perdtype", "update")
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "XFAIL *::test_update_follows_rule[[]perdtype-cpu-float32[]] - float32 only",
            "FAILED *::test_update_follows_rule[[]perdtype-cpu-float64[]] - *",
        ],
        consecutive=False,
    )


WARNING = "pytest_twolayer.outcomes.expectations.TwoLayerWarning"


def test_an_unknown_check_id_warns_at_the_class(zoo: pytest.Pytester):
    # In-process, the outer session's filterwarnings=error would apply: show it instead.
    result = run(zoo, "typo", "implementation_loads", "-W", f"always::{WARNING}")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*exhibits.py:*: TwoLayerWarning: implementation 'typo' declares an expected "
            "failure 'trainig', but no check has the id 'trainig': it expects nothing; "
            "valid ids: *, training, *",
            "*exhibits.py:*: TwoLayerWarning: implementation 'typo' declares an expected "
            "failure 'update_follows_rule[[]cuda[]]', but [[]cuda[]] is not among its devices "
            "(cpu) and dtypes (float64): it expects nothing",
        ],
        consecutive=False,
    )


def test_a_warning_filter_can_make_an_unknown_id_a_usage_error(zoo: pytest.Pytester):
    result = run(zoo, "typo", "implementation_loads", "-W", f"error::{WARNING}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: implementation 'typo' declares an expected failure 'trainig', but no check *"]
    )


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (
            "empty",
            "expected_failures['update_follows_rule'] needs a non-empty reason string, got ''",
        ),
        (
            "notdict",
            "expected_failures must be a dict {check id: reason}, got ['update_follows_rule']",
        ),
        (
            "badqual",
            "expected_failures key 'update_follows_rule[tpu]': qualifier [tpu] must be a device, "
            "a dtype or device-dtype (devices: cpu, cuda; dtypes: float32, float64)",
        ),
    ],
)
def test_an_invalid_declaration_fails_implementation_loads(
    zoo: pytest.Pytester, name: str, line: str
):
    result = run(zoo, f"numpy,{name}", "implementation_loads")
    result.assert_outcomes(passed=1, failed=1)
    pattern = re.sub(r"([\[\]*?])", r"[\1]", line)
    result.stdout.fnmatch_lines(
        [f"implementation '{name}': {pattern} [[]register hook exhibits:*[]]"]
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, None),
        ({}, None),
        ({"training": "diverges", "gradients_match_reference[cuda-float32]": "tf32"}, None),
        ({"training[float32]": "r", "training[cpu]": "r"}, None),
        ({"test_training": "r"}, "write the check id without 'test_'"),
        ({"training": None}, "needs a non-empty reason string, got None"),
        ({"training": "  "}, "needs a non-empty reason string"),
        ({3: "r"}, "keys must be check ids (str), got 3"),
        ({"training cpu": "r"}, "is not a check id"),
        ({"training[float32-cpu]": "r"}, "qualifier [float32-cpu] must be"),
        ("training", "must be a dict {check id: reason}, got 'training'"),
    ],
)
def test_declarations_are_validated(value: object, why: str | None):
    problem = expected_failures_problem(value)
    if why is None:
        assert problem is None
    else:
        assert problem is not None
        assert why in problem


@pytest.mark.slow
def test_expected_failures_under_xdist_warn_once(
    zoo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    result = zoo.runpytest_subprocess(
        "-p", "twolayer", "--impl", "declared,fixed,typo", "-k", "update", "-n", "2", "-rA",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "[[]XPASS(strict)[]] update_follows_rule passed, but 'fixed' declares it *",
            "XFAIL *::test_update_follows_rule[[]declared-cpu-float64[]]*",
            "FAILED *::test_update_follows_rule[[]fixed-cpu-float64[]]*",
        ],
        consecutive=False,
    )
    # every worker collects; each warning must still be issued once, not once per worker
    assert result.parseoutcomes()["warnings"] == 2
