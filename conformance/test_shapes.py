"""Shapes: ``forward`` gives ``(N, D_out)`` in the declared dtype and the reference's values,
for the tutorial dims and for others, and for inputs beyond standard normal data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pytest_twolayer.case import Case
from pytest_twolayer.compare import (
    as_array,
    assert_arrays_close,
    canonical_params,
    closest_depth,
    params_as_f64,
)
from pytest_twolayer.dims import TUTORIAL_DIMS, Dims
from pytest_twolayer.points import representable
from pytest_twolayer.reference import forward
from pytest_twolayer.tolerances import rtol

OTHER_DIMS: dict[str, Dims] = {
    "tutorial": TUTORIAL_DIMS,
    "batch-of-one": Dims(
        N=1, D_in=TUTORIAL_DIMS.D_in, H=TUTORIAL_DIMS.H, D_out=TUTORIAL_DIMS.D_out
    ),
    # Distinct primes: no transpose or swapped dimension can keep the right shape.
    "distinct-primes": Dims(N=7, D_in=13, H=11, D_out=5),
}

InputMaker = Callable[[np.random.Generator, Dims], np.ndarray]
INPUTS: dict[str, InputMaker] = {
    "standard-normal": lambda rng, d: rng.standard_normal((d.N, d.D_in)),
    "large-magnitude": lambda rng, d: 1e4 * rng.standard_normal((d.N, d.D_in)),
    "constant-rows": lambda rng, d: np.repeat(rng.standard_normal((d.N, 1)), d.D_in, axis=1),
    "zero-rows": lambda rng, d: np.where(
        (np.arange(d.N) % 2 == 0)[:, None], 0.0, rng.standard_normal((d.N, d.D_in))
    ),
}


def check_forward_shapes(case: Case) -> None:
    """For every dims and input kind: shape ``(N, D_out)``, the declared dtype, finite values
    equal to the reference at the implementation's own parameters (at one declared depth)."""
    check = "shapes.forward"
    depths = tuple(case.cls.depths)  # type: ignore[attr-defined]
    for dims_label, dims in OTHER_DIMS.items():
        impl = case.make(dims=dims, check=check)
        params = params_as_f64(canonical_params(case, check, impl, dims))
        rng = case.rng(check, dims.N, dims.D_in)
        for input_label, make_input in INPUTS.items():
            what = f"forward(x) at {dims_label} dims {dims}, {input_label} x"
            x = representable(make_input(rng, dims), case.dtype)
            xn = case.call(check, f"to_device(x) at {dims_label} dims", impl.to_device, x)
            got = case.call(check, what, impl.forward, xn)
            got = as_array(case, check, what, got, (dims.N, dims.D_out), case.dtype)
            by_depth = {d: forward(params, x, d).y_pred for d in depths}
            depth, _ = closest_depth(got, by_depth)
            assert_arrays_close(
                case, check, what, got, by_depth[depth], rtol(case.dtype, dims, depth)
            )


def test_forward_shapes(twolayer_case: Case) -> None:
    check_forward_shapes(twolayer_case)
