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


def timed(command: list[str], cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


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
    floors, suites = [], []
    with tempfile.TemporaryDirectory() as empty:  # an unrelated folder, as a user would run it
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        for i in range(args.repeats):
            floors.append(timed(floor_cmd, empty))
            suites.append(timed(suite_cmd, empty))
            print(f"run {i + 1}: floor {floors[-1]:.1f} s, suite {suites[-1]:.1f} s", flush=True)
    floor, suite = statistics.median(floors), statistics.median(suites)
    print(f"median floor {floor:.1f} s, median suite {suite:.1f} s, ratio {suite / floor:.2f}")


if __name__ == "__main__":
    main()
