"""Gradients: the loss and every gradient equal the float64 reference at the same parameters,
and a dynamic net draws each declared depth uniformly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.checking.compare import (
    as_array,
    as_loss,
    assert_arrays_close,
    assert_loss_close,
    canonical_params,
    closest_depth,
    params_as_f64,
)
from pytest_twolayer.checking.points import draw_params, draw_point, representable
from pytest_twolayer.checking.strategies import for_any_dims
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.dims import TUTORIAL_DIMS, Dims
from pytest_twolayer.spec.tolerances import rtol

MAX_GRADIENT_CALLS = 80
"""Calls until every declared depth was seen: missing one of 4 uniform depths in 80 draws
has probability ``4 * 0.75**80`` = 4e-10."""

DEPTH_DRAWS = 400
DEPTH_P_VALUE = 1e-6
"""A chi-square test over 400 draws rejects a uniform draw once in a million runs, and
rejects one that picks a depth of four 40% of the time (not 25%) with p ~ 1e-12."""


def check_gradients_match_reference(case: Case) -> None:
    """``gradients()`` returns the reference loss and gradients at loaded parameters, at every
    declared depth, and leaves the parameters untouched."""
    check = "gradients.reference"
    impl = case.make(check=check)
    names = set(canonical_params(case, check, impl))
    depths = tuple(case.cls.depths)
    point = draw_point(
        names, case.dims, depths, case.cls.optimizer, case.dtype, case.rng(check), for_update=False
    )
    case.call(check, "load(params)", lambda: impl.load(point.params))
    xn = case.call(check, "to_device(x)", lambda: impl.to_device(point.x))
    yn = case.call(check, "to_device(y)", lambda: impl.to_device(point.y))
    expected = {d: reference.loss_and_gradients(point.params, point.x, point.y, d) for d in depths}
    seen: set[int] = set()
    for _ in range(MAX_GRADIENT_CALLS):
        result = case.call(check, "gradients(x, y)", impl.gradients, xn, yn)
        seen.add(verify_gradients_call(case, check, case.dims, names, result, expected))
        if seen == set(depths):
            break
    else:
        case.fail(
            check, f"depths {sorted(set(depths) - seen)} never drawn in {MAX_GRADIENT_CALLS} calls"
        )
    after = params_as_f64(canonical_params(case, check, impl))
    for name, value in point.params.items():
        if not np.array_equal(after[name], value):
            case.fail(check, f"gradients() changed parameter {name} (it must not update)")


def verify_gradients_call(
    case: Case,
    check: str,
    dims: Dims,
    names: set[str],
    result: object,
    expected: dict[int, tuple[float, dict[str, np.ndarray]]],
    at: str = "",
    *,
    joint: bool = False,
) -> int:
    """One ``gradients()`` result against the reference at the depth it drew; returns it.

    The depth is the one whose reference loss is nearest; should another depth's loss also
    match within rounding (possible at degenerate dims), its gradients are accepted too.
    ``joint`` compares all gradients as one vector: at tiny dims a single element (a bias of
    one hidden unit) can be a sum with heavy cancellation, whose relative error says
    nothing about the implementation; its share of the whole gradient does.
    """
    if not isinstance(result, tuple) or len(result) != 2:
        case.fail(check, f"gradients(){at} returned {type(result).__name__}, expected (loss, dict)")
    raw_loss, grads = result
    loss = as_loss(case, check, f"gradients(){at} loss", raw_loss)
    if not isinstance(grads, dict):
        case.fail(
            check, f"gradients(){at} returned {type(grads).__name__} for gradients, expected a dict"
        )
    if set(grads) != names:
        case.fail(
            check,
            f"gradients(){at} keys {sorted(grads)} differ from params() names {sorted(names)}",
        )
    shapes = dims.param_shapes()
    got = {
        name: as_array(case, check, f"gradient {name}{at}", grads[name], shapes[name], case.dtype)
        for name in sorted(names)
    }
    nearest_first = sorted(expected, key=lambda d: abs(loss - expected[d][0]))
    first_failure: ConformanceFailure | None = None
    for depth in nearest_first:
        # At tiny dims the sqrt(K) model undercounts: a one-unit layer can cancel, so the
        # joint comparison takes the tutorial's (larger) K.
        tolerance = rtol(case.dtype, TUTORIAL_DIMS if joint else dims, depth)
        reference_loss, reference_grads = expected[depth]
        if first_failure is not None and abs(loss - reference_loss) > tolerance * reference_loss:
            break
        where = at if len(expected) == 1 else f"{at} (depth {depth} of {tuple(expected)})"
        try:
            assert_loss_close(
                case, check, f"gradients() loss{where}", loss, reference_loss, tolerance
            )
            if joint:
                order = sorted(names)
                assert_arrays_close(
                    case,
                    check,
                    f"gradients {', '.join(order)} as one vector{where}",
                    np.concatenate([got[n].ravel() for n in order]),
                    np.concatenate([reference_grads[n].ravel() for n in order]),
                    tolerance,
                )
            else:
                for name in sorted(names):
                    assert_arrays_close(
                        case,
                        check,
                        f"gradient {name}{where}",
                        got[name],
                        reference_grads[name],
                        tolerance,
                    )
        except ConformanceFailure as failure:
            first_failure = first_failure or failure
            continue
        return depth
    assert first_failure is not None
    raise first_failure


def check_gradients_any_dims(case: Case) -> None:
    """At small random dims (1s included), ``gradients()`` equals the reference."""
    check = "gradients.any_dims"
    depths = tuple(case.cls.depths)

    @for_any_dims(case.seed)
    def gradients_at(dims: Dims) -> None:
        at = f" at dims {dims}"
        impl = case.make(dims=dims, check=check)
        names = set(canonical_params(case, check, impl, dims))
        rng = case.rng(check, dims.N, dims.D_in, dims.H, dims.D_out)
        point = draw_point(
            names, dims, depths, case.cls.optimizer, case.dtype, rng, for_update=False
        )
        case.call(check, f"load(params){at}", impl.load, point.params)
        xn = case.call(check, f"to_device(x){at}", impl.to_device, point.x)
        yn = case.call(check, f"to_device(y){at}", impl.to_device, point.y)
        expected = {
            d: reference.loss_and_gradients(point.params, point.x, point.y, d) for d in depths
        }
        result = case.call(check, f"gradients(x, y){at}", impl.gradients, xn, yn)
        verify_gradients_call(case, check, dims, names, result, expected, at, joint=True)

    gradients_at()


def check_depth_draws(case: Case) -> None:
    """``forward`` uses only declared depths, each drawn at a rate consistent with uniform."""
    check = "gradients.depths"
    impl = case.make(check=check)
    names = set(canonical_params(case, check, impl))
    depths = tuple(case.cls.depths)
    rng = case.rng(check)
    # The suite's own He-scaled parameters: the outputs at different depths then differ by
    # far more than rounding, whatever the implementation's own initialisation does.
    params = {
        n: representable(v, case.dtype) for n, v in draw_params(names, case.dims, rng).items()
    }
    case.call(check, "load(params)", impl.load, params)
    x = representable(rng.standard_normal((case.dims.N, case.dims.D_in)), case.dtype)
    xn = case.call(check, "to_device(x)", impl.to_device, x)
    by_depth = {d: reference.forward(params, x, d).y_pred for d in depths}
    draws = DEPTH_DRAWS if len(depths) > 1 else 10
    counts = dict.fromkeys(depths, 0)
    for call in range(draws):
        got = case.call(check, "forward(x)", lambda: impl.forward(xn))
        got = as_array(case, check, "forward(x)", got, (case.dims.N, case.dims.D_out), case.dtype)
        depth, error = closest_depth(got, by_depth)
        if not error <= rtol(case.dtype, case.dims, depth):
            case.fail(
                check,
                f"forward() call {call + 1} matches none of the declared depths {depths} "
                f"(nearest: depth {depth}, relative error {error:.3g}); out-of-range depth?",
            )
        counts[depth] += 1
    if len(depths) == 1:
        return
    expected = draws / len(depths)
    statistic = sum((c - expected) ** 2 / expected for c in counts.values())
    p_value = chi_square_sf(statistic, len(depths) - 1)
    if p_value < DEPTH_P_VALUE:
        case.fail(
            check,
            f"depth counts {counts} in {draws} draws are not uniform over {depths} "
            f"(chi-square {statistic:.1f}, p = {p_value:.2g} < {DEPTH_P_VALUE:g})",
        )


def chi_square_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution (regularized upper gamma Q(k/2, x/2)).

    Series for the lower gamma; exact enough for the small dof used here, and keeps SciPy out
    of the dependencies.
    """
    a, x = dof / 2.0, statistic / 2.0
    if x <= 0:
        return 1.0
    term = total = 1.0 / a
    n = 1
    while abs(term) > 1e-15 * abs(total) and n < 10_000:
        term *= x / (a + n)
        total += term
        n += 1
    lower = total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    return max(0.0, 1.0 - lower)


def test_gradients_match_reference(twolayer_case: Case) -> None:
    check_gradients_match_reference(twolayer_case)


@pytest.mark.twolayer_dtypes("training")  # the fixed-dims check covers every dtype
def test_gradients_any_dims(twolayer_case: Case) -> None:
    check_gradients_any_dims(twolayer_case)


@pytest.mark.twolayer_dtypes("training")  # the draw does not depend on the dtype
def test_depth_draws(twolayer_case: Case) -> None:
    check_depth_draws(twolayer_case)
