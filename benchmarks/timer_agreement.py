"""Does the plugin's step time agree with ``torch.utils.benchmark.Timer``? Both measure the
``tensor`` implementation's training step in this one process, alternately.

The plugin's figure is the median that ``test_benchmark_step`` publishes (pytest-benchmark
underneath, run in-process through ``pytest.main``); torch's is the median of
``Timer.blocked_autorange``. Alternating the two, several times, keeps drift out of the
comparison. Exits 1 when the medians of the pairs differ by more than ``--tolerance``.

    python benchmarks/timer_agreement.py [--impl tensor] [--pairs 3] [--tolerance 0.10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from typing import Any

import numpy as np
import pytest
import torch
import torch.utils.benchmark as torch_benchmark

import pytest_twolayer as tl
from pytest_twolayer.checking.published import read
from pytest_twolayer.run.registry import Registry, installed_entry_points


class Capture:
    """Keeps the step benchmark's published figures."""

    def __init__(self) -> None:
        self.figures: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        message = read(report)
        figures = message.data.get("benchmark") if message else None
        if report.when == "call" and figures:
            self.figures.append(figures)


def plugin_median(impl: str, folder: str) -> float:
    capture = Capture()
    args = ["-p", "twolayer", "--impl", impl, "--device", "cpu", "-q", "-p", "no:cacheprovider"]
    args += [
        "-k",
        "benchmark_step",
        "--twolayer-matrix=no",
        "--benchmark-quiet",
        "--rootdir",
        folder,
    ]
    code = pytest.main([*args, folder], plugins=[capture])
    if code != 0 or not capture.figures:
        sys.exit(f"the plugin's benchmark did not run (pytest exit code {code})")
    return float(capture.figures[-1]["median_s"])


def timer_median(impl: str) -> float:
    registry = Registry()
    registry.add_entry_points(installed_entry_points())
    cls: Any = registry.get(impl).load()
    net = cls(tl.Dims(), device="cpu", dtype=cls.dtypes[0], seed=0)
    rng = np.random.default_rng(0)
    x = net.to_device(rng.standard_normal((64, 1000)))
    y = net.to_device(rng.standard_normal((64, 10)))
    for _ in range(5):  # the same warm-up the plugin gives
        net.step(x, y)
    timer = torch_benchmark.Timer(
        "net.step(x, y)", globals={"net": net, "x": x, "y": y}, num_threads=torch.get_num_threads()
    )
    return float(timer.blocked_autorange(min_run_time=0.5).median)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="tensor")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.10)
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.pairs):
            ours, theirs = plugin_median(args.impl, folder), timer_median(args.impl)
            ratios.append(ours / theirs)
            print(
                f"pair {i + 1}: plugin {ours * 1e3:.4f} ms, torch Timer {theirs * 1e3:.4f} ms, "
                f"ratio {ratios[-1]:.3f}",
                flush=True,
            )
    ratio = statistics.median(ratios)
    verdict = "agree" if abs(ratio - 1) <= args.tolerance else "DISAGREE"
    print(
        f"median ratio plugin/Timer over {args.pairs} pairs: {ratio:.3f} -> {verdict} "
        f"(tolerance {args.tolerance:.0%}, threads {torch.get_num_threads()})"
    )
    sys.exit(0 if verdict == "agree" else 1)


if __name__ == "__main__":
    main()
