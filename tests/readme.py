"""The README's example files, extracted so that tests run exactly what users copy."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_twolayer.suite import CHECKS

README = Path(__file__).resolve().parent.parent / "README.md"
_EXAMPLE = re.compile(r"<!-- file: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)


def example_files() -> dict[str, str]:
    """``{file name: content}`` of every block marked ``<!-- file: NAME -->`` in the README."""
    return {m["name"]: m["body"] for m in _EXAMPLE.finditer(README.read_text(encoding="utf-8"))}


def suite_check_count() -> int:
    """How many tests the shipped suite runs for a cpu-only, single-dtype implementation: one
    per check of the suite (each runs once per implementation x device x dtype)."""
    return len(CHECKS)
