"""Shapes: ``forward`` gives ``(N, D_out)`` in the declared dtype and the reference's values,
for the tutorial dims and for others, for inputs beyond standard normal data, and for inputs
in every memory layout (Fortran order, strided and reversed views)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.compare import (
    as_array,
    assert_arrays_close,
    canonical_params,
    closest_depth,
    params_as_f64,
)
from pytest_twolayer.checking.layouts import LAYOUTS
from pytest_twolayer.checking.points import representable
from pytest_twolayer.checking.strategies import for_any_dims
from pytest_twolayer.spec.dims import TUTORIAL_DIMS, Dims
from pytest_twolayer.spec.reference import forward
from pytest_twolayer.spec.tolerances import rtol

OTHER_DIMS: dict[str, Dims] = {
    "tutorial": TUTORIAL_DIMS,
    "batch-of-one": Dims(
        N=1, D_in=TUTORIAL_DIMS.D_in, H=TUTORIAL_DIMS.H, D_out=TUTORIAL_DIMS.D_out
    ),
    # Distinct primes: no transpose or swapped dimension can keep the right shape.
    "distinct-primes": Dims(N=7, D_in=13, H=11, D_out=5),
}

LAYOUT_DIMS = "distinct-primes"
"""Where the input layouts are judged: at distinct prime sizes no misreading of the memory
behind a view keeps the values, and a forward costs least (each layout is a call more)."""

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
    equal to the reference at the implementation's own parameters (at one declared depth);
    the standard normal input at :data:`LAYOUT_DIMS` also in every layout of :data:`LAYOUTS`
    (same values)."""
    check = "shapes.forward"
    for dims_label, dims in OTHER_DIMS.items():
        impl = case.make(dims=dims, check=check)
        params = params_as_f64(canonical_params(case, check, impl, dims))
        rng = case.rng(check, dims.N, dims.D_in)
        for input_label, make_input in INPUTS.items():
            where = f"at {dims_label} dims {dims}, {input_label} x"
            x = representable(make_input(rng, dims), case.dtype)
            _judge_forward(case, check, impl, params, dims, x, where)
            if input_label != "standard-normal" or dims_label != LAYOUT_DIMS:
                continue
            for layout, arrange in LAYOUTS.items():
                where = f"at {dims_label} dims {dims}, standard-normal x as a {layout}"
                _judge_forward(case, check, impl, params, dims, arrange(x), where)


def _judge_forward(
    case: Case,
    check: str,
    impl: Any,
    params: dict[str, np.ndarray],
    dims: Dims,
    x: np.ndarray,
    where: str,
) -> None:
    """``forward(to_device(x))`` has the shape, dtype and values of the reference's."""
    what = f"forward(x) {where}"
    xn = case.call(check, f"to_device(x) {where}", impl.to_device, x)
    got = case.call(check, what, impl.forward, xn)
    got = as_array(case, check, what, got, (dims.N, dims.D_out), case.dtype)
    depths = tuple(case.cls.depths)
    by_depth = {d: forward(params, x, d).y_pred for d in depths}
    depth, _ = closest_depth(got, by_depth)
    assert_arrays_close(case, check, what, got, by_depth[depth], rtol(case.dtype, dims, depth))


def check_forward_any_dims(case: Case) -> None:
    """At small random dims (1s included), ``forward`` gives ``(N, D_out)`` in the declared
    dtype with the reference's values."""
    check = "shapes.any_dims"
    depths = tuple(case.cls.depths)

    @for_any_dims(case.seed)
    def forward_at(dims: Dims) -> None:
        what = f"forward(x) at dims {dims}"
        impl = case.make(dims=dims, check=check)
        params = params_as_f64(canonical_params(case, check, impl, dims))
        rng = case.rng(check, dims.N, dims.D_in, dims.H, dims.D_out)
        x = representable(rng.standard_normal((dims.N, dims.D_in)), case.dtype)
        xn = case.call(check, f"to_device(x) at dims {dims}", impl.to_device, x)
        got = as_array(
            case,
            check,
            what,
            case.call(check, what, impl.forward, xn),
            (dims.N, dims.D_out),
            case.dtype,
        )
        passes = {d: forward(params, x, d) for d in depths}
        depth, _ = closest_depth(got, {d: p.y_pred for d, p in passes.items()})
        expected = passes[depth].y_pred
        # A one-unit layer can cancel in its last sum (h @ w2 + b2): judge the error against
        # the size of that sum's terms too, at the tutorial's K (see gradients.any_dims).
        terms = np.abs(passes[depth].activations[-1]) @ np.abs(params["w2"]) + np.abs(
            params.get("b2", 0.0)
        )
        scale = float(np.linalg.norm(expected) + np.linalg.norm(terms))
        tolerance = rtol(case.dtype, TUTORIAL_DIMS, depth)
        error = float(np.linalg.norm(got.astype(np.float64) - expected))
        if not error <= tolerance * scale:
            assert_arrays_close(case, check, what, got, expected, tolerance)

    forward_at()


def test_forward_shapes(twolayer_case: Case) -> None:
    check_forward_shapes(twolayer_case)


@pytest.mark.twolayer_dtypes("training")  # the fixed-dims check covers every dtype
def test_forward_any_dims(twolayer_case: Case) -> None:
    check_forward_any_dims(twolayer_case)
