"""The suite's reference arithmetic runs on one BLAS thread and puts the count back: checks
alternate it with an implementation's calls, and two thread pools spinning into each other
made both several times slower (see pytest_twolayer/spec/blas.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from pytest_twolayer.checking.compare import normwise_error
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.blas import one_blas_thread


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


class SeesThreads:
    """An array-like that notes the BLAS thread counts when numpy reads it."""

    def __init__(self, array: np.ndarray, seen: list[list[int]]) -> None:
        self.array, self.seen = array, seen

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self.seen.append(blas_threads())
        return np.asarray(self.array, dtype=dtype)


rng = np.random.default_rng(0)
PARAMS = {"w1": rng.standard_normal((6, 4)), "wm": rng.standard_normal((4, 4)),
          "w2": rng.standard_normal((4, 3))}  # fmt: skip
X, Y = rng.standard_normal((5, 6)), rng.standard_normal((5, 3))

REFERENCE_CALLS: dict[str, Callable[[Any, Any], object]] = {
    "forward": lambda x, y: reference.forward(PARAMS, x, 1),
    "loss": lambda x, y: reference.loss(PARAMS, x, y, 1),
    "losses_by_depth": lambda x, y: reference.losses_by_depth(PARAMS, x, y, (0, 1)),
    "loss_and_gradients": lambda x, y: reference.loss_and_gradients(PARAMS, x, y, 1),
    "kink_distance": lambda x, y: reference.kink_distance(PARAMS, x, 1),
    "normwise_error": lambda x, y: normwise_error(x, np.asarray(X)),
}


@pytest.fixture
def two_blas_threads() -> Any:
    if not blas_threads():
        pytest.skip("numpy's BLAS is not one threadpoolctl can see")
    with threadpool_limits(limits=2, user_api="blas"):
        yield


@pytest.mark.parametrize("call", REFERENCE_CALLS)
def test_reference_arithmetic_runs_on_one_blas_thread(call: str, two_blas_threads: None):
    seen: list[list[int]] = []
    REFERENCE_CALLS[call](SeesThreads(X, seen), SeesThreads(Y, seen))
    assert seen  # numpy read the inputs
    assert all(counts == [1] * len(counts) for counts in seen), seen
    assert blas_threads() == [2] * len(blas_threads())  # put back afterwards


def test_the_count_is_put_back_when_the_function_raises(two_blas_threads: None):
    @one_blas_thread
    def fails() -> None:
        assert blas_threads() == [1] * len(blas_threads())
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        fails()
    assert blas_threads() == [2] * len(blas_threads())
