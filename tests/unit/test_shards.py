"""Sharding over CI runners: the split of a selection into shards, balanced by recorded
durations, and the options that name a shard and its durations' report."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_twolayer.run.shards import durations_from_report, parse_shard, split

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


def test_the_durations_file_must_be_a_report(tmp_path: Path):
    bad = tmp_path / "r.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a pytest-twolayer JSON report"):
        durations_from_report(bad)
