"""The site's generated pages: options, checks and fixtures, rendered from the code's own tables.

Plain functions of the code, without Sphinx (``tests/unit/test_docs_site.py`` reads their
output back and compares it with the tables); ``twolayer_pages`` puts their output where its
three directives stand, at build time, so the pages cannot drift from the code:

- ``.. twolayer-options::``: every row of :data:`pytest_twolayer.option_table.OPTIONS`, a
  summary table and one ``.. option::`` entry each (linkable as ``:option:`--impl```);
- ``.. twolayer-checks::``: every check of :data:`pytest_twolayer.checking.suite.CHECKS`
  with its concern, verdict labels, how often it runs and the functions behind it;
- ``.. twolayer-fixtures::``: every fixture of :mod:`pytest_twolayer.fixtures` with its
  docstring and what it returns.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

_RST_SPECIAL = re.compile(r"([\\`*|_])")


def escape(text: str) -> str:
    """Plain text as reStructuredText that shows it as it is."""
    return _RST_SPECIAL.sub(r"\\\1", text)


def literal(text: str) -> str:
    return f"``{text}``" if text else "(empty)"


def list_table(header: list[str], rows: list[list[str]], widths: str = "auto") -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        for index, cell in enumerate(row):
            lines.append(f"   {'* -' if index == 0 else '  -'} {cell}")
    return [*lines, ""]


# ---------------------------------------------------------------------------------------------
# Options


def options_rst() -> list[str]:
    """The options page's body: a summary table, then one ``.. option::`` per option."""
    from pytest_twolayer.option_table import GROUP, OPTIONS

    rows = []
    for option in OPTIONS:
        ini = literal(option.ini_key) if option.ini_key else "(none)"
        default = literal(option.ini_default or "") if option.ini_key else ""
        rows.append([f":option:`{option.flag}`", ini, default])
    lines = [
        f"``pytest --help`` lists these in its group *{escape(GROUP[1])}*. An ini key takes the",
        "option's value in your pytest configuration (``[pytest]``,",
        "``[tool.pytest.ini_options]``); an option given on the command line wins over it.",
        "",
        ".. program:: pytest",
        "",
        *list_table(["option", "ini key", "ini default"], rows, "40 35 25"),
    ]
    for option in OPTIONS:
        lines += [f".. option:: {option.shown}", "", f"   {escape(option.help)}", ""]
        facts = []
        if option.ini_key:
            default = literal(option.ini_default or "")
            facts.append(f"   :ini key: {literal(option.ini_key)}, default {default}")
        kind = (
            "a switch"
            if option.metavar is None
            else "an integer"
            if option.integer
            else "a path (in an ini file: relative to its folder)"
            if option.path
            else "a value"
        )
        facts.append(f"   :takes: {kind}")
        if option.repeatable:
            facts.append("   :repeatable: yes: every value given is used")
        lines += [*facts, ""]
    return lines


# ---------------------------------------------------------------------------------------------
# Checks


def checks_rst() -> list[str]:
    """The checks page's body: the concerns, then one row per check of the suite."""
    from pytest_twolayer.checking import suite

    rows = []
    for check in suite.CHECKS:
        labels = ", ".join(literal(label) for label in check.labels) or "(none: it loads)"
        runs = "per implementation, device, dtype" if check.per_case else "per implementation"
        function = literal(check.function_name) if check.function_name else "(none)"
        source = f"``test_{escape(check.concern)}.py::{check.test_name}``"
        rows.append([literal(check.id), check.concern, labels, runs, source, function])
    concerns = ", ".join(literal(concern) for concern in suite.CONCERNS)
    wide = ", ".join(literal(label) for label in suite.SUITE_WIDE_LABELS)
    return [
        f"{len(suite.CHECKS)} checks in {len(suite.CONCERNS)} concerns ({concerns}), in the",
        "order the suite lists them. A check's id is what ``expected_failures`` keys and",
        "``-k`` name, and it starts every failure message the check gives",
        "(``[update_follows_rule] impl=... device=... dtype=... seed=...``; a check with",
        "several gates names the gate after a dot). Any check may also fail",
        f"with a suite-wide label: {wide} (it left process-global state changed).",
        "",
        *list_table(
            ["check id", "concern", "verdict labels", "runs", "test", "plain function"],
            rows,
            "20 10 25 15 20 10",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Fixtures


def fixtures() -> list[tuple[str, Any]]:
    """``(name, function)`` of every fixture :mod:`pytest_twolayer.fixtures` defines."""
    from pytest_twolayer import fixtures as module

    found = []
    for name, value in vars(module).items():
        unwrap = getattr(value, "_get_wrapped_function", None)  # pytest >= 8.4
        if unwrap is not None:
            found.append((name, unwrap()))
        elif hasattr(value, "_pytestfixturefunction"):  # older pytest: the function itself
            found.append((name, value))
    return found


def public_path(annotation: str, namespace: dict[str, Any]) -> str:
    """An annotation with each name written where the API page documents it."""
    import pytest_twolayer

    def qualify(match: re.Match[str]) -> str:
        name = match[0]
        value = namespace.get(name)
        if name in pytest_twolayer.__all__:
            return f"pytest_twolayer.{name}"
        if inspect.isclass(value) and value.__module__.startswith("pytest_twolayer"):
            return f"{value.__module__}.{value.__qualname__}"
        return name

    return re.sub(r"(?<![\w.])[A-Za-z_]\w*(?![\w.])", qualify, annotation)


def fixtures_rst() -> list[str]:
    from pytest_twolayer import fixtures as module

    lines = [".. py:currentmodule:: None", ""]
    for name, function in fixtures():
        returned = inspect.signature(function).return_annotation
        returned = returned if isinstance(returned, str) else inspect.formatannotation(returned)
        lines += [f".. py:data:: {name}", f"   :type: {public_path(returned, vars(module))}", ""]
        lines += [f"   {line}" for line in inspect.cleandoc(function.__doc__ or "").splitlines()]
        lines.append("")
    return lines
