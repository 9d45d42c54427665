"""Shapes: ``forward`` gives ``(N, D_out)`` in the declared dtype and the reference's values,
for the tutorial dims and for others, for inputs beyond standard normal data, and for inputs
in every memory layout (Fortran order, strided and reversed views)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.compare import closest_depth, params_as_f64
from pytest_twolayer.checking.judge import Judge
from pytest_twolayer.checking.layouts import LAYOUTS
from pytest_twolayer.checking.points import representable
from pytest_twolayer.checking.strategies import for_any_dims
from pytest_twolayer.spec.contract import TwoLayerImplementation
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


@dataclass(frozen=True)
class _Net:
    """A new instance at ``dims`` and its own parameters (in float64), judged under one label."""

    judge: Judge
    impl: TwoLayerImplementation
    dims: Dims
    params: dict[str, np.ndarray]

    @classmethod
    def made(cls, judge: Judge, dims: Dims) -> _Net:
        impl = judge.make(dims=dims)
        return cls(judge, impl, dims, params_as_f64(judge.params(impl, dims)))

    def forward(self, x: np.ndarray, where: str) -> np.ndarray:
        """``forward(to_device(x))``, shown to be a finite array of shape ``(N, D_out)`` in the
        declared dtype; ``where`` tells the dims and input in the verdict."""
        what = f"forward(x) {where}"
        xn = self.judge.call(f"to_device(x) {where}", self.impl.to_device, x)
        got = self.judge.call(what, self.impl.forward, xn)
        return self.judge.array(what, got, (self.dims.N, self.dims.D_out))


def check_forward_shapes(case: Case) -> None:
    """For every dims and input kind: shape ``(N, D_out)``, the declared dtype, finite values
    equal to the reference at the implementation's own parameters (at one declared depth);
    the standard normal input at :data:`LAYOUT_DIMS` also in every layout of :data:`LAYOUTS`
    (same values)."""
    check = "forward_shapes"
    judge = case.judge(check)
    for dims_label, dims in OTHER_DIMS.items():
        net = _Net.made(judge, dims)
        rng = judge.rng(dims.N, dims.D_in)
        for input_label, make_input in INPUTS.items():
            where = f"at {dims_label} dims {dims}, {input_label} x"
            x = representable(make_input(rng, dims), case.dtype)
            _judge_forward(net, x, where)
            if input_label != "standard-normal" or dims_label != LAYOUT_DIMS:
                continue
            for layout, arrange in LAYOUTS.items():
                where = f"at {dims_label} dims {dims}, standard-normal x as a {layout}"
                _judge_forward(net, arrange(x), where)


def _judge_forward(net: _Net, x: np.ndarray, where: str) -> None:
    """``forward(to_device(x))`` has the shape, dtype and values of the reference's."""
    case = net.judge.case
    got = net.forward(x, where)
    by_depth = {d: forward(net.params, x, d).y_pred for d in tuple(case.cls.depths)}
    depth, _ = closest_depth(got, by_depth)
    net.judge.arrays_close(
        f"forward(x) {where}", got, by_depth[depth], rtol(case.dtype, net.dims, depth)
    )


def check_forward_any_dims(case: Case) -> None:
    """At small random dims (1s included), ``forward`` gives ``(N, D_out)`` in the declared
    dtype with the reference's values."""
    check = "forward_any_dims"
    judge = case.judge(check)

    @for_any_dims(case.seed)
    def forward_at(dims: Dims) -> None:
        net = _Net.made(judge, dims)
        rng = judge.rng(dims.N, dims.D_in, dims.H, dims.D_out)
        x = representable(rng.standard_normal((dims.N, dims.D_in)), case.dtype)
        _judge_forward_at_any_dims(net, x, f"at dims {dims}")

    forward_at()


def _judge_forward_at_any_dims(net: _Net, x: np.ndarray, where: str) -> None:
    """``forward(to_device(x))`` has the shape, dtype and values of the reference's, its error
    judged against the size of the last sum's terms too."""
    case = net.judge.case
    got = net.forward(x, where)
    passes = {d: forward(net.params, x, d) for d in tuple(case.cls.depths)}
    depth, _ = closest_depth(got, {d: p.y_pred for d, p in passes.items()})
    expected = passes[depth].y_pred
    # A one-unit layer can cancel in its last sum (h @ w2 + b2): judge the error against
    # the size of that sum's terms too, at the tutorial's K (see gradients_any_dims).
    terms = np.abs(passes[depth].activations[-1]) @ np.abs(net.params["w2"]) + np.abs(
        net.params.get("b2", 0.0)
    )
    scale = float(np.linalg.norm(expected) + np.linalg.norm(terms))
    tolerance = rtol(case.dtype, TUTORIAL_DIMS, depth)
    error = float(np.linalg.norm(got.astype(np.float64) - expected))
    if not error <= tolerance * scale:
        net.judge.arrays_close(f"forward(x) {where}", got, expected, tolerance)


def test_forward_shapes(twolayer_case: Case) -> None:
    check_forward_shapes(twolayer_case)


@pytest.mark.twolayer_dtypes("training")  # the fixed-dims check covers every dtype
def test_forward_any_dims(twolayer_case: Case) -> None:
    check_forward_any_dims(twolayer_case)
