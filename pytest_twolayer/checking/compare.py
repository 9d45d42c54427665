"""The measures verdicts are decided by: normwise errors, the worst mismatch, the nearest depth.

The verdicts themselves (a returned value's type, shape and dtype, a loss or array close to
the reference) are the judge's (:class:`pytest_twolayer.checking.judge.Judge`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pytest_twolayer.spec.blas import one_blas_thread

if TYPE_CHECKING:
    from pytest_twolayer.checking.case import Case


@one_blas_thread
def normwise_error(got: np.ndarray, expected: np.ndarray) -> float:
    """``||got - expected|| / ||expected||`` in float64 (inf when expected is 0 and got is not)."""
    diff = float(np.linalg.norm(np.asarray(got, np.float64) - expected))
    scale = float(np.linalg.norm(expected))
    if scale == 0.0:
        return 0.0 if diff == 0.0 else math.inf
    return diff / scale


def describe_mismatch(got: np.ndarray, expected: np.ndarray) -> str:
    """Worst element, its index and how many elements differ notably, torch-style."""
    diff = np.abs(np.asarray(got, np.float64) - expected)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    notable = int(np.count_nonzero(diff > 1e-3 * max(scale, 1e-300)))
    worst = tuple(int(i) for i in index)
    return (
        f"worst element {list(worst)}: got {float(got[worst]):.6g}, "
        f"expected {float(expected[worst]):.6g}; {notable} of {diff.size} elements differ "
        "by more than 1e-3 of the largest"
    )


def params_as_f64(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A float64 copy of a parameter dict."""
    return {name: np.array(value, dtype=np.float64) for name, value in params.items()}


def closest_depth(
    got: np.ndarray | float, expected_by_depth: Mapping[int, np.ndarray | float]
) -> tuple[int, float]:
    """The declared depth whose reference is nearest to ``got``, and the relative error there.

    This is how the suite tells which depth a dynamic net drew: the values at different
    depths differ by far more than rounding.
    """
    errors = {
        depth: normwise_error(
            np.atleast_1d(np.asarray(got, np.float64)), np.atleast_1d(np.asarray(e, np.float64))
        )
        for depth, e in expected_by_depth.items()
    }
    depth = min(errors, key=lambda d: errors[d])
    return depth, errors[depth]


def as_loss(case: Case, check: str, what: str, value: object) -> float:
    """``case.judge(check).loss(what, value)``, for the benchmark's timed steps, which still
    hold a case and a label rather than a judge."""
    __tracebackhide__ = True
    return case.judge(check).loss(what, value)
