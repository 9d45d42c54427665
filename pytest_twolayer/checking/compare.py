"""Turning what an implementation returned into verdicts: type checks and close comparisons."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from pytest_twolayer.checking.case import Case
from pytest_twolayer.spec.blas import one_blas_thread
from pytest_twolayer.spec.contract import expected_param_names
from pytest_twolayer.spec.dims import Dims


def as_array(
    case: Case, check: str, what: str, value: object, shape: tuple[int, ...], dtype: str
) -> np.ndarray:
    """``value`` if it is a finite numpy array of ``shape`` and ``dtype``; otherwise fail."""
    __tracebackhide__ = True
    if not isinstance(value, np.ndarray):
        case.fail(check, f"{what} returned {type(value).__name__}, expected a numpy.ndarray")
    if value.shape != shape:
        case.fail(check, f"{what} has shape {value.shape}, expected {shape}")
    if value.dtype != np.dtype(dtype):
        case.fail(check, f"{what} has dtype {value.dtype}, expected {dtype}")
    if not np.all(np.isfinite(value)):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        case.fail(check, f"{what} has {bad} NaN or inf of {value.size} values")
    return value


def as_loss(case: Case, check: str, what: str, value: object) -> float:
    """``value`` as a finite Python float, if it is a real scalar; otherwise fail."""
    __tracebackhide__ = True
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        case.fail(check, f"{what} returned {type(value).__name__} {value!r:.60}, expected a float")
    loss = float(value)
    if not math.isfinite(loss):
        case.fail(check, f"{what} returned {loss}, expected a finite loss")
    return loss


def assert_loss_close(
    case: Case, check: str, what: str, got: float, expected: float, rtol: float
) -> None:
    """``|got - expected| <= rtol * |expected|``."""
    __tracebackhide__ = True
    error = abs(got - expected)
    if not error <= rtol * abs(expected):
        case.fail(
            check,
            f"{what}: got {got!r}, expected {expected!r} "
            f"(relative error {error / max(abs(expected), 1e-300):.3g} > {rtol:.3g})",
        )


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


def assert_arrays_close(
    case: Case, check: str, what: str, got: np.ndarray, expected: np.ndarray, rtol: float
) -> None:
    """Normwise relative closeness, reporting the worst element when it fails."""
    __tracebackhide__ = True
    error = normwise_error(got, expected)
    if not error <= rtol:
        case.fail(
            check,
            f"{what}: normwise relative error {error:.3g} > {rtol:.3g}; "
            f"{describe_mismatch(got, expected)}",
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


def canonical_params(
    case: Case, check: str, impl: Any, dims: Dims | None = None
) -> dict[str, np.ndarray]:
    """``impl.params()`` once it is shown to be a dict of canonical names, shapes and dtype.

    Every check that feeds parameters to the reference goes through here, so a net with a
    missing or mis-laid parameter fails with that verdict rather than a reference crash.
    """
    __tracebackhide__ = True
    params = case.call(check, "params()", impl.params)
    if not isinstance(params, dict):
        case.fail(check, f"params() returned {type(params).__name__}, expected a dict")
    why = expected_param_names(tuple(case.cls.depths), set(params))
    if why:
        case.fail(check, f"params() names: {why}")
    shapes = (dims or case.dims).param_shapes()
    return {
        name: as_array(case, check, f"params()[{name!r}]", value, shapes[name], case.dtype)
        for name, value in params.items()
    }
