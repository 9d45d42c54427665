"""The option table is the one place an option is declared: ``--help``, the settings, the
messages and reproduce lines, and the README's options table all come from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

import pytest_twolayer
from pytest_twolayer import option_table
from pytest_twolayer.option_table import OPTIONS, Option
from pytest_twolayer.run import options

PACKAGE = Path(pytest_twolayer.__file__).parent
README = Path(__file__).resolve().parents[2] / "README.md"
"""The checkout's README (the package may be installed elsewhere, as CI installs it)."""

FLAG = re.compile(r"(?<![\w-])--(?:impl|device|twolayer-[a-z-]+)(?![\w-])")
"""A flag of the plugin as it may appear inside a string."""


class RecordingGroup:
    def __init__(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.calls = calls

    def addoption(self, flag: str, **kwargs: Any) -> None:
        self.calls.append((flag, kwargs))


class RecordingParser:
    """Records what ``add_options`` declares, the way pytest's parser would be told."""

    def __init__(self) -> None:
        self.options: list[tuple[str, dict[str, Any]]] = []
        self.ini: list[tuple[str, str, dict[str, Any]]] = []
        self.groups: list[tuple[str, ...]] = []

    def getgroup(self, *name: str) -> RecordingGroup:
        self.groups.append(name)
        return RecordingGroup(self.options)

    def addini(self, key: str, help: str, **kwargs: Any) -> None:
        self.ini.append((key, help, kwargs))


@pytest.fixture
def declared() -> RecordingParser:
    parser = RecordingParser()
    options.add_options(parser)  # type: ignore[arg-type]
    return parser


def test_every_row_is_declared_once_with_its_own_help(declared: RecordingParser):
    assert [flag for flag, _ in declared.options] == [o.flag for o in OPTIONS]
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS)
    for (flag, kwargs), option in zip(declared.options, OPTIONS, strict=True):
        assert kwargs["help"] == option.help, flag
        assert kwargs.get("metavar") == option.metavar, flag
        assert (kwargs.get("action") == "append") == option.repeatable, flag
        assert (kwargs.get("action") == "store_true") == (option.metavar is None), flag
    assert set(declared.groups) == {option_table.GROUP}


def test_every_ini_key_is_a_row_with_the_rows_help(declared: RecordingParser):
    rows = {o.ini_key: o for o in OPTIONS if o.ini_key is not None}
    assert [key for key, _, _ in declared.ini] == list(rows)
    for key, help_text, kwargs in declared.ini:
        assert help_text == rows[key].ini_help
        assert (kwargs.get("type") == "linelist") == rows[key].repeatable


def test_every_row_is_part_of_the_table():
    rows = {name: v for name, v in vars(option_table).items() if isinstance(v, Option)}
    assert set(rows.values()) == set(OPTIONS), set(rows) - {
        n for n, v in rows.items() if v in OPTIONS
    }


def literal_strings(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module that is code, with its line: bare string statements
    (the docstrings of modules, classes, functions and attributes) are documentation, which
    may name flags."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documentation = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in documentation
    ]


def test_no_flag_is_spelled_outside_the_table():
    """Messages, reproduce lines and command lines name an option through its row."""
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "option_table.py"
        for line, text in literal_strings(path)
        if FLAG.search(text)
    ]
    assert found == []


def test_the_scan_finds_a_flag_spelled_in_a_message(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""Mentions --impl in a docstring."""\nraise ValueError("--twolayer-seed: bad")\n'
    )
    assert [text for _, text in literal_strings(module) if FLAG.search(text)] == [
        "--twolayer-seed: bad"
    ]


def readme_rows() -> list[tuple[str, str]]:
    """The README's options table: (the flag as shown, the ini key or '') per row."""
    section = README.read_text(encoding="utf-8").split("## Options", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = re.match(r"^\| `(--[^`]+)` \|\s*(?:`(\w+)`)?\s*\|", line.replace("\\|", "|"))
        if match:
            rows.append((match[1], match[2] or ""))
    return rows


def test_the_readme_options_table_is_the_option_table():
    rows = readme_rows()
    assert len(rows) == len(set(rows))
    assert sorted(rows) == sorted((o.shown, o.ini_key or "") for o in OPTIONS)
