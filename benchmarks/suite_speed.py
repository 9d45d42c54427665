"""Wall time of the conformance run, serial and parallel, against its floor, in one run.

The floor is what any check of the nine implementations must pay: starting Python,
importing numpy, torch and TensorFlow, and training each implementation once for the
tutorial's 500 steps. The suite is ``pytest -p twolayer --impl all --device cpu`` with
``-n 0`` and with ``-n 2`` (and, with ``--benchmark-skip``, without its benchmark concern).
Every variant runs as a fresh subprocess from an empty folder, the variants alternate
within each repeat, and medians are compared: absolute times drift between runs on a
shared machine, ratios measured side by side hold.

    python benchmarks/suite_speed.py [--repeats 3] [--workers 2]
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

FLOOR = """
import numpy, torch, tensorflow
import pytest_twolayer as tl
from pytest_twolayer.registry import Registry, installed_entry_points
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="the -n of the parallel runs")
    args = parser.parse_args()
    n = str(args.workers)
    variants = {
        "floor": [sys.executable, "-c", FLOOR],
        "suite -n 0": [*SUITE, *QUIET, "-n", "0"],
        f"suite -n {n}": [*SUITE, *QUIET, "-n", n],
        "suite -n 0 --benchmark-skip": [*SUITE, *QUIET, "-n", "0", "--benchmark-skip"],
        f"suite -n {n} --benchmark-skip": [*SUITE, *QUIET, "-n", n, "--benchmark-skip"],
    }
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
    for suffix in ("", " --benchmark-skip"):
        serial, parallel = medians[f"suite -n 0{suffix}"], medians[f"suite -n {n}{suffix}"]
        print(f"  -n {n} vs -n 0{suffix}: {parallel / serial:.2f}x the serial wall time")


if __name__ == "__main__":
    main()
