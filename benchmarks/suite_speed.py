"""Wall time of the conformance run, as run by default and in one process, sealed and not,
against its floor, in one run.

The floor is what any check of the nine implementations must pay: starting Python,
importing numpy, torch and TensorFlow, and training each implementation once for the
tutorial's 500 steps. The suite is ``pytest -p twolayer --impl all --device cpu`` as a user
runs it (parallel on this machine's cores by default, see ``pytest_twolayer/parallel/``)
and with ``-n 0`` (one process), each with ``--twolayer-isolation none`` (every
implementation in the judging processes) and ``process`` (sealed verdicts: each in a host
of its own, docs/trust.md); ``--without-benchmark`` adds the same without the benchmark
concern. Every variant runs as a fresh subprocess from an empty folder, the variants
alternate within each repeat, and medians are compared: absolute times drift between runs
on a shared machine, ratios measured side by side hold.

    python benchmarks/suite_speed.py [--repeats 3] [--without-benchmark]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from pytest_twolayer.host.machine import available_cores

FLOOR = """
import numpy, torch, tensorflow
import pytest_twolayer as tl
from pytest_twolayer.run.registry import Registry, installed_entry_points
registry = Registry()
registry.add_entry_points(installed_entry_points())
rng = numpy.random.default_rng(0)
x, y = rng.standard_normal((64, 1000)), rng.standard_normal((64, 10))
for name in registry.names():
    cls = registry.get(name).load()
    net = cls(tl.Dims(), device="cpu", dtype=cls.dtypes[0], seed=0)
    xn, yn = net.to_device(x), net.to_device(y)
    for _ in range(500):
        net.step(xn, yn)
"""

SUITE = [sys.executable, "-m", "pytest", "-p", "twolayer", "--impl", "all", "--device", "cpu"]
QUIET = ["-q", "-p", "no:cacheprovider", "--twolayer-matrix=no"]


def timed(command: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, children included) of one subprocess run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def default_workers() -> str:
    """What the plugin's default parallelism picks for nine implementations here."""
    value = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").strip()
    workers = min(int(value) if value.isdigit() else len(available_cores()), 9)
    return f"-n {workers}" if workers >= 2 else "one process"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--without-benchmark", action="store_true", help="also time each with --benchmark-skip"
    )
    args = parser.parse_args()
    variants = {"floor": [sys.executable, "-c", FLOOR]}
    for isolation in ("none", "process"):
        for workers, extra in (("default", []), ("-n 0", ["-n", "0"])):
            command = [*SUITE, *QUIET, *extra, "--twolayer-isolation", isolation]
            variants[f"{isolation:7} {workers}"] = command
            if args.without_benchmark:
                variants[f"{isolation:7} {workers} --benchmark-skip"] = [
                    *command,
                    "--benchmark-skip",
                ]
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as empty:  # an unrelated folder, as a user would run it
        for i in range(args.repeats):
            for label, command in variants.items():
                times[label].append(timed(command, empty))
                wall, cpu = times[label][-1]
                print(f"run {i + 1}: {label:32} {wall:6.1f} s wall {cpu:6.1f} s cpu", flush=True)
    medians = {label: statistics.median(w for w, _ in runs) for label, runs in times.items()}
    floor = medians["floor"]
    print(f"\nmedians of {args.repeats} (wall):")
    for label, wall in medians.items():
        print(f"  {label:32} {wall:6.1f} s   {wall / floor:5.2f}x floor")
    print(f"  (default: {default_workers()} on this machine)")
    print("sealed (process) over in-process (none), same workers:")
    for label, wall in medians.items():
        if label.startswith("process"):
            twin = label.replace("process", "none   ", 1)
            print(f"  {label[8:]:32} {wall / medians[twin]:5.2f}x")


if __name__ == "__main__":
    main()
