"""The built-ins' benchmark figures sealed (``--twolayer-isolation process``: each step timed
here, across the boundary to the implementation's host, the crossing measured and left out)
against the same run in one process (``none``), side by side.

Each repeat runs the benchmark concern of ``--impl all`` once each way, alternating, in one
process (``-n 0``: no other worker shares the cores during a timed run), from an empty
folder; the figure per implementation is the median over the repeats of each run's median
step, and their ratio is printed with the crossing that was taken off. The contract asks for
agreement within 5% (docs/trust.md).

    python benchmarks/sealed_medians.py [--repeats 3] [--impl all]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

AGREEMENT = 0.05
"""Sealed and in-process medians may differ by this fraction of the in-process one."""


def run(isolation: str, impl: str, folder: Path, repeat: int) -> dict[str, dict[str, float]]:
    report = folder / f"{isolation}-{repeat}.json"
    command = [
        sys.executable, "-m", "pytest", "-p", "twolayer", "--impl", impl, "--device", "cpu",
        "-n", "0", "-q", "-p", "no:cacheprovider", "--twolayer-matrix=no",
        "-k", "test_benchmark_step", "--twolayer-isolation", isolation,
        "--twolayer-report-json", str(report),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if not report.is_file():
        sys.exit(
            f"{' '.join(command)} wrote no report:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    figures = json.loads(report.read_text())["benchmarks"]
    return {
        b["impl"]: {"median_s": b["median_s"], "crossing_s": b.get("crossing_s") or 0.0}
        for b in figures
        if b.get("median_s") is not None
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--impl", default="all")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    found: dict[str, list[dict[str, dict[str, float]]]] = {"none": [], "process": []}
    with tempfile.TemporaryDirectory() as empty:
        for repeat in range(args.repeats):
            for isolation in ("none", "process"):  # alternated: drift hits both alike
                found[isolation].append(run(isolation, args.impl, Path(empty), repeat))
                print(f"run {repeat + 1}: {isolation} done", flush=True)
    names = sorted(set.intersection(*(set(r) for runs in found.values() for r in runs)))
    print(f"\nmedian step, median of {args.repeats} runs each (ms):")
    print(
        f"  {'implementation':16} {'one process':>12} {'sealed':>10} {'ratio':>7} {'crossing':>9}"
    )
    worst = 0.0
    for name in names:
        alone = statistics.median(r[name]["median_s"] for r in found["none"])
        sealed = statistics.median(r[name]["median_s"] for r in found["process"])
        crossing = statistics.median(r[name]["crossing_s"] for r in found["process"])
        ratio = sealed / alone
        worst = max(worst, abs(ratio - 1))
        print(
            f"  {name:16} {alone * 1e3:12.3f} {sealed * 1e3:10.3f} {ratio:7.3f} "
            f"{crossing * 1e6:7.0f} us"
        )
    verdict = "within" if worst <= AGREEMENT else "OUTSIDE"
    print(f"largest difference {worst:.1%}: {verdict} the {AGREEMENT:.0%} the contract allows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
