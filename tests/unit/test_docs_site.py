"""The documentation site's generated pages name exactly what the code has.

The options, checks and fixtures pages are rendered at build time from the code's tables
(``docs/_ext/twolayer_tables.py``); these tests read the rendered reStructuredText back and
compare it with the tables, so an option, check or fixture missing from its page, or one the
page names that the code lacks, fails here (and ``nox -s docs`` builds the pages strictly).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import ModuleType

import pytest_twolayer
from pytest_twolayer.checking.suite import CHECKS
from pytest_twolayer.option_table import OPTIONS
from tests.support.modules import module_from_file

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def tables() -> ModuleType:
    return module_from_file(DOCS / "_ext" / "twolayer_tables.py", "twolayer_tables")


def test_the_options_page_lists_every_option_and_nothing_else():
    lines = tables().options_rst()
    entries = [
        line.removeprefix(".. option:: ") for line in lines if line.startswith(".. option::")
    ]
    assert entries == [option.shown for option in OPTIONS]
    summary = re.findall(r":option:`([^`]+)`", "\n".join(lines))
    assert summary == [option.flag for option in OPTIONS]
    for option in OPTIONS:
        if option.ini_key:
            assert f"``{option.ini_key}``" in "\n".join(lines), option.flag


def test_the_checks_page_lists_every_check_and_nothing_else():
    lines = tables().checks_rst()
    rows = [line for line in lines if line.startswith("   * - ")]
    ids = [re.fullmatch(r"   \* - ``(\w+)``", row) for row in rows[1:]]  # after the header
    assert [match[1] if match else None for match in ids] == [check.id for check in CHECKS]
    text = "\n".join(lines)
    for check in CHECKS:
        for label in check.labels:
            assert f"``{label}``" in text, (check.id, label)


def test_the_fixtures_page_lists_every_fixture():
    source = Path(pytest_twolayer.__file__).with_name("fixtures.py").read_text(encoding="utf-8")
    defined = [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
        and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
    ]
    rendered = [
        line.removeprefix(".. py:data:: ")
        for line in tables().fixtures_rst()
        if line.startswith(".. py:data::")
    ]
    assert rendered == defined


def test_the_api_page_documents_every_public_name_and_the_hook():
    page = (DOCS / "reference" / "api.rst").read_text(encoding="utf-8")
    documented = set(
        re.findall(r"^\.\. (?:auto\w+|py:data):: (?:pytest_twolayer\.)?(\w+)$", page, re.M)
    )
    assert set(pytest_twolayer.__all__) <= documented
    hookspecs = Path(pytest_twolayer.__file__).with_name("hookspecs.py").read_text()
    for hook in re.findall(r"^def (pytest_\w+)", hookspecs, re.M):
        assert f".. autofunction:: pytest_twolayer.hookspecs.{hook}" in page


def test_the_generated_pages_are_in_the_site():
    directives = {
        "reference/options.rst": ".. twolayer-options::",
        "reference/checks.rst": ".. twolayer-checks::",
        "reference/fixtures.rst": ".. twolayer-fixtures::",
    }
    for page, directive in directives.items():
        assert directive in (DOCS / page).read_text(encoding="utf-8"), page
    assert '"twolayer_pages"' in (DOCS / "conf.py").read_text(encoding="utf-8")
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([\w/-]+)$", index, re.M))
    pages = {path.relative_to(DOCS).with_suffix("").as_posix() for path in DOCS.rglob("*.md")}
    pages |= {path.relative_to(DOCS).with_suffix("").as_posix() for path in DOCS.rglob("*.rst")}
    pages = {page for page in pages if not page.startswith("_")}
    assert pages - {"index"} <= listed, sorted(pages - {"index"} - listed)
