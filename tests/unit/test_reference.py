"""The float64 reference against central finite differences and against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_twolayer import Dims
from pytest_twolayer.checking.points import draw_params
from pytest_twolayer.spec import reference

FD_STEP = 1e-6
KINK_CLEARANCE = 1e-3  # |pre-activation| must exceed this, so a FD_STEP nudge cannot cross 0


def kink_free_point(dims: Dims, names: set[str], depth: int, seed: int):
    """Draw until every ReLU input is far from its kink (finite differences straddle it
    otherwise, and measure the average of two one-sided slopes)."""
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        params = draw_params(names, dims, rng)
        x = rng.standard_normal((dims.N, dims.D_in))
        fwd = reference.forward(params, x, depth)
        if min(float(np.min(np.abs(h))) for h in fwd.pre_activations) > KINK_CLEARANCE:
            return params, x, rng.standard_normal((dims.N, dims.D_out))
    pytest.fail("no kink-free point found")


def finite_difference(params, x, y, depth):
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][index] += FD_STEP
            minus[name][index] -= FD_STEP
            grad[index] = (
                reference.loss(plus, x, y, depth) - reference.loss(minus, x, y, depth)
            ) / (2 * FD_STEP)
        grads[name] = grad
    return grads


ALL_NAMES = {"w1", "b1", "wm", "bm", "w2", "b2"}


@pytest.mark.parametrize(
    ("names", "depth"),
    [(ALL_NAMES, d) for d in range(4)] + [({"w1", "wm", "w2"}, 2), ({"w1", "w2"}, 0)],
    ids=[
        "biases-depth0",
        "biases-depth1",
        "biases-depth2",
        "biases-depth3",
        "no-bias-depth2",
        "tutorial",
    ],
)
def test_gradients_match_finite_differences(names, depth):
    dims = Dims(N=5, D_in=7, H=6, D_out=3)
    params, x, y = kink_free_point(dims, names, depth, seed=depth)
    _, grads = reference.loss_and_gradients(params, x, y, depth)
    expected = finite_difference(params, x, y, depth)
    for name in names:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 6),
    d_in=st.integers(1, 6),
    h=st.integers(1, 6),
    d_out=st.integers(1, 4),
    depth=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_gradients_match_finite_differences_for_any_dims(n, d_in, h, d_out, depth, seed):
    dims = Dims(N=n, D_in=d_in, H=h, D_out=d_out)
    rng = np.random.default_rng(seed)
    params = draw_params(ALL_NAMES, dims, rng)
    x = rng.standard_normal((n, d_in))
    y = rng.standard_normal((n, d_out))
    fwd = reference.forward(params, x, depth)
    if min(float(np.min(np.abs(p))) for p in fwd.pre_activations) <= KINK_CLEARANCE:
        return  # a kink: finite differences are not the derivative there
    _, grads = reference.loss_and_gradients(params, x, y, depth)
    expected = finite_difference(params, x, y, depth)
    for name in ALL_NAMES:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_unused_middle_parameters_get_zero_gradient_at_depth_zero():
    dims = Dims(N=4, D_in=5, H=3, D_out=2)
    params, x, y = kink_free_point(dims, ALL_NAMES, 0, seed=1)
    _, grads = reference.loss_and_gradients(params, x, y, 0)
    assert not grads["wm"].any()
    assert not grads["bm"].any()
    assert reference.used_params(frozenset(ALL_NAMES), 0) == {"w1", "b1", "w2", "b2"}


def test_loss_is_the_sum_of_squares():
    params = {"w1": np.eye(2), "w2": np.eye(2)}
    x = np.array([[1.0, -2.0]])
    y = np.array([[0.0, 3.0]])
    # relu([1, -2]) = [1, 0]; residual [1, -3]; 1 + 9
    assert reference.loss(params, x, y) == 10.0


@pytest.mark.parametrize("names", [ALL_NAMES, {"w1", "wm", "w2"}], ids=["biases", "no-bias"])
def test_losses_by_depth_is_the_loss_at_each_depth(names):
    dims = Dims(N=6, D_in=5, H=4, D_out=3)
    rng = np.random.default_rng(3)
    params = draw_params(names, dims, rng)
    x, y = rng.standard_normal((dims.N, dims.D_in)), rng.standard_normal((dims.N, dims.D_out))
    shared = reference.losses_by_depth(params, x, y, (3, 0, 2))
    assert list(shared) == [3, 0, 2]
    for depth, value in shared.items():
        assert value == pytest.approx(reference.loss(params, x, y, depth), rel=1e-12)
    assert len(set(shared.values())) == 3  # the depths really differ, so the test can fail


def test_flop_count_matches_the_design():
    assert Dims().matmul_flops_per_step() == 25_984_000
    assert Dims().matmul_flops_per_step(depth=2) == 25_984_000 + 2 * 6 * 64 * 100 * 100
