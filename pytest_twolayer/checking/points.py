"""Test points for the gradient and update checks: parameters and data the suite chooses.

A point is drawn so that comparisons are decided by the implementation, not by luck:
values are exactly representable in the dtype under test (the implementation holds the
same numbers as the reference), no ReLU input is within rounding distance of its kink at
any declared depth, and one step moves the parameters by a visible but small amount.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pytest_twolayer.checking.case import SuiteError
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.blas import one_blas_thread
from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.spec.optimizers import SGD, Adam
from pytest_twolayer.spec.tolerances import KINK_MARGIN

STEP_FRACTION = 1e-2
"""How far one plain-SGD step should move the parameter that moves most, relative to its norm."""

ADAM_SCALE_IN_LR = 50.0
"""Adam moves each element by about ``lr``; parameters of RMS ``50 * lr`` then move ~2% per
step, so the gradients change between steps and wrong betas show."""

MAX_ATTEMPTS = 50


class NoTestPoint(SuiteError):
    """The point search gave up: the suite's failure, whatever the implementation does."""


@dataclass(frozen=True)
class Point:
    """Parameters and data in float64, each value exactly representable in the dtype."""

    params: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray


def representable(a: np.ndarray, dtype: str) -> np.ndarray:
    """``a`` rounded to ``dtype`` and back to float64."""
    return np.asarray(a, dtype=dtype).astype(np.float64)


def draw_params(
    names: Iterable[str], dims: Dims, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """He-scaled weights (activations keep their size through ReLUs) and small biases."""
    shapes = dims.param_shapes()
    fan_in = {"w1": dims.D_in, "wm": dims.H, "w2": dims.H}
    params = {}
    for name in sorted(names):
        std = np.sqrt(2.0 / fan_in[name]) if name.startswith("w") else 0.1
        params[name] = rng.standard_normal(shapes[name]) * std
    return params


def is_kink_free(
    params: dict[str, np.ndarray], x: np.ndarray, depths: Iterable[int], dtype: str
) -> bool:
    """No ReLU input closer to 0 than the dtype's rounding could move it, at any depth."""
    return all(reference.kink_distance(params, x, d) >= KINK_MARGIN[dtype] for d in depths)


@one_blas_thread
def relative_move(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, depth: int, lr: float
) -> float:
    """Largest ``lr * ||grad p|| / ||p||`` over the parameters: one plain step's reach."""
    _, grads = reference.loss_and_gradients(params, x, y, depth)
    return max(
        lr * float(np.linalg.norm(grads[n])) / max(float(np.linalg.norm(params[n])), 1e-300)
        for n in params
    )


def draw_point(
    names: Iterable[str],
    dims: Dims,
    depths: tuple[int, ...],
    rule: SGD | Adam,
    dtype: str,
    rng: np.random.Generator,
    *,
    for_update: bool = True,
) -> Point:
    """A kink-free point where one step of ``rule`` moves parameters by a few percent.

    With ``for_update=False`` (the gradient checks) parameters keep their He scale and the
    residual is standard normal, as large as the predictions, so no cancellation in
    ``y_pred - y`` magnifies rounding.

    Raises :class:`NoTestPoint` if no such point turns up in :data:`MAX_ATTEMPTS` draws
    (with the margins in :mod:`pytest_twolayer.spec.tolerances` a draw fails far less than
    half the time, for every valid declaration at every dims the suite draws:
    ``tests/unit/test_points.py`` proves it).
    """
    names = list(names)
    for _ in range(MAX_ATTEMPTS):
        params = draw_params(names, dims, rng)
        if for_update and isinstance(rule, Adam):
            for name, value in params.items():
                rms = float(np.sqrt(np.mean(value * value))) or 1.0
                params[name] = value * (ADAM_SCALE_IN_LR * rule.lr / rms)
        params = {n: representable(v, dtype) for n, v in params.items()}
        x = representable(rng.standard_normal((dims.N, dims.D_in)), dtype)
        if not is_kink_free(params, x, depths, dtype):
            continue
        noise = rng.standard_normal((dims.N, dims.D_out))
        y_pred = reference.forward(params, x, min(depths)).y_pred
        if not for_update or isinstance(rule, Adam):
            y = y_pred - noise
        else:
            # The gradient is linear in the residual: scale it so that the first step moves
            # the most-moved parameter by STEP_FRACTION of its norm at the shallowest depth.
            # Momentum multiplies the step by up to 1 / (1 - momentum) as its buffer fills.
            unit = relative_move(params, x, y_pred - noise, min(depths), rule.lr)
            if not unit > 0:  # every hidden unit dead (tiny dims): no gradient to scale
                continue
            y = y_pred - noise * (STEP_FRACTION * (1.0 - rule.momentum) / unit)
        return Point(params, x, representable(y, dtype))
    raise NoTestPoint(
        f"no kink-free test point in {MAX_ATTEMPTS} draws for parameters {sorted(names)}, "
        f"depths {depths}, {rule} in {dtype} at {dims}"
    )
