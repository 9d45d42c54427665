"""The README's example files, extracted so that tests run exactly what users copy."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_EXAMPLE = re.compile(r"<!-- file: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)


def example_files() -> dict[str, str]:
    """``{file name: content}`` of every block marked ``<!-- file: NAME -->`` in the README."""
    return {m["name"]: m["body"] for m in _EXAMPLE.finditer(README.read_text(encoding="utf-8"))}
