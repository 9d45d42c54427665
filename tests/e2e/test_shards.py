"""Sharding over CI runners: ``--impl all`` split into shards whose merged reports give the
verdict, matrix and check count of one unsharded run; a missing or doubled shard fails the
merge with a message that names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from pytest_twolayer.report.json_report import schema
from pytest_twolayer.run.shards import durations_from_report, parse_shard, split

CHECKS = ("-k", "implementation_loads or params_canonical or training", "-n", "0")
NAMES = ["numpy", "tensor", "autograd", "function", "tf-static", "nn", "optim", "module"]


def test_the_split_is_deterministic_complete_and_keeps_the_selections_order():
    shards = split(NAMES, 3)
    assert shards == split(NAMES, 3)
    assert sorted(n for s in shards for n in s) == sorted(NAMES)
    for shard in shards:
        assert shard == sorted(shard, key=NAMES.index)
    assert [len(s) for s in shards] == [3, 3, 2]


def test_recorded_durations_balance_the_shards():
    durations = {"tf-static": 30.0, "optim": 20.0, "numpy": 2.0, "tensor": 3.0, "nn": 9.0}

    def totals(shards: list[list[str]]) -> list[float]:
        return sorted(sum(durations[n] for n in s) for s in shards)

    assert totals(split(list(durations), 2, durations)) == [32.0, 32.0]
    assert totals(split(list(durations), 2)) == [23.0, 41.0]  # blind: by count alone
    # a newcomer without a record weighs the mean of the others, not nothing
    with_new = split([*durations, "mine"], 2, durations)
    assert any("mine" in s and "tf-static" not in s for s in with_new)


def test_a_shard_is_k_of_n():
    assert str(parse_shard("2/3")) == "2/3"
    for bad in ("0/3", "4/3", "2", "a/b"):
        with pytest.raises(ValueError, match="--twolayer-shard"):
            parse_shard(bad)


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


def test_the_durations_file_must_be_a_report(tmp_path: Path):
    bad = tmp_path / "r.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a pytest-twolayer JSON report"):
        durations_from_report(bad)
