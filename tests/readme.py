"""The README's example files, extracted so that tests run exactly what users copy."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_EXAMPLE = re.compile(r"<!-- file: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)


def example_files() -> dict[str, str]:
    """``{file name: content}`` of every block marked ``<!-- file: NAME -->`` in the README."""
    return {m["name"]: m["body"] for m in _EXAMPLE.finditer(README.read_text(encoding="utf-8"))}


def suite_check_count() -> int:
    """How many tests the shipped suite runs for a cpu-only, single-dtype implementation: one
    per test function of ``conformance/`` (each runs once per implementation x device x dtype)."""
    import importlib
    import inspect

    from pytest_twolayer.plugin import suite_dir

    count = 0
    for path in sorted(suite_dir().glob("test_*.py")):
        module = importlib.import_module(f"pytest_twolayer.conformance.{path.stem}")
        count += sum(
            1
            for name, fn in inspect.getmembers(module, inspect.isfunction)
            if name.startswith("test_")
            and {"twolayer_case", "twolayer_loaded"} & set(inspect.signature(fn).parameters)
        )
    return count
