"""Sharding over CI runners: ``--impl all`` split into shards whose merged reports give the
verdict, matrix and check count of one unsharded run; a missing or doubled shard fails the
merge with a message that names it."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from pytest_twolayer.report.json_report import schema
from pytest_twolayer.run.shards import durations_from_report, split

CHECKS = ("-k", "implementation_loads or params_canonical or training", "-n", "0")


def run_shard(pytester: pytest.Pytester, index: int, count: int) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "all", *CHECKS, "--twolayer-shard", f"{index}/{count}",
        "--twolayer-report-json", f"shard{index}.json", "-p", "no:cacheprovider",
    )  # fmt: skip


def merge(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_twolayer.merge", *args],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_three_shards_merge_into_the_unsharded_verdict(pytester: pytest.Pytester):
    whole = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "all", *CHECKS, "--twolayer-report-json", "whole.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert whole.ret == 0
    shards = [run_shard(pytester, k, 3) for k in (1, 2, 3)]
    assert all(s.ret == 0 for s in shards)
    shards[0].stdout.fnmatch_lines(["twolayer: shard 1/3: * of 9 selected implementations*"])
    names = [json.loads((pytester.path / f"shard{k}.json").read_text()) for k in (1, 2, 3)]
    ran = [i["name"] for report in names for i in report["run"]["implementations"]]
    assert len(ran) == len(set(ran)) == 9  # each implementation in exactly one shard

    merged = merge(pytester, "shard3.json", "shard1.json", "shard2.json", "--json", "m.json")
    assert merged.returncode == 0, merged.stderr
    report = json.loads((pytester.path / "m.json").read_text())
    jsonschema.validate(report, schema())
    expected = json.loads((pytester.path / "whole.json").read_text())
    assert report["summary"] == expected["summary"]
    assert report["matrix"] == expected["matrix"]
    assert "3 shards merged" in merged.stdout

    durations = durations_from_report(pytester.path / "whole.json")
    assert set(durations) == set(ran)
    balanced = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "all", *CHECKS, "--twolayer-shard", "2/3",
        "--twolayer-shard-durations", "whole.json", "--twolayer-report-json", "b.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert balanced.ret == 0
    shard = json.loads((pytester.path / "b.json").read_text())["run"]["shard"]
    selected = shard["selected"]
    assert shard["implementations"] == split(selected, 3, durations)[1]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["shard1.json", "shard3.json"], "shard 2/3 missing (given: 1/3, 3/3)"),
        (["shard1.json", "shard1.json", "shard2.json", "shard3.json"], "shard 1/3 is given twice"),
        (["plain.json"], "not a shard's report"),
    ],
)
def test_an_incomplete_set_of_shards_fails_the_merge(
    pytester: pytest.Pytester, given: list[str], message: str
):
    selection = ["numpy", "tensor", "nn"]
    for index in (1, 2, 3):
        (pytester.path / f"shard{index}.json").write_text(
            json.dumps(fake_report(selection, {"index": index, "count": 3}))
        )
    (pytester.path / "plain.json").write_text(json.dumps(fake_report(selection, None)))
    merged = merge(pytester, *given)
    assert merged.returncode == 2
    assert message in merged.stderr


def fake_report(selection: list[str], shard: dict[str, int] | None) -> dict[str, object]:
    """The parts of a JSON report the merge reads before it merges."""
    info = None if shard is None else {**shard, "selected": selection, "implementations": []}
    return {"schema_version": 1, "run": {"seed": 0, "shard": info}, "checks": []}
