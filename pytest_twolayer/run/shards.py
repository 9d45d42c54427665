"""Splitting a selection over CI runners: shard ``K/N`` checks its part of the implementations.

The split is deterministic (every runner computes the same one from the same selection) and
balanced on how long each implementation took in a previous run when its JSON report is
given (``--twolayer-shard-durations``), else on equal weights. Each shard writes its JSON
report; ``python -m pytest_twolayer.merge`` merges them into one verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_twolayer.option_table import SHARD, SHARD_DURATIONS

_SHARD = re.compile(r"^\s*(?P<index>\d+)\s*/\s*(?P<count>\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(value: str) -> Shard:
    """``K/N`` with ``1 <= K <= N``; ValueError names the bad value."""
    match = _SHARD.match(value)
    if match is None:
        raise ValueError(f"{SHARD.flag}: {value!r} is not K/N (e.g. 2/3)")
    shard = Shard(int(match["index"]), int(match["count"]))
    if not 1 <= shard.index <= shard.count:
        raise ValueError(f"{SHARD.flag}: {value!r}: K must be between 1 and N")
    return shard


def split(
    names: Sequence[str], count: int, durations: Mapping[str, float] | None = None
) -> list[list[str]]:
    """``names`` dealt into ``count`` shards, longest first, each to the shard with the least
    total so far (ties: the lowest shard); each shard keeps the selection's order.

    An implementation without a recorded duration weighs as much as the average recorded one
    (1 when none is recorded), so a new implementation does not pile onto one shard.
    """
    known = [float(durations[n]) for n in names if durations and n in durations]
    default = sum(known) / len(known) if known else 1.0

    def weight(name: str) -> float:
        return float(durations[name]) if durations and name in durations else default

    order = {name: i for i, name in enumerate(names)}
    shards: list[list[str]] = [[] for _ in range(count)]
    totals = [0.0] * count
    for name in sorted(names, key=lambda n: (-weight(n), order[n])):
        lightest = min(range(count), key=lambda s: (totals[s], s))
        shards[lightest].append(name)
        totals[lightest] += weight(name)
    return [sorted(shard, key=order.__getitem__) for shard in shards]


def durations_from_report(path: Path) -> dict[str, float]:
    """Seconds per implementation, summed over its checks, from a JSON report (a merged one
    too); ValueError for a file that is not one."""
    try:
        report: Any = json.loads(path.read_text(encoding="utf-8"))
        checks = report["checks"]
        durations: dict[str, float] = {}
        for check in checks:
            durations[check["impl"]] = durations.get(check["impl"], 0.0) + float(
                check["duration_s"]
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{SHARD_DURATIONS.flag} {path}: not a pytest-twolayer JSON report ({exc})"
        ) from None
    return durations
