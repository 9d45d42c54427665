"""The documentation's example files, extracted so that tests run exactly what users copy."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_twolayer.checking.contract_calls import CALLS
from pytest_twolayer.checking.suite import CHECKS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
"""Every page of the documentation: the README first, then ``docs/*.md``."""
_EXAMPLE = re.compile(r"<!-- file: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)


def example_files() -> dict[str, str]:
    """``{file name: content}`` of every block marked ``<!-- file: NAME -->`` in the README
    and in ``docs/*.md`` (``mynet.py`` and the registration files are in the README,
    ``test_mine.py`` in docs/own-tests.md). A name must be marked once."""
    files: dict[str, str] = {}
    for page in DOCS:
        for match in _EXAMPLE.finditer(page.read_text(encoding="utf-8")):
            name = match["name"]
            if name in files:
                raise ValueError(f"{page.name}: example file {name} is marked twice")
            files[name] = match["body"]
    return files


def suite_check_count() -> int:
    """How many tests the shipped suite runs for a cpu-only, single-dtype implementation: one
    per check of the suite (each runs once per implementation x device x dtype), and one
    per contract call for the hygiene check of process-global state."""
    return len(CHECKS) - 1 + len(CALLS)
