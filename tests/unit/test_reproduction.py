"""What a failure's reproduce lines are made of: the selector that registers the
implementation again, the checks a ``python -c`` line can call, and quoting that survives
``shlex.split``."""

from __future__ import annotations

import shlex
import sys
import types

import pytest

from pytest_twolayer.checking import suite
from pytest_twolayer.checking.case import Case
from pytest_twolayer.outcomes.reproduction import check_function, snippet
from pytest_twolayer.run.registry import COMMAND_LINE, ENTRY_POINT, REGISTER_HOOK, Spec
from pytest_twolayer.zoo.numpy_bugs import LrDoubled


def test_the_selector_is_what_registers_the_implementation_again():
    def spec(name: str, source: str) -> Spec:
        return Spec(name, "mybugs:NoMask", source, lambda: None)

    assert spec("nomask", ENTRY_POINT).selector == "nomask"
    assert spec("nomask", REGISTER_HOOK).selector == "nomask"
    assert spec("nomask", COMMAND_LINE).selector == "nomask=mybugs:NoMask"
    assert spec("mybugs:NoMask", COMMAND_LINE).selector == "mybugs:NoMask"


def test_only_plain_functions_of_a_case_are_offered(monkeypatch: pytest.MonkeyPatch):
    assert check_function(suite.check("update_follows_rule")) is not None
    assert check_function(suite.check("training")) is not None  # `record` has a default
    assert check_function(suite.check("benchmark_step")) is not None  # gates have defaults
    assert check_function(suite.check("implementation_loads")) is None  # a check of the class
    module = types.ModuleType("fake")
    exec(
        "from pytest_twolayer.checking.case import Case\n"
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
