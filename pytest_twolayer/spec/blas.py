"""The suite's own numpy arithmetic runs on one BLAS thread.

Checks alternate between an implementation's call (torch's OpenMP pool, TensorFlow's Eigen
pool, numpy's BLAS) and the suite's float64 reference (numpy's BLAS). Each pool keeps its
threads spinning for a while after its work, waiting for more; the other pool's threads then
share the cores with them. On a 2-core machine, alternating a 64 x 1000 x 100 product in torch
with the same product in numpy made the torch product take 7 ms instead of 0.09 ms, and the
numpy one 4.3 ms instead of 0.18 ms. With the reference's products on one BLAS thread no
numpy pool thread wakes up, and the pair took 0.10 ms and 0.30 ms.

The limit is set and undone around each reference call (:func:`one_blas_thread`, ~7 us), so
an implementation never runs under it: numpy implementations keep their threads, and the
state guard sees the process as it was.
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
