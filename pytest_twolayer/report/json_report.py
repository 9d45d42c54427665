"""The versioned JSON report: run, environment, matrix, every check, benchmarks, summary."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer.host.machine import DISTRIBUTIONS, package_version
from pytest_twolayer.report.matrix import Matrix
from pytest_twolayer.report.records import Outcome, Record, count, json_safe
from pytest_twolayer.report.run_failures import RunFailures
from pytest_twolayer.run.selection import Loaded, Selection
from pytest_twolayer.version import __version__

SCHEMA_VERSION = 1
"""Bumped when a field changes meaning or disappears; adding a field keeps the version."""
TOOL = "pytest-twolayer"


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every report of this version validates against."""
    text = resources.files("pytest_twolayer.report").joinpath("schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True)
class Run:
    """What the report says about the session beyond its records."""

    selection: Selection
    args: list[str]
    exit_status: int
    started: datetime
    finished: datetime
    workers: int  # pytest-xdist workers; 0 in one process
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> its description
    shard: dict[str, Any] | None = None  # --twolayer-shard: which part of the selection
    isolation: dict[str, Any] = field(default_factory=dict)  # where implementations ran


def run_of(
    config: pytest.Config,
    selection: Selection,
    exit_status: int,
    started: datetime,
    *,
    workers: int = 0,
    hosts: dict[str, dict[str, Any]] | None = None,
    shard: dict[str, Any] | None = None,
    isolation: dict[str, Any] | None = None,
) -> Run:
    return Run(
        selection=selection,
        args=[str(a) for a in config.invocation_params.args],
        exit_status=exit_status,
        started=started,
        finished=datetime.now(timezone.utc),
        workers=workers,
        hosts=dict(hosts or {}),
        shard=shard,
        isolation=dict(isolation or {"mode": "none", "protections": {}}),
    )


def build(
    run: Run, records: list[Record], matrix: Matrix, failures: RunFailures | None = None
) -> dict[str, Any]:
    failures = failures or RunFailures()
    checks = [r.to_json() for r in records]
    benchmarks = [
        {**json_safe(r.benchmark), "nodeid": r.nodeid, "outcome": r.outcome.value, "host": r.host}
        for r in records
        if r.benchmark is not None and r.outcome is not None
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL, "version": __version__},
        "created": run.finished.isoformat(timespec="seconds"),
        "run": {
            "seed": run.selection.seed,
            "args": run.args,
            "exit_status": run.exit_status,
            "duration_s": round((run.finished - run.started).total_seconds(), 3),
            "devices": [
                {"name": device, "available": reason is None, "reason": reason}
                for device, reason in run.selection.devices.items()
            ],
            "implementations": [
                implementation(loaded, records) for loaded in run.selection.implementations
            ],
            "shard": run.shard,
            "isolation": run.isolation,
        },
        "environment": environment(run.workers, run.hosts),
        "matrix": matrix.to_json(),
        "checks": checks,
        "benchmarks": benchmarks,
        "summary": {
            "total": len(checks),
            **count(records),
            "verdict": failures.verdict(records),
            "run_failures": failures.reasons(),  # what failed the run beside its checks
        },
    }


def status(loaded: Loaded, records: list[Record]) -> str:
    """An implementation's overall state: broken, crashed, failed, passed, skipped or not run."""
    own = {r.outcome for r in records if r.impl == loaded.spec.name}
    if loaded.declared is None:
        return "broken"
    if Outcome.CRASHED in own:
        return "crashed"
    if own & {Outcome.FAILED, Outcome.ERROR}:
        return "failed"
    if not own or own & {Outcome.NOT_RUN, Outcome.SUITE_ERROR}:  # a verdict is missing
        return "not run"
    return "skipped" if own == {Outcome.SKIPPED} else "passed"


def implementation(loaded: Loaded, records: list[Record]) -> dict[str, Any]:
    declared = loaded.declared
    entry: dict[str, Any] = {
        "name": loaded.spec.name,
        "target": loaded.spec.target,
        "source": loaded.spec.source,
        "status": status(loaded, records),
        "error": loaded.error,
        "devices": list(declared.devices) if declared else [],
        "dtypes": list(declared.dtypes) if declared else [],
        "device_skip_reasons": dict(declared.skip_reasons) if declared else {},
        "expected_failures": dict(declared.expected_failures) if declared else {},
        "optimizer": declared.optimizer if declared else None,
        "depths": list(declared.depths) if declared else [],
    }
    return entry


def environment(workers: int, hosts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": {label: package_version(label) for label in DISTRIBUTIONS},
        "xdist_workers": workers,
        "hosts": {name: json_safe(facts) for name, facts in hosts.items()},
    }


def write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    path.write_text(text, encoding="utf-8")
