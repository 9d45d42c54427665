"""Wall time of the whole conformance run against its floor, measured in one run.

The floor is what any check of the nine implementations must pay: starting Python,
importing numpy, torch and TensorFlow, and training each implementation once for the
tutorial's 500 steps. The suite is ``pytest -p twolayer --impl all`` on cpu. Both run as
fresh subprocesses, alternated, and the medians are compared.

    python scripts/suite_vs_floor.py [--repeats 3]
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


def timed(command: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one subprocess run.

    CPU time is reported too because it is far less sensitive than wall time to whatever
    else the machine runs; the suite and the floor use the same threads, so their ratio holds.
    """
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
    args = parser.parse_args()
    suite_cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "twolayer",
        "--impl",
        "all",
        "-q",
        "-p",
        "no:cacheprovider",
        "--device",
        "cpu",
    ]
    floor_cmd = [sys.executable, "-c", FLOOR]
    floors: list[tuple[float, float]] = []
    suites: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as empty:  # an unrelated folder, as a user would run it
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        for i in range(args.repeats):
            floors.append(timed(floor_cmd, empty))
            suites.append(timed(suite_cmd, empty))
            print(
                f"run {i + 1}: floor {floors[-1][0]:.1f} s wall / {floors[-1][1]:.1f} s cpu, "
                f"suite {suites[-1][0]:.1f} s wall / {suites[-1][1]:.1f} s cpu",
                flush=True,
            )
    for label, index in (("wall", 0), ("cpu", 1)):
        floor = statistics.median(f[index] for f in floors)
        suite = statistics.median(s[index] for s in suites)
        print(
            f"median {label}: floor {floor:.1f} s, suite {suite:.1f} s, ratio {suite / floor:.2f}"
        )


if __name__ == "__main__":
    main()
