"""Registered names are restricted to the charset of entry-point names: they appear in test
ids, ``-k`` expressions and the commands the plugin prints for a user to paste into a shell."""

from __future__ import annotations

import importlib.metadata
import shlex
from typing import Any

import pytest

from pytest_twolayer.run.registry import (
    COMMAND_LINE,
    ENTRY_POINT_GROUP,
    REGISTER_HOOK,
    RegistrationError,
    Registry,
)
from pytest_twolayer.zoo.numpy_bugs import LrDoubled
from tests.support.readme import example_files

MYNET = example_files()["mynet.py"]
TARGET = "pytest_twolayer.zoo.numpy_bugs:LrDoubled"

UNSAFE = [
    "my net",  # a space splits the printed command
    "a;b",  # ends the command
    "$(touch pwned)",  # runs one
    "`id`",
    "x'y",
    'x"y',
    "a,b",  # --impl's own separator
    "a=b",  # --impl's name=path separator
    "a:b",  # reads as an import path
    "-k",  # reads as an option
    ".hidden",
    "naïve-ünïcode",
    "tab\there",
    "new\nline",
    "",
]
SAFE = ["mine", "tf-static", "zoo-lr-doubled", "v1.2", "_private", "Net2", "9lives"]


@pytest.mark.parametrize("name", UNSAFE)
def test_a_name_outside_the_charset_is_refused_in_one_line(name: str):
    registry = Registry()
    with pytest.raises(RegistrationError) as refused:
        registry.add(name, LrDoubled)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"invalid implementation name {name!r} for {TARGET} (register hook)")
    assert name not in registry


def test_all_is_refused_as_the_selector_of_every_implementation():
    with pytest.raises(RegistrationError, match="'all' selects every implementation"):
        Registry().add("all", LrDoubled)


@pytest.mark.parametrize("name", SAFE)
def test_a_name_in_the_charset_needs_no_quoting(name: str):
    registry = Registry()
    registry.add(name, LrDoubled)
    assert registry.get(name).target == TARGET
    assert shlex.quote(name) == name


def test_a_command_line_path_without_a_name_is_named_by_the_path():
    registry = Registry()
    registry.add(TARGET, TARGET, source=COMMAND_LINE)
    assert registry.get(TARGET).selector == TARGET
    with pytest.raises(RegistrationError):  # only a command-line path names itself so
        registry.add(TARGET, TARGET, source=REGISTER_HOOK)


def test_a_hook_registering_an_unsafe_name_is_a_one_line_usage_error(pytester: pytest.Pytester):
    pytester.makeconftest(
        f"def pytest_twolayer_register(registry):\n    registry.add('x; rm -rf ~', {TARGET!r})\n"
    )
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert errors == [
        "ERROR: pytest_twolayer_register: invalid implementation name 'x; rm -rf ~' for "
        f"{TARGET} (register hook): use letters, digits, '_', '.' and '-', not starting with "
        "'.' or '-' (as an entry point's name)"
    ]


def test_a_command_line_name_outside_the_charset_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=MYNET)
    result = pytester.runpytest("-p", "twolayer", "--impl", "my net=mynet:MyNet")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --impl mynet:MyNet: invalid implementation name 'my net' for mynet:MyNet *"]
    )


def test_an_entry_point_with_an_unsafe_name_fails_its_own_check_only(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    real = importlib.metadata.entry_points

    def entry_points(**params: Any) -> Any:
        if params.get("group") != ENTRY_POINT_GROUP:
            return real(**params)
        return importlib.metadata.EntryPoints(
            [
                importlib.metadata.EntryPoint("bad;name", TARGET, ENTRY_POINT_GROUP),
                importlib.metadata.EntryPoint("numpy", "mynet:MyNet", ENTRY_POINT_GROUP),
            ]
        )

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    pytester.makepyfile(mynet=MYNET)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "all", "-k", "implementation_loads", "-n", "0"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["invalid implementation name 'bad;name' for * (entry point): use letters*"]
    )
