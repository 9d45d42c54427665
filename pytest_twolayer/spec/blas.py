"""The suite's own numpy arithmetic runs on one BLAS thread.

Checks alternate between an implementation's call (torch's OpenMP pool, TensorFlow's Eigen
pool, numpy's BLAS) and the suite's float64 reference (numpy's BLAS). Each pool keeps its
threads spinning for a while after its work, waiting for more; the other pool's threads then
share the cores with them. Alternating a product in torch with the same product in numpy
made each of them many times slower than alone. With the reference's products on one BLAS
thread no numpy pool thread wakes up: the torch product runs as fast as alone, the numpy one
at one thread's speed (the figures: docs/parallel.md#how-fast-it-is).

The limit is set and undone around each reference call (:func:`one_blas_thread`, a small
fraction of the smallest product's time), so an implementation never runs under it: numpy
implementations keep their threads, and the state guard sees the process as it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def _blas_pools() -> ThreadpoolController:
    """The BLAS libraries loaded when first asked (numpy's is loaded with numpy)."""
    return ThreadpoolController().select(user_api="blas")


def one_blas_thread(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` with the BLAS libraries limited to one thread while it runs."""

    @functools.wraps(function)
    def limited(*args: P.args, **kwargs: P.kwargs) -> R:
        with _blas_pools().limit(limits=1):
            return function(*args, **kwargs)

    return limited
