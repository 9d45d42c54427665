"""Update: each step from loaded parameters is the declared optimizer applied to the reference
gradients, ``step`` returns the pre-update loss, and nothing accumulates between steps."""

from __future__ import annotations

import numpy as np

from pytest_twolayer import reference
from pytest_twolayer.case import Case
from pytest_twolayer.compare import (
    as_array,
    as_loss,
    closest_depth,
    describe_mismatch,
    params_as_f64,
)
from pytest_twolayer.optimizers import Adam
from pytest_twolayer.points import draw_point, is_kink_free
from pytest_twolayer.tolerances import ADAM_SIGN_MARGIN, UNIT_ROUNDOFF, UPDATE_RTOL, rtol

STEPS = 3
"""Three steps: the first shows the rule, the second shows state (momentum, Adam moments)
and any gradient accumulated from step one or from the ``gradients()`` call between them."""

MAX_RESTARTS = 25
"""A step may land next to a ReLU kink, where float rounding may pick either derivative; the
check then starts again from a new point (each start fails far less than half the time)."""


class _Kink(Exception):
    """The trajectory reached a point where the comparison would be decided by rounding."""


def check_update_follows_rule(case: Case) -> None:
    """``STEPS`` steps equal the declared optimizer applied to reference gradients."""
    check = "update.rule"
    impl = case.make(check=check)
    names = set(case.call(check, "params()", impl.params))
    rng = case.rng(check)
    for _ in range(MAX_RESTARTS):
        try:
            _run_steps(case, check, impl, names, rng)
            return
        except _Kink:
            continue
    case.fail(check, f"every one of {MAX_RESTARTS} trajectories met a ReLU kink; please report")


def _run_steps(
    case: Case, check: str, impl: object, names: set[str], rng: np.random.Generator
) -> None:
    depths = tuple(case.cls.depths)  # type: ignore[attr-defined]
    rule = case.cls.optimizer  # type: ignore[attr-defined]
    point = draw_point(names, case.dims, depths, rule, case.dtype, rng)
    case.call(check, "load(params)", lambda: impl.load(point.params))  # type: ignore[attr-defined]
    xn = case.call(check, "to_device(x)", lambda: impl.to_device(point.x))  # type: ignore[attr-defined]
    yn = case.call(check, "to_device(y)", lambda: impl.to_device(point.y))  # type: ignore[attr-defined]
    optimizer = reference.ReferenceOptimizer(rule)
    current = point.params
    u = UNIT_ROUNDOFF[case.dtype]
    shapes = case.dims.param_shapes()
    for step in range(1, STEPS + 1):
        before = {d: reference.loss_and_gradients(current, point.x, point.y, d) for d in depths}
        returned = as_loss(
            case,
            check,
            f"step() #{step}",
            case.call(check, f"step() #{step}", lambda: impl.step(xn, yn)),
        )  # type: ignore[attr-defined]
        depth, error = closest_depth(returned, {d: r[0] for d, r in before.items()})
        if not is_kink_free(current, point.x, (depth,), case.dtype):
            raise _Kink
        loss_before, grads = before[depth]
        expected = optimizer.update(current, grads, reference.used_params(names, depth))
        if error > rtol(case.dtype, case.dims, depth):
            loss_after = reference.loss(expected, point.x, point.y, depth)
            hint = (
                " (that is the loss after the update: step() must return the loss before it)"
                if abs(returned - loss_after) <= rtol(case.dtype, case.dims, depth) * loss_after
                else ""
            )
            case.fail(
                check,
                f"step() #{step} returned loss {returned!r}, expected the pre-update loss "
                f"{loss_before!r}{'' if len(depths) == 1 else f' at depth {depth}'}{hint}",
            )
        got = case.call(check, "params()", impl.params)  # type: ignore[attr-defined]
        got = {
            n: as_array(
                case,
                check,
                f"params()[{n!r}] after step #{step}",
                got.get(n),
                shapes[n],
                case.dtype,
            )
            for n in names
        }
        for name in sorted(names):
            moved = got[name].astype(np.float64) - current[name]
            should = expected[name] - current[name]
            keep = np.ones(should.shape, dtype=bool)
            if isinstance(rule, Adam):
                keep = _adam_decided(optimizer, name, case.dtype)
            error_norm = float(np.linalg.norm((moved - should)[keep]))
            allowed = UPDATE_RTOL[case.dtype] * float(np.linalg.norm(should[keep])) + 2 * u * float(
                np.linalg.norm(expected[name][keep])
            )
            if not error_norm <= allowed:
                rel = error_norm / max(float(np.linalg.norm(should[keep])), 1e-300)
                case.fail(
                    check,
                    f"after step #{step}{'' if len(depths) == 1 else f' (depth {depth})'} "
                    f"{name} moved wrongly for {rule!r}: displacement off by {rel:.3g} "
                    f"of its reference norm (allowed {UPDATE_RTOL[case.dtype]:g}); "
                    f"{describe_mismatch(moved, should)}",
                )
        current = params_as_f64(got)
        if step == 1:
            # gradients() between steps must change nothing: no update, no state, no leftovers.
            case.call(check, "gradients(x, y)", lambda: impl.gradients(xn, yn))  # type: ignore[attr-defined]
            again = params_as_f64(case.call(check, "params()", impl.params))  # type: ignore[attr-defined]
            for name in sorted(names):
                if not np.array_equal(again[name], current[name]):
                    case.fail(check, f"gradients() after step #1 changed {name}")


def _adam_decided(optimizer: reference.ReferenceOptimizer, name: str, dtype: str) -> np.ndarray:
    """Adam's elements whose direction rounding cannot flip.

    Adam moves an element by about ``lr * sign(m)``; where the first moment is within the
    dtype's gradient rounding of 0, either sign is a correct float computation.
    """
    m = optimizer.exp_avg.get(name)
    if m is None:
        return np.ones((), dtype=bool)
    scale = float(np.sqrt(np.mean(m * m))) or 1.0
    return np.abs(m) > ADAM_SIGN_MARGIN[dtype] * scale


def test_update_follows_rule(twolayer_case: Case) -> None:
    check_update_follows_rule(twolayer_case)
