"""For scripts/gpu_check.sh: what a parallel run on a GPU machine must show in its JSON report.

One worker per GPU (each pinned to a GPU of its own, never two on one), the worker beyond
the GPU count with none, every cuda check that ran on a worker with a GPU, torch's and
TensorFlow's cuda implementations among them, and the run passed.

Usage: python scripts/gpu_workers.py REPORT.json [IMPL ...]   (exit 1 on any problem)
"""

from __future__ import annotations

import json
import sys
from typing import Any


def problems(report: dict[str, Any], cuda_impls: list[str]) -> list[str]:
    """Everything the report shows against the rules above; empty when it proves them.
    ``cuda_impls`` must each have run a cuda check."""
    found = []
    for name, facts in report["environment"]["hosts"].items():
        shares = facts.get("workers", {})
        gpus = int(facts.get("gpus", 0))
        pinned = {worker: share["gpu"] for worker, share in shares.items() if share["gpu"]}
        if len(pinned) != min(gpus, len(shares)):
            found.append(
                f"{name}: {len(pinned)} GPU workers for {gpus} GPUs, {len(shares)} workers"
            )
        if len(set(pinned.values())) != len(pinned):
            found.append(f"{name}: two workers share a GPU: {pinned}")
    gpu_workers = {
        worker
        for facts in report["environment"]["hosts"].values()
        for worker, share in facts.get("workers", {}).items()
        if share["gpu"]
    }
    cuda = [c for c in report["checks"] if c["device"] == "cuda" and c["outcome"] != "skipped"]
    if not cuda:
        found.append("no cuda check ran")
    elsewhere = sorted({c["worker"] for c in cuda} - gpu_workers)
    if elsewhere:
        found.append(f"cuda checks ran on workers without a GPU: {elsewhere}")
    ran = {c["impl"] for c in cuda}
    missing = [impl for impl in cuda_impls if impl not in ran]
    if missing:
        found.append(f"no cuda check of {missing} ran")
    if report["summary"]["verdict"] != "passed":
        failed = [c["nodeid"] for c in report["checks"] if c["outcome"] in ("failed", "error")]
        found.append(f"the run's verdict is {report['summary']['verdict']}: {failed[:5]}")
    return found


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as file:
        report = json.load(file)
    cuda = [c for c in report["checks"] if c["device"] == "cuda" and c["outcome"] != "skipped"]
    print(f"cuda checks {len(cuda)} on workers {sorted({c['worker'] for c in cuda})}")
    for host, facts in report["environment"]["hosts"].items():
        shares = {w: s["gpu"] for w, s in facts.get("workers", {}).items()}
        print(f"{host}: {facts.get('gpus')} GPU(s); each worker's GPU: {shares}")
    found = problems(report, argv[1:])
    for problem in found:
        print(f"PROBLEM: {problem}")
    print("GPU workers: proven" if not found else "GPU workers: NOT proven")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
