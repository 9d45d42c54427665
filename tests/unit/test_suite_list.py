"""The one list of checks (``pytest_twolayer.checking.suite.CHECKS``) names exactly the suite's test
functions, in the modules of their concerns, with the verdict labels their checks raise."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from pytest_twolayer import benchmarking
from pytest_twolayer.checking import suite
from pytest_twolayer.run.collection import CASE_FIXTURE, CLASS_FIXTURE


def suite_tests() -> dict[str, tuple[str, set[str]]]:
    """``{test function name: (concern, fixtures it takes)}`` for every module of the suite."""
    found: dict[str, tuple[str, set[str]]] = {}
    for path in sorted(suite.suite_dir().glob("test_*.py")):
        module = importlib.import_module(f"{suite.SUITE_PACKAGE}.{path.stem}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_") and function.__module__ == module.__name__:
                fixtures = set(inspect.signature(function).parameters)
                found[name] = (path.stem.removeprefix("test_"), fixtures)
    return found


def labels_raised() -> set[str]:
    """Every verdict label in the suite's modules and the benchmark machinery: each check keeps
    its label in a local ``check = "check_id"`` or passes it to a call as a literal."""
    files = [*suite.suite_dir().glob("test_*.py"), *Path(benchmarking.__file__).parent.glob("*.py")]
    labels: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                "check"
            ]:
                values = [node.value]
            elif isinstance(node, ast.Call):  # case.fail("x", ...), Prepared(case, "x.gate")
                values = list(node.args)
            for value in values:
                if (
                    isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and re.fullmatch(r"[a-z_]+(\.[a-z]+)?", value.value)
                    and suite.check_of_label(value.value) in suite.check_ids()
                ):
                    labels.add(value.value)
    return labels


def test_the_list_names_every_suite_test_and_nothing_else():
    tests = suite_tests()
    assert {c.test_name for c in suite.CHECKS} == set(tests)
    for check in suite.CHECKS:
        concern, fixtures = tests[check.test_name]
        assert check.concern == concern, check
        assert concern in suite.CONCERNS
        fixture = CASE_FIXTURE if check.per_case else CLASS_FIXTURE
        assert fixture in fixtures, f"{check.test_name} takes {sorted(fixtures)}"


def test_every_concern_has_a_module_and_checks():
    assert {f"test_{c}.py" for c in suite.CONCERNS} == {
        p.name for p in suite.suite_dir().glob("test_*.py")
    }
    assert {c.concern for c in suite.CHECKS} == set(suite.CONCERNS)


def test_the_labels_listed_are_the_labels_the_checks_raise():
    listed = {label for check in suite.CHECKS for label in check.labels}
    assert listed == labels_raised()
    for check in suite.CHECKS:
        assert all(suite.check_of_label(label) == check.id for label in check.labels), check


def test_suite_wide_labels_belong_to_the_check_that_carries_them():
    """A suite-wide label (state left changed) is raised by the plugin: on the hygiene check
    that carries it, once per contract call, and around any check where no call alone made
    the change."""
    owners = {label: check for check in suite.CHECKS for label in check.labels}
    for label in suite.SUITE_WIDE_LABELS:
        assert owners[label].id == suite.GLOBAL_STATE_CHECK, label
    assert suite.GLOBAL_STATE_CHECK in suite.SUITE_WIDE_LABELS


@pytest.mark.parametrize("check", [c for c in suite.CHECKS if c.function_name], ids=lambda c: c.id)
def test_every_per_case_check_has_a_plain_function_of_a_case(check: suite.Check):
    module = importlib.import_module(check.module)
    assert check.function_name is not None
    function = getattr(module, check.function_name)
    assert next(iter(inspect.signature(function).parameters)) == "case"


def test_ids_are_unique_and_looked_up():
    assert len(suite.check_ids()) == len(suite.CHECKS)
    assert suite.check("update_follows_rule") == next(
        c for c in suite.CHECKS if c.id == "update_follows_rule"
    )
    assert suite.check("no_such_check") is None
