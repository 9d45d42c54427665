"""The suite's own failure is reported as the suite's: a ``suite error`` label, a request to
report it, and a matrix that neither blames nor clears the implementation."""

from __future__ import annotations

import json

import pytest

from tests.sessions.test_report import terminal_matrix, valid_report

# The fault: the point search gives up at once, whatever the implementation does. (Patched
# where the check's draw_point reads it: pytester's in-process runs import modules anew.)
FAULT = """
import pytest
from pytest_twolayer.conformance import test_gradients

@pytest.fixture(autouse=True)
def no_test_point(monkeypatch):
    monkeypatch.setitem(test_gradients.draw_point.__globals__, "MAX_ATTEMPTS", 0)
"""


# Another fault: the reference cannot be computed, an exception in a check's own code.
REFERENCE_FAULT = """
import pytest
from pytest_twolayer.conformance import test_update

@pytest.fixture(autouse=True)
def no_reference(monkeypatch):
    def broken(*args, **kwargs):
        raise FloatingPointError("the reference overflowed")

    monkeypatch.setattr(test_update.reference, "loss_and_gradients", broken)
"""


def test_an_exception_in_a_checks_own_code_is_a_suite_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(REFERENCE_FAULT)
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy", "-k", "update_follows_rule")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert "[suite error] impl=numpy device=cpu dtype=float32 seed=0 (check " in text
    assert "FloatingPointError: the reference overflowed" in text
    assert "[update_follows_rule]" not in text
    rows = {row[0]: row for row in terminal_matrix(result)}
    assert rows["numpy"][rows["impl"].index("update")] == "SUITE ERROR 2"


def test_a_point_search_that_gives_up_is_a_suite_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAULT)
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "numpy", "-k", "gradients_match_reference",
        "--twolayer-report-json", "report.json",
    )  # fmt: skip
    result.assert_outcomes(failed=2)  # float32 and float64
    text = result.stdout.str()
    assert "[suite error] impl=numpy device=cpu dtype=float64 seed=0" in text
    assert "NoTestPoint: no kink-free test point" in text
    assert "please report it" in text
    assert "[gradients_match_reference]" not in text  # no verdict on the implementation
    rows = {row[0]: row for row in terminal_matrix(result)}
    header = rows["impl"]
    assert rows["numpy"][header.index("gradients")] == "SUITE ERROR 2"
    assert "FAIL" not in " ".join(rows["numpy"])
    result.stdout.fnmatch_lines(["suite: SUITE ERROR n: the suite's own machinery *please report*"])
    report = valid_report(pytester.path / "report.json")
    assert report["summary"]["suite error"] == 2
    assert report["summary"]["failed"] == 0
    assert {c["outcome"] for c in report["checks"]} == {"suite error"}, json.dumps(report)[:500]
