"""Does a run scale linearly with the number of implementations? A course grading 200
submissions needs the 200th to cost what the 20th did, sealed and not.

Each probe registers N copies of the numpy net, each in a module of its own (so each gets a
host of its own when sealed), and runs a fixed handful of checks on every one of them, as a
fresh subprocess from an empty folder, once with ``--twolayer-isolation none`` and once with
``process``, alternating; the figure is the wall time per implementation. The run's own start
(Python, pytest, the plugin) is paid once, so the time per implementation falls a little as N
grows, and any cost that grows with N shows as a rise.

    python benchmarks/scale_probe.py [--sizes 25,50,100,200] [-n 0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKS = "test_implementation_loads or test_forward_shapes or test_update_follows_rule"
"""A few quick checks from three concerns: the probe times what grows with N (a host's start,
its requests, the scheduling and the reports), not the nets' training."""

SUBMISSION = """
from pytest_twolayer.implementations.numpy_net import NumpyNet


class Submission(NumpyNet):
    pass
"""


def make_submissions(folder: Path, count: int) -> list[str]:
    """``count`` modules and a conftest registering each by import path (the judging process
    never imports them when sealed); the names registered."""
    names = [f"s{i:03d}" for i in range(count)]
    for name in names:
        (folder / f"submission_{name}.py").write_text(SUBMISSION)
    lines = ["def pytest_twolayer_register(registry):"] + [
        f'    registry.add("{name}", "submission_{name}:Submission")' for name in names
    ]
    (folder / "conftest.py").write_text("\n".join(lines) + "\n")
    (folder / "pytest.ini").write_text("[pytest]\n")
    return names


def timed_run(folder: Path, names: list[str], isolation: str, workers: str) -> float:
    command = [
        sys.executable, "-m", "pytest", "-p", "twolayer", "--impl", ",".join(names),
        "--device", "cpu", "-n", workers, "-k", CHECKS, "-q", "-p", "no:cacheprovider",
        "--twolayer-matrix=no", "--twolayer-isolation", isolation,
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:8])} ... failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,50,100,200")
    parser.add_argument(
        "-n", dest="workers", default="0", help="pytest-xdist workers (0: one process)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    found: dict[tuple[int, str], float] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as empty:
            names = make_submissions(Path(empty), size)
            for isolation in ("none", "process"):
                found[size, isolation] = timed_run(Path(empty), names, isolation, args.workers)
                print(
                    f"{size:4} implementations, {isolation:7}: {found[size, isolation]:6.1f} s",
                    flush=True,
                )
    print(
        f"\nwall time per implementation ({CHECKS.count(' or ') + 1} checks each,"
        f" -n {args.workers}):"
    )
    print(f"  {'implementations':>15} {'none':>9} {'process':>9} {'sealed/none':>12}")
    for size in sizes:
        none, sealed = found[size, "none"] / size, found[size, "process"] / size
        print(f"  {size:15} {none * 1e3:6.0f} ms {sealed * 1e3:6.0f} ms {sealed / none:11.2f}x")
    first, last = sizes[0], sizes[-1]
    for isolation in ("none", "process"):
        growth = (found[last, isolation] / last) / (found[first, isolation] / first)
        print(f"{isolation}: per implementation, {last} cost {growth:.2f}x what {first} did")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
