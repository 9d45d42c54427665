"""This machine's large-GEMM throughput, measured in the run: the yardstick for GFLOP/s.

A peak is the best throughput seen, so it is measured where and as the benchmark runs: in
the same process (an xdist worker under its own share of the cores, with the same thread
pools), on the same device, in the same dtype; as the best of several products, with every
library that process already uses for it (numpy's BLAS, and torch's when torch is loaded;
on cuda, torch or TensorFlow). A busy moment makes a measurement read low, so a benchmark
that beats the peak has it measured again; should it still be beaten, the benchmark's own
rate is the best this process has seen and becomes the peak, marked as such. A fraction of
the peak is therefore at most 1 by construction.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_twolayer.benchmarking.sync import synchronizer

GEMM_SIZE = 1024  # large enough for BLAS to reach its plateau, small enough to repeat per process
REPEATS = 3
"""Timed products per library per measurement, after one untimed: the best counts. On a quiet
machine the best of 3 read what the best of 7 did, at little more than half the cost
(docs/benchmarks.md#figures-behind-the-timer); a peak read low under load is measured again
when a benchmark beats it (:func:`gemm_peak`)."""
REMEASURES = 2  # more measurements, when a benchmark beat the peak, before it is its own

GEMM = "gemm"
STEP = "step"  # the peak is a benchmark's own rate: no GEMM in this process reached it


@dataclass(frozen=True)
class Peak:
    """The best GFLOP/s seen for one device and dtype in this process, and by what."""

    gflops: float
    source: str  # GEMM or STEP

    def fraction(self, gflops: float) -> float:
        """``gflops`` as a share of the peak: at most 1, the peak having been raised to it."""
        return gflops / self.gflops if self.gflops > 0 else 0.0


_PEAKS: dict[tuple[str, str], Peak] = {}  # per process: a figure of the hardware, not of a run


def gemm_peak(device: str, dtype: str, *, at_least: float = 0.0) -> Peak:
    """This process's peak for ``device`` and ``dtype``: measured on first use, and measured
    again whenever a caller has achieved more (``at_least``), keeping the best; if that caller
    still did better, its own rate. Never below ``at_least``."""
    key = (device, dtype)
    peak = _PEAKS.get(key) or Peak(measure(device, dtype), GEMM)
    for _ in range(REMEASURES):
        if peak.gflops >= at_least:
            break
        peak = Peak(max(peak.gflops, measure(device, dtype)), GEMM)
    if peak.gflops < at_least:
        peak = Peak(at_least, STEP)
    _PEAKS[key] = peak
    return peak


def measure(device: str, dtype: str) -> float:
    """The best GFLOP/s of ``n x n @ n x n`` products on ``device`` in ``dtype``, over the
    libraries this process uses for it (see the module's docstring)."""
    n = GEMM_SIZE
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    flops = 2 * n**3
    if device == "cpu":
        best = _best_gflops(lambda: np.matmul(a, b), flops, lambda: None)
        loaded: Any = sys.modules.get("torch")  # imported already by an implementation
        if loaded is not None:
            ta, tb = loaded.as_tensor(a), loaded.as_tensor(b)
            best = max(best, _best_gflops(lambda: loaded.matmul(ta, tb), flops, lambda: None))
        return best
    wait = synchronizer("cuda")
    if importlib.util.find_spec("torch") is not None:
        import torch

        ta, tb = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")
        return _best_gflops(lambda: torch.matmul(ta, tb), flops, wait)
    import tensorflow as tf  # a TensorFlow-only machine

    with tf.device("/GPU:0"):
        ga, gb = tf.constant(a), tf.constant(b)
        return _best_gflops(lambda: tf.matmul(ga, gb).numpy(), flops, wait)


def _best_gflops(run: Callable[[], object], flops: int, wait: Callable[[], None]) -> float:
    run()  # the first call pays for thread start-up and kernel selection
    wait()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        wait()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9
