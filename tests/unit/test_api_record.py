"""api-record.json records the suite's user-facing API as the code has it.

Check ids and verdict labels (expected-failure keys), tolerances and thresholds (verdicts),
options and ini keys (command lines, ini files) and the JSON report's schema (parsers) are
recorded in one file; this test fails when the code and the record differ, and ``nox -s
record`` fails when the record changed since the last release without a news fragment that
announces it (``scripts/api_record.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli there
    import tomli as tomllib

from tests.support.modules import module_from_file

ROOT = Path(__file__).resolve().parents[2]


def api_record() -> ModuleType:
    return module_from_file(ROOT / "scripts" / "api_record.py", "api_record")


def test_the_record_matches_the_code():
    record = api_record()
    recorded = json.loads(record.RECORD.read_text(encoding="utf-8"))
    changed = record.differing_sections(recorded, record.current())
    assert not changed, (
        f"api-record.json differs from the code in {changed}: if the change is meant, run "
        "python scripts/api_record.py --write and add a news fragment to changelog.d/ "
        f"of type {[record.FRAGMENT_TYPES[section] for section in changed]}"
    )
    assert record.RECORD.read_text(encoding="utf-8") == record.render(record.current())


def test_a_changed_section_wants_a_fragment_of_its_type(tmp_path):
    record = api_record()
    old = record.current()
    new = json.loads(json.dumps(old))
    new["options"][0]["flag"] = "--renamed"
    new["report_schema"]["schema_version"] += 1
    assert record.differing_sections(old, new) == ["options", "report_schema"]
    (tmp_path / "+rename.options-removed.md").write_text("`--impl` is now `--renamed`.\n")
    (tmp_path / "22.fix.md").write_text("a fix\n")
    (tmp_path / ".gitignore").write_text("!.gitignore\n")
    assert record.fragment_types(tmp_path) == {"options-removed"}


def test_the_fragment_types_are_towncrier_types():
    towncrier = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["towncrier"]
    kinds = {kind["directory"] for kind in towncrier["type"]}
    for section, wanted in api_record().FRAGMENT_TYPES.items():
        assert set(wanted) <= kinds, section
