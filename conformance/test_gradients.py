"""Gradients: the loss and every gradient equal the float64 reference at the same parameters,
and a dynamic net draws each declared depth uniformly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.checking.compare import closest_depth, params_as_f64
from pytest_twolayer.checking.judge import Judge
from pytest_twolayer.checking.points import Point, draw_params, draw_point, representable
from pytest_twolayer.checking.strategies import for_any_dims
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.contract import TwoLayerImplementation
from pytest_twolayer.spec.dims import TUTORIAL_DIMS, Dims
from pytest_twolayer.spec.tolerances import rtol

MAX_GRADIENT_CALLS = 80
"""Calls until every declared depth was seen: missing one of 4 uniform depths in 80 draws
has probability ``4 * 0.75**80`` = 4e-10."""

DEPTH_DRAWS = 400
DEPTH_P_VALUE = 1e-6
"""A chi-square test over 400 draws rejects a uniform draw once in a million runs, and
rejects one that picks a depth of four 40% of the time (not 25%) with p ~ 1e-12."""


@dataclass(frozen=True)
class _ReferenceGradients:
    """What a ``gradients()`` result is judged against: the reference's loss and gradients at
    one point, at every declared depth."""

    judge: Judge
    dims: Dims
    names: set[str]
    by_depth: dict[int, tuple[float, dict[str, np.ndarray]]]
    at: str = ""
    """Where the call was made, for the verdicts (``" at dims ..."``)."""
    joint: bool = False
    """Compare all gradients as one vector: at tiny dims a single element (a bias of one
    hidden unit) can be a sum with heavy cancellation, whose relative error says nothing
    about the implementation; its share of the whole gradient does."""

    @classmethod
    def at_point(
        cls,
        judge: Judge,
        dims: Dims,
        names: set[str],
        point: Point,
        at: str = "",
        *,
        joint: bool = False,
    ) -> _ReferenceGradients:
        by_depth = {
            d: reference.loss_and_gradients(point.params, point.x, point.y, d)
            for d in tuple(judge.case.cls.depths)
        }
        return cls(judge, dims, names, by_depth, at, joint)

    def depth_matched(self, result: object) -> int:
        """The depth whose reference one ``gradients()`` result equals (it drew that depth).

        The depth is the one whose reference loss is nearest; should another depth's loss also
        match within rounding (possible at degenerate dims), its gradients are accepted too.
        Otherwise the verdict is the nearest depth's.
        """
        loss, got = self._unpacked(result)
        first_failure: ConformanceFailure | None = None
        for depth in sorted(self.by_depth, key=lambda d: abs(loss - self.by_depth[d][0])):
            reference_loss = self.by_depth[depth][0]
            tolerance = self._tolerance(depth)
            if (
                first_failure is not None
                and abs(loss - reference_loss) > tolerance * reference_loss
            ):
                break
            try:
                self._matches(depth, loss, got)
            except ConformanceFailure as failure:
                first_failure = first_failure or failure
                continue
            return depth
        assert first_failure is not None
        raise first_failure

    def _unpacked(self, result: object) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and gradients of a result, shown to be a float and, under the names of
        ``params()``, finite arrays of the parameters' shapes in the declared dtype."""
        judge, at = self.judge, self.at
        if not isinstance(result, tuple) or len(result) != 2:
            judge.fail(f"gradients(){at} returned {type(result).__name__}, expected (loss, dict)")
        raw_loss, grads = result
        loss = judge.loss(f"gradients(){at} loss", raw_loss)
        if not isinstance(grads, dict):
            judge.fail(
                f"gradients(){at} returned {type(grads).__name__} for gradients, expected a dict"
            )
        if set(grads) != self.names:
            judge.fail(
                f"gradients(){at} keys {sorted(grads)} differ from params() names "
                f"{sorted(self.names)}"
            )
        shapes = self.dims.param_shapes()
        return loss, {
            name: judge.array(f"gradient {name}{at}", grads[name], shapes[name])
            for name in sorted(self.names)
        }

    def _tolerance(self, depth: int) -> float:
        # At tiny dims the sqrt(K) model undercounts: a one-unit layer can cancel, so the
        # joint comparison takes the tutorial's (larger) K.
        return rtol(self.judge.case.dtype, TUTORIAL_DIMS if self.joint else self.dims, depth)

    def _matches(self, depth: int, loss: float, got: dict[str, np.ndarray]) -> None:
        """The loss and gradients equal the reference's at ``depth``, or fail saying which not."""
        judge, tolerance = self.judge, self._tolerance(depth)
        reference_loss, reference_grads = self.by_depth[depth]
        where = (
            self.at
            if len(self.by_depth) == 1
            else f"{self.at} (depth {depth} of {tuple(self.by_depth)})"
        )
        judge.loss_close(f"gradients() loss{where}", loss, reference_loss, tolerance)
        order = sorted(self.names)
        if self.joint:
            judge.arrays_close(
                f"gradients {', '.join(order)} as one vector{where}",
                np.concatenate([got[n].ravel() for n in order]),
                np.concatenate([reference_grads[n].ravel() for n in order]),
                tolerance,
            )
            return
        for name in order:
            judge.arrays_close(
                f"gradient {name}{where}", got[name], reference_grads[name], tolerance
            )


def check_gradients_match_reference(case: Case) -> None:
    """``gradients()`` returns the reference loss and gradients at loaded parameters, at every
    declared depth, and leaves the parameters untouched."""
    check = "gradients_match_reference"
    judge = case.judge(check)
    impl = judge.make()
    names = set(judge.params(impl))
    depths = tuple(case.cls.depths)
    point = draw_point(
        names, case.dims, depths, case.cls.optimizer, case.dtype, judge.rng(), for_update=False
    )
    judge.call("load(params)", impl.load, point.params)
    xn = judge.call("to_device(x)", impl.to_device, point.x)
    yn = judge.call("to_device(y)", impl.to_device, point.y)
    expected = _ReferenceGradients.at_point(judge, case.dims, names, point)
    seen: set[int] = set()
    for _ in range(MAX_GRADIENT_CALLS):
        seen.add(expected.depth_matched(judge.call("gradients(x, y)", impl.gradients, xn, yn)))
        if seen == set(depths):
            break
    else:
        judge.fail(f"depths {sorted(set(depths) - seen)} never drawn in {MAX_GRADIENT_CALLS} calls")
    _params_untouched(judge, impl, point.params)


def _params_untouched(
    judge: Judge, impl: TwoLayerImplementation, loaded: dict[str, np.ndarray]
) -> None:
    """``params()`` is still what was loaded: ``gradients()`` must not update."""
    after = params_as_f64(judge.params(impl))
    for name, value in loaded.items():
        if not np.array_equal(after[name], value):
            judge.fail(f"gradients() changed parameter {name} (it must not update)")


def check_gradients_any_dims(case: Case) -> None:
    """At small random dims (1s included), ``gradients()`` equals the reference."""
    check = "gradients_any_dims"
    judge = case.judge(check)
    depths = tuple(case.cls.depths)

    @for_any_dims(case.seed)
    def gradients_at(dims: Dims) -> None:
        at = f" at dims {dims}"
        impl = judge.make(dims=dims)
        names = set(judge.params(impl, dims))
        rng = judge.rng(dims.N, dims.D_in, dims.H, dims.D_out)
        point = draw_point(
            names, dims, depths, case.cls.optimizer, case.dtype, rng, for_update=False
        )
        judge.call(f"load(params){at}", impl.load, point.params)
        xn = judge.call(f"to_device(x){at}", impl.to_device, point.x)
        yn = judge.call(f"to_device(y){at}", impl.to_device, point.y)
        expected = _ReferenceGradients.at_point(judge, dims, names, point, at, joint=True)
        expected.depth_matched(judge.call(f"gradients(x, y){at}", impl.gradients, xn, yn))

    gradients_at()


def check_depth_draws(case: Case) -> None:
    """``forward`` uses only declared depths, each drawn at a rate consistent with uniform."""
    check = "depth_draws"
    judge = case.judge(check)
    impl = judge.make()
    names = set(judge.params(impl))
    depths = tuple(case.cls.depths)
    rng = judge.rng()
    # The suite's own He-scaled parameters: the outputs at different depths then differ by
    # far more than rounding, whatever the implementation's own initialisation does.
    params = {
        n: representable(v, case.dtype) for n, v in draw_params(names, case.dims, rng).items()
    }
    judge.call("load(params)", impl.load, params)
    x = representable(rng.standard_normal((case.dims.N, case.dims.D_in)), case.dtype)
    xn = judge.call("to_device(x)", impl.to_device, x)
    by_depth = {d: reference.forward(params, x, d).y_pred for d in depths}
    draws = DEPTH_DRAWS if len(depths) > 1 else 10
    counts = dict.fromkeys(depths, 0)
    for call in range(draws):
        got = judge.call("forward(x)", impl.forward, xn)
        counts[_depth_drawn(judge, got, by_depth, call + 1)] += 1
    if len(depths) > 1:
        _drawn_uniformly(judge, counts, draws)


def _depth_drawn(judge: Judge, returned: object, by_depth: dict[int, np.ndarray], call: int) -> int:
    """The declared depth whose reference output the ``call``-th ``forward(x)`` returned."""
    case = judge.case
    got = judge.array("forward(x)", returned, (case.dims.N, case.dims.D_out))
    depth, error = closest_depth(got, by_depth)
    if not error <= rtol(case.dtype, case.dims, depth):
        judge.fail(
            f"forward() call {call} matches none of the declared depths "
            f"{tuple(case.cls.depths)} (nearest: depth {depth}, relative error {error:.3g}); "
            "out-of-range depth?"
        )
    return depth


def _drawn_uniformly(judge: Judge, counts: dict[int, int], draws: int) -> None:
    """The depths' counts in ``draws`` pass a chi-square test of uniformity at
    :data:`DEPTH_P_VALUE`."""
    depths = tuple(judge.case.cls.depths)
    expected = draws / len(depths)
    statistic = sum((c - expected) ** 2 / expected for c in counts.values())
    p_value = chi_square_sf(statistic, len(depths) - 1)
    if p_value < DEPTH_P_VALUE:
        judge.fail(
            f"depth counts {counts} in {draws} draws are not uniform over {depths} "
            f"(chi-square {statistic:.1f}, p = {p_value:.2g} < {DEPTH_P_VALUE:g})"
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
