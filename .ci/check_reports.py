"""CI's checks of the reports a user's run writes (``nox -s user``).

``whole REPORTS``: the JSON report of ``--impl all -n 0`` is valid against its schema, passed,
benchmarked all nine built-ins, and the figures were written. ``merged MERGED WHOLE``: three
shards' merged report has the unsharded run's verdict, total and matrix.
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files
from pathlib import Path


def whole(reports: Path) -> None:
    import jsonschema

    report = json.loads((reports / "twolayer.json").read_text())
    schema = json.loads(files("pytest_twolayer.report").joinpath("schema.json").read_text())
    jsonschema.validate(report, schema)
    assert report["summary"]["verdict"] == "passed", report["summary"]
    assert len({b["impl"] for b in report["benchmarks"]}) == 9, report["benchmarks"]
    for figure in ("loss_curves.png", "benchmarks.png"):
        assert (reports / "plots" / figure).stat().st_size > 10_000, figure
    total = report["summary"]["total"]
    print("reports: JSON valid against its schema,", total, "checks; figures written")


def merged(merged_path: Path, whole_path: Path) -> None:
    merged, whole = (json.loads(path.read_text()) for path in (merged_path, whole_path))
    assert merged["summary"]["verdict"] == "passed", merged["summary"]
    assert merged["summary"]["total"] == whole["summary"]["total"], (
        merged["summary"],
        whole["summary"],
    )
    assert merged["matrix"]["rows"] == whole["matrix"]["rows"]
    total = merged["summary"]["total"]
    print("shards: merged verdict, matrix and", total, "checks equal the unsharded run's")


if __name__ == "__main__":
    kind, *paths = sys.argv[1:]
    {"whole": whole, "merged": merged}[kind](*map(Path, paths))
