"""This machine's large-GEMM throughput, measured in the run: the yardstick for GFLOP/s.

Measured per process (each xdist worker under its own thread budget), device and dtype,
once; a benchmark's "% of peak" divides by the figure measured beside it.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

import numpy as np

from pytest_twolayer.benchmarking.sync import synchronizer

GEMM_SIZE = 1024  # large enough for BLAS to reach its plateau, small enough to take ~10 ms
REPEATS = 7  # the best of a few: a peak is what the hardware can do, not an average


_PEAKS: dict[tuple[str, str], float] = {}  # per process: a figure of the hardware, not of a run


def gemm_peak_gflops(device: str, dtype: str, *, at_least: float = 0.0) -> float:
    """This process's peak GFLOP/s for ``device`` and ``dtype``: measured on first use, and
    again whenever a caller has seen more than it (``at_least``: a calibration that another
    process disturbed reads low), keeping the best."""
    key = (device, dtype)
    if key not in _PEAKS or _PEAKS[key] < at_least:
        _PEAKS[key] = max(_PEAKS.get(key, 0.0), _measure(device, dtype))
    return _PEAKS[key]


def _measure(device: str, dtype: str) -> float:
    """The best GFLOP/s of an ``n x n @ n x n`` product on ``device`` in ``dtype``."""
    n = GEMM_SIZE
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    if device == "cpu":
        return _best_gflops(lambda: np.matmul(a, b), 2 * n**3, lambda: None)
    wait = synchronizer("cuda")
    if importlib.util.find_spec("torch") is not None:
        import torch

        ta, tb = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")
        return _best_gflops(lambda: torch.matmul(ta, tb), 2 * n**3, wait)
    import tensorflow as tf  # a TensorFlow-only machine

    with tf.device("/GPU:0"):
        ga, gb = tf.constant(a), tf.constant(b)
        return _best_gflops(lambda: tf.matmul(ga, gb).numpy(), 2 * n**3, wait)


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
