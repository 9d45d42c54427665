"""``python -m pytest_twolayer.merge``: the JSON reports of a sharded run, merged into one.

Each CI runner checks one shard (``--twolayer-shard K/N``) and writes its JSON report; this
command checks that every shard of the same selection is there exactly once, then writes one
verdict: the merged JSON report (valid against the shipped schema), the conformance matrix
on the terminal, a Markdown summary and the figures, as one unsharded run would. Exit status:
0 when every check passed, 1 when one failed or did not run, 2 when the shards do not add
up (one missing, given twice, or from another run).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer.option_table import SHARD
from pytest_twolayer.plotting.data import Collected
from pytest_twolayer.plotting.writer import figure_modules, load_matplotlib
from pytest_twolayer.report import json_report, lost_hosts, markdown
from pytest_twolayer.report.matrix import build, render_text
from pytest_twolayer.report.records import Record, count, record_from_json
from pytest_twolayer.report.run_failures import RunFailures
from pytest_twolayer.version import __version__


class MergeError(Exception):
    """The shard reports do not make one run; the message names what is wrong."""


@dataclass(frozen=True)
class ShardReport:
    path: Path
    report: dict[str, Any]

    @property
    def shard(self) -> dict[str, Any]:
        return dict(self.report["run"]["shard"])


def read(paths: list[Path]) -> list[ShardReport]:
    """The reports, each one shard; a file that is not one is a :class:`MergeError`."""
    shards = []
    for path in paths:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MergeError(f"{path}: cannot read it as JSON: {exc}") from None
        if not isinstance(report, dict) or report.get("schema_version") != 1:
            raise MergeError(f"{path}: not a pytest-twolayer JSON report (schema_version 1)")
        if not report.get("run", {}).get("shard"):
            raise MergeError(f"{path}: not a shard's report (it ran without {SHARD.flag})")
        shards.append(ShardReport(path, report))
    return shards


def check_complete(shards: list[ShardReport]) -> list[ShardReport]:
    """The shards in index order, when they are exactly shards 1..N of one selection."""
    if not shards:
        raise MergeError("no shard report given")
    first = shards[0]
    count_ = int(first.shard["count"])
    by_index: dict[int, ShardReport] = {}
    for shard in shards:
        info = shard.shard
        if int(info["count"]) != count_:
            raise MergeError(
                f"{shard.path} is shard {info['index']}/{info['count']}, but {first.path} "
                f"is one of {count_}: not the same split"
            )
        if info["selected"] != first.shard["selected"]:
            raise MergeError(
                f"{shard.path} selected {info['selected']}, {first.path} selected "
                f"{first.shard['selected']}: not the same run"
            )
        if shard.report["run"]["seed"] != first.report["run"]["seed"]:
            raise MergeError(f"{shard.path} ran with another seed than {first.path}")
        index = int(info["index"])
        if index in by_index:
            raise MergeError(
                f"shard {index}/{count_} is given twice: {by_index[index].path} and {shard.path}"
            )
        by_index[index] = shard
    missing = [i for i in range(1, count_ + 1) if i not in by_index]
    if missing:
        given = ", ".join(f"{i}/{count_}" for i in sorted(by_index))
        lost = ", ".join(f"{i}/{count_}" for i in missing)
        raise MergeError(f"shard {lost} missing (given: {given}): the verdict would be partial")
    return [by_index[i] for i in sorted(by_index)]


def merged_host(known: dict[str, Any] | None, facts: dict[str, Any]) -> dict[str, Any]:
    """A host two shards ran on (a shared runner, ``localhost``): its workers, a loss
    either shard saw and the checks either rescheduled all stay."""
    if known is None:
        return dict(facts)
    merged = {**known, **facts}
    merged["workers"] = {**known.get("workers", {}), **facts.get("workers", {})}
    merged["lost"] = known.get("lost") or facts.get("lost")
    merged["rescheduled"] = [*known.get("rescheduled", []), *facts.get("rescheduled", [])]
    return merged


def merged_report(shards: list[ShardReport]) -> tuple[dict[str, Any], list[Record]]:
    """One report from the shards' (and the records behind it), as one run's would be."""
    selected = list(shards[0].shard["selected"])
    records = [record_from_json(c) for s in shards for c in s.report["checks"]]
    devices: dict[str, dict[str, Any]] = {}
    for shard in shards:
        for device in shard.report["run"]["devices"]:
            known = devices.get(device["name"])
            if known is None or (device["available"] and not known["available"]):
                devices[device["name"]] = device
    matrix = build(records, selected, list(devices))
    implementations = [i for s in shards for i in s.report["run"]["implementations"]]
    hosts: dict[str, Any] = {}
    for shard in shards:
        environment = shard.report["environment"]
        for name, facts in (environment.get("hosts") or {}).items():
            hosts[name] = merged_host(hosts.get(name), facts)
        if not environment.get("hosts"):  # the shard ran in one process: its runner is a host
            hosts[f"shard {shard.shard['index']}/{shard.shard['count']}"] = {
                "platform": environment.get("platform", ""),
                "python": environment.get("python", ""),
                "packages": environment.get("packages", {}),
            }
    checks = [c for s in shards for c in s.report["checks"]]
    benchmarks = [b for s in shards for b in s.report["benchmarks"]]
    failures = RunFailures()  # a shard's tripped ratchet fails the merged run too
    for shard in shards:
        for reason in shard.report["summary"].get("run_failures", []):
            failures.add("run failure", f"shard {shard.shard['index']}: {reason}")
    verdict = failures.verdict(records)
    exit_status = 0 if verdict == "passed" else 1
    environment = dict(shards[0].report["environment"])
    environment["hosts"] = hosts
    environment["xdist_workers"] = sum(s.report["environment"]["xdist_workers"] for s in shards)
    report = {
        "schema_version": json_report.SCHEMA_VERSION,
        "tool": {"name": json_report.TOOL, "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": {
            "seed": shards[0].report["run"]["seed"],
            "args": ["merge", *(str(s.path) for s in shards)],
            "exit_status": exit_status,
            "duration_s": max(s.report["run"]["duration_s"] for s in shards),
            "devices": list(devices.values()),
            "implementations": sorted(implementations, key=lambda i: selected.index(i["name"])),
            "shard": None,
            "isolation": merged_isolation([s.report["run"] for s in shards]),
        },
        "environment": environment,
        "matrix": matrix.to_json(),
        "checks": checks,
        "benchmarks": benchmarks,
        "summary": {
            "total": len(checks),
            **count(records),
            "verdict": verdict,
            "run_failures": failures.reasons(),
        },
    }
    return report, records


def merged_isolation(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The shards' isolation when they agree; ``mixed`` (no protections claimed) when they do
    not, so that a merged verdict never claims more than its weakest shard had. A shard
    written before the field existed ran in one process."""
    found = [run.get("isolation") or {"mode": "none", "protections": {}} for run in runs]
    if all(isolation == found[0] for isolation in found):
        return dict(found[0])
    return {"mode": "mixed", "protections": {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_twolayer.merge",
        description=f"Merge the JSON reports of a sharded run ({SHARD.flag}) into one.",
    )
    parser.add_argument("reports", nargs="+", type=Path, help="every shard's JSON report")
    parser.add_argument("--json", type=Path, help="write the merged JSON report here")
    parser.add_argument("--md", type=Path, help="write the merged Markdown summary here")
    parser.add_argument("--plots", type=Path, help="draw the run's figures into this folder")
    args = parser.parse_args(argv)
    try:
        shards = check_complete(read(args.reports))
    except MergeError as exc:
        print(f"pytest_twolayer.merge: {exc}", file=sys.stderr)
        return 2
    report, records = merged_report(shards)
    selected = list(shards[0].shard["selected"])
    matrix = build(records, selected, [d["name"] for d in report["run"]["devices"]])
    for line in render_text(matrix):
        print(line)
    for reason in report["summary"]["run_failures"]:
        print(f"run FAILED: {reason}")
    lost = lost_hosts.lines(report["environment"]["hosts"])
    for line in lost:
        print(f"twolayer: {line}")
    exit_status = int(report["run"]["exit_status"])
    if args.json:
        json_report.write(args.json, report)
        print(f"merged JSON report: {args.json}")
    if args.md:
        run_failures = report["summary"]["run_failures"]
        text = markdown.render(matrix, records, exit_status, run_failures, lost)
        markdown.write(args.md, text)
        print(f"merged Markdown summary: {args.md}")
    if args.plots:
        try:
            load_matplotlib()
        except pytest.UsageError as exc:
            print(f"pytest_twolayer.merge: {exc}", file=sys.stderr)
            return 2
        args.plots.mkdir(parents=True, exist_ok=True)
        benchmarks, loss_curves = figure_modules()
        collected = Collected.of(records)
        devices = [d["name"] for d in report["run"]["devices"]]
        curves = collected.ordered_curves(selected, devices)
        if curves:
            print(f"figure: {loss_curves.write(curves, report['run']['seed'], args.plots)}")
        benches = collected.ordered_benchmarks(selected, devices)
        if benches:
            print(f"figure: {benchmarks.write(benches, args.plots)}")
    summary = report["summary"]
    print(f"{len(shards)} shards merged: {summary['total']} checks, verdict {summary['verdict']}")
    return exit_status


if __name__ == "__main__":
    sys.exit(main())
