"""The suite's user-facing API, recorded in ``api-record.json``, and the rule that guards it.

Users write check ids into ``expected_failures``, verdict labels into their triage, options
into ini files and CI command lines, and parse the JSON report; a tolerance or threshold that
moves changes their verdicts. ``api-record.json`` (at the repository's root) records all of
them as the code has them, in four sections:

- ``checks``: every check of :data:`pytest_twolayer.checking.suite.CHECKS` (id, concern,
  verdict labels, per case or per class), the suite-wide labels and the concerns;
- ``tolerances``: the constants of :mod:`pytest_twolayer.spec.tolerances`, the normwise
  tolerance at the tutorial's dims, the memory gate's defaults, and every numeric constant at
  the top of a ``conformance/test_<concern>.py`` (read from its source, not imported);
- ``options``: every row of :data:`pytest_twolayer.option_table.OPTIONS` (flag, metavar,
  repeatable, ini key and default, path, integer; not the help text);
- ``report_schema``: ``SCHEMA_VERSION`` and the JSON schema's structure, one entry per field
  (its type, constants, enums, bounds, required fields; not the descriptions).

Three uses::

    python scripts/api_record.py --check      # the record equals the code
    python scripts/api_record.py --write      # rewrite it after a deliberate change
    python scripts/api_record.py --fragments  # a changed section has a news fragment

``--check`` is ``tests/unit/test_api_record.py``. ``--fragments`` (``nox -s record``) compares
the record with its state at the last release (the last commit that changed
``CHANGELOG.md``: towncrier rewrites it and consumes the fragments when a release is cut) and
fails when a section differs but ``changelog.d/`` holds no fragment of a type that announces
it (:data:`FRAGMENT_TYPES`).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "api-record.json"
FRAGMENTS = ROOT / "changelog.d"
CHANGELOG = "CHANGELOG.md"

FRAGMENT_TYPES: dict[str, tuple[str, ...]] = {
    "checks": ("checks-new", "checks-changed"),
    "tolerances": ("checks-changed",),
    "options": ("options", "options-removed"),
    "report_schema": ("schema",),
}
"""The towncrier types (``[tool.towncrier]`` in pyproject.toml) that may announce a change
of each section."""

SCHEMA_WORDS_SKIPPED = frozenset({"description", "title", "$schema", "$id", "examples"})
SCHEMA_CHILDREN = frozenset({"properties", "items", "$defs", "additionalProperties", "oneOf"})


# ---------------------------------------------------------------------------------------------
# The record, from the code


def checks_section() -> dict[str, Any]:
    from pytest_twolayer.checking import suite

    return {
        "concerns": list(suite.CONCERNS),
        "checks": [
            {
                "id": check.id,
                "concern": check.concern,
                "labels": list(check.labels),
                "per_case": check.per_case,
            }
            for check in suite.CHECKS
        ],
        "suite_wide_labels": list(suite.SUITE_WIDE_LABELS),
    }


def _numeric(node: ast.expr) -> Any:
    """The value of a constant numeric expression (``1e-3``, ``2.0**-24``, ``{"a": 1}``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ValueError("not a number")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _numeric(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _numeric(node.left), _numeric(node.right)
        operators = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__"}
        operators |= {ast.Div: "__truediv__", ast.Pow: "__pow__"}
        for kind, method in operators.items():
            if isinstance(node.op, kind):
                return getattr(left, method)(right)
    if isinstance(node, ast.Dict) and all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys
    ):
        return {k.value: _numeric(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[union-attr]
    raise ValueError("not a constant number")


def module_constants(path: Path) -> dict[str, Any]:
    """``{NAME: value}`` of every upper-case module-level name bound to a constant number
    (or a dict of them) in a Python file, read from its source."""
    found: dict[str, Any] = {}
    for statement in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if not isinstance(target, ast.Name) or not target.id.isupper():
            continue
        try:
            found[target.id] = _numeric(value)
        except ValueError:
            continue
    return found


def tolerances_section() -> dict[str, Any]:
    from pytest_twolayer.benchmarking import memory
    from pytest_twolayer.checking.suite import CONCERNS
    from pytest_twolayer.spec import tolerances
    from pytest_twolayer.spec.dims import TUTORIAL_DIMS

    dtypes = sorted(tolerances.UNIT_ROUNDOFF)
    section: dict[str, Any] = {
        "pytest_twolayer.spec.tolerances": module_constants(Path(tolerances.__file__)),
        "rtol at the tutorial dims, by depth": {
            dtype: [tolerances.rtol(dtype, TUTORIAL_DIMS, depth) for depth in range(4)]
            for dtype in dtypes
        },
        "pytest_twolayer.benchmarking.memory": {
            "DEFAULT_MAX_GROWTH": memory.DEFAULT_MAX_GROWTH,
            "MIN_JUDGED_STEPS": memory.MIN_JUDGED_STEPS,
        },
    }
    for concern in CONCERNS:
        path = ROOT / "conformance" / f"test_{concern}.py"
        if path.is_file():
            section[f"conformance/test_{concern}.py"] = module_constants(path)
    return section


def options_section() -> list[dict[str, Any]]:
    from pytest_twolayer.option_table import OPTIONS

    return [
        {
            "flag": option.flag,
            "metavar": option.metavar,
            "repeatable": option.repeatable,
            "ini_key": option.ini_key,
            "ini_default": option.ini_default,
            "path": option.path,
            "integer": option.integer,
        }
        for option in OPTIONS
    ]


def schema_fields(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, constraints)`` of every node of a JSON schema: ``$.run.devices[].name``."""
    if not isinstance(node, dict):
        return
    own = {
        key: value
        for key, value in node.items()
        if key not in SCHEMA_WORDS_SKIPPED and key not in SCHEMA_CHILDREN
    }
    extra = node.get("additionalProperties")
    if isinstance(extra, bool):
        own["additionalProperties"] = extra
    yield path, own
    for name, child in node.get("properties", {}).items():
        yield from schema_fields(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_fields(node["items"], f"{path}[]")
    if isinstance(extra, dict):
        yield from schema_fields(extra, f"{path}.*")
    for index, child in enumerate(node.get("oneOf", [])):
        yield from schema_fields(child, f"{path}|{index}")
    for name, child in node.get("$defs", {}).items():
        yield from schema_fields(child, f"#{name}")


def report_schema_section() -> dict[str, Any]:
    from pytest_twolayer.report.json_report import SCHEMA_VERSION

    schema = json.loads(files("pytest_twolayer.report").joinpath("schema.json").read_text())
    return {"schema_version": SCHEMA_VERSION, "fields": dict(schema_fields(schema))}


def current() -> dict[str, Any]:
    """The record as the code has it now."""
    return {
        "checks": checks_section(),
        "tolerances": tolerances_section(),
        "options": options_section(),
        "report_schema": report_schema_section(),
    }


def render(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=False) + "\n"


# ---------------------------------------------------------------------------------------------
# The record against the code, and against the last release


def differing_sections(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [name for name in FRAGMENT_TYPES if old.get(name) != new.get(name)]


def fragment_types(folder: Path = FRAGMENTS) -> set[str]:
    """The towncrier type of every news fragment in ``changelog.d/`` (``22.schema.md``,
    ``+slug.options.1.md``)."""
    known = {kind for kinds in FRAGMENT_TYPES.values() for kind in kinds}
    found = set()
    for fragment in folder.glob("*"):
        if fragment.is_file():
            found.update(part for part in fragment.name.split(".")[1:] if part in known)
    return found


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def released_record() -> tuple[str, dict[str, Any]] | None:
    """``(commit, record)`` at the last release: the last commit that changed CHANGELOG.md."""
    try:
        commit = git("log", "-1", "--format=%H", "--", CHANGELOG).strip()
        if not commit:
            return None
        return commit, json.loads(git("show", f"{commit}:{RECORD.name}"))
    except (OSError, subprocess.CalledProcessError):
        return None


def check_fragments() -> list[str]:
    """Problems: sections changed since the last release that no fragment announces."""
    released = released_record()
    if released is None:
        return []
    commit, old = released
    new = json.loads(RECORD.read_text(encoding="utf-8"))
    present = fragment_types()
    problems = []
    for section in differing_sections(old, new):
        wanted = FRAGMENT_TYPES[section]
        if not present & set(wanted):
            problems.append(
                f"{RECORD.name}: {section!r} changed since the last release ({commit[:10]}, "
                f"the last commit that changed {CHANGELOG}) but changelog.d/ has no news "
                f"fragment of type {' or '.join(wanted)}: add one, e.g. "
                f"changelog.d/+my-change.{wanted[0]}.md, saying what users must change"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="the record equals the code")
    action.add_argument("--write", action="store_true", help="rewrite the record from the code")
    action.add_argument(
        "--fragments", action="store_true", help="every changed section has a news fragment"
    )
    args = parser.parse_args(argv)
    text = render(current())
    if args.write:
        RECORD.write_text(text, encoding="utf-8")
        print(f"wrote {RECORD.name}")
        return 0
    if args.check:
        if not RECORD.is_file() or RECORD.read_text(encoding="utf-8") != text:
            stale = sorted(
                differing_sections(json.loads(RECORD.read_text()), json.loads(text))
                if RECORD.is_file()
                else FRAGMENT_TYPES
            )
            print(
                f"{RECORD.name} differs from the code in {', '.join(stale) or 'its layout'}: "
                "run python scripts/api_record.py --write and add a news fragment",
                file=sys.stderr,
            )
            return 1
        print(f"{RECORD.name} matches the code")
        return 0
    problems = check_fragments()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{RECORD.name}: every change since the last release has its news fragment")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
