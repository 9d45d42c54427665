"""Update: each step from loaded parameters is the declared optimizer applied to the reference
gradients, ``step`` returns the pre-update loss, ``load`` resets the optimizer's state, and
nothing accumulates between steps."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.compare import (
    as_loss,
    canonical_params,
    closest_depth,
    describe_mismatch,
    params_as_f64,
)
from pytest_twolayer.checking.points import draw_point, is_kink_free
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.blas import one_blas_thread
from pytest_twolayer.spec.optimizers import Adam
from pytest_twolayer.spec.tolerances import ADAM_SIGN_MARGIN, UNIT_ROUNDOFF, UPDATE_RTOL, rtol

STEPS = 3
"""Three steps: the first shows the rule, the second shows state (momentum, Adam moments) and
any gradient accumulated from step one or from the ``gradients()`` call between them."""

MAX_STEPS = 40
"""A net that may skip its middle layer (depth 0 among others) steps on until a depth-0 step
directly follows a deeper one, after the ``gradients()`` call: that is where leftover
gradients or momentum would move the unused ``wm``/``bm``. The chance that 40 uniform draws
over (0, 1, 2, 3) never give that pair is below 1e-3; any later restart draws anew."""

WARM_UP_STEPS = 2
"""Steps taken before ``load``: optimizer state they leave behind must be reset by it."""

MAX_RESTARTS = 25
"""A step may land next to a ReLU kink, where float rounding may pick either derivative; the
check then starts again from a new point (each start fails far less than half the time)."""


class _Kink(Exception):
    """The trajectory reached a point where the comparison would be decided by rounding."""


def check_update_follows_rule(case: Case) -> None:
    """Steps from loaded parameters equal the declared optimizer applied to reference gradients."""
    check = "update.rule"
    impl = case.make(check=check)
    names = set(canonical_params(case, check, impl))
    rng = case.rng(check)
    for _ in range(MAX_RESTARTS):
        try:
            _run_steps(case, check, impl, names, rng)
            return
        except _Kink:
            continue
    case.fail(check, f"every one of {MAX_RESTARTS} trajectories met a ReLU kink; please report")


def _enough_steps(depths: tuple[int, ...], drawn: list[int]) -> bool:
    if len(drawn) < STEPS:
        return False
    if 0 not in depths or max(depths) == 0:
        return True
    # drawn[0] is step 1, before the gradients() call; look for (deeper, 0) among steps 2..
    return any(a > 0 and b == 0 for a, b in itertools.pairwise(drawn[1:]))


def _run_steps(
    case: Case, check: str, impl: Any, names: set[str], rng: np.random.Generator
) -> None:
    depths = tuple(case.cls.depths)
    rule = case.cls.optimizer
    point = draw_point(names, case.dims, depths, rule, case.dtype, rng)
    xn = case.call(check, "to_device(x)", impl.to_device, point.x)
    yn = case.call(check, "to_device(y)", impl.to_device, point.y)
    for _ in range(WARM_UP_STEPS):  # leave optimizer state behind for load() to clear
        case.call(check, "step() before load()", impl.step, xn, yn)
    case.call(check, "load(params)", impl.load, point.params)
    optimizer = reference.ReferenceOptimizer(rule)
    current = point.params
    drawn: list[int] = []
    while not _enough_steps(depths, drawn) and len(drawn) < MAX_STEPS:
        step = len(drawn) + 1
        # Losses at every declared depth tell which one the step drew; gradients are needed
        # only at that one.
        losses = {d: reference.loss(current, point.x, point.y, d) for d in depths}
        returned = as_loss(
            case, check, f"step() #{step}", case.call(check, f"step() #{step}", impl.step, xn, yn)
        )
        depth, error = closest_depth(returned, losses)
        if not is_kink_free(current, point.x, (depth,), case.dtype):
            raise _Kink
        drawn.append(depth)
        at_depth = "" if len(depths) == 1 else f" (depth {depth})"
        loss_before, grads = reference.loss_and_gradients(current, point.x, point.y, depth)
        expected = optimizer.update(current, grads, reference.used_params(names, depth))
        if error > rtol(case.dtype, case.dims, depth):
            loss_after = reference.loss(expected, point.x, point.y, depth)
            hint = (
                " (that is the loss after the update: step() must return the loss before it)"
                if abs(returned - loss_after) <= rtol(case.dtype, case.dims, depth) * loss_after
                else ""
            )
            if len(depths) == 1:
                wanted = f"the pre-update loss {loss_before!r}"
            else:
                listed = ", ".join(f"{d}: {losses[d]:.6g}" for d in depths)
                wanted = f"the pre-update loss at one of the declared depths ({listed})"
            case.fail(check, f"step() #{step} returned loss {returned!r}, expected {wanted}{hint}")
        got = canonical_params(case, check, impl)
        for name in sorted(names):
            _compare_displacement(
                case, check, step, at_depth, name, rule, optimizer, current, got, expected
            )
        current = params_as_f64(got)
        if step == 1:
            # gradients() between steps must change nothing: no update, no state, no leftovers.
            case.call(check, "gradients(x, y) after step #1", impl.gradients, xn, yn)
            again = params_as_f64(canonical_params(case, check, impl))
            for name in sorted(names):
                if not np.array_equal(again[name], current[name]):
                    case.fail(check, f"gradients() after step #1 changed {name}")


@one_blas_thread  # norms of whole weight matrices
def _compare_displacement(
    case: Case,
    check: str,
    step: int,
    at_depth: str,
    name: str,
    rule: Any,
    optimizer: reference.ReferenceOptimizer,
    current: dict[str, np.ndarray],
    got: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
) -> None:
    """``got[name] - current[name]`` equals the reference displacement within the dtype's
    tolerance; the storage rounding of the new value (``2u|p|``) is always allowed."""
    moved = got[name].astype(np.float64) - current[name]
    should = expected[name] - current[name]
    keep = (
        _adam_decided(optimizer, name, case.dtype, should.shape) if isinstance(rule, Adam) else ...
    )
    error = float(np.linalg.norm((moved - should)[keep]))
    reference_norm = float(np.linalg.norm(should[keep]))
    allowed = UPDATE_RTOL[case.dtype] * reference_norm + 2 * UNIT_ROUNDOFF[case.dtype] * float(
        np.linalg.norm(expected[name][keep])
    )
    if error <= allowed:
        return
    if reference_norm == 0.0:
        case.fail(
            check,
            f"after step #{step}{at_depth} {name} moved by {error:.3g} (norm) but must not move: "
            "it takes no part at this depth (leftover gradient or momentum?)",
        )
    case.fail(
        check,
        f"after step #{step}{at_depth} {name} moved wrongly for {rule!r}: displacement off by "
        f"{error / reference_norm:.3g} of its reference norm "
        f"(allowed {UPDATE_RTOL[case.dtype]:g}); "
        f"{describe_mismatch(moved, should)}",
    )


def _adam_decided(
    optimizer: reference.ReferenceOptimizer, name: str, dtype: str, shape: tuple[int, ...]
) -> np.ndarray:
    """Adam's elements whose direction rounding cannot flip.

    Adam moves an element by about ``lr * sign(m)``; where the first moment is within the
    dtype's gradient rounding of 0, either sign is a correct float computation.
    """
    m = optimizer.exp_avg.get(name)
    if m is None:
        return np.ones(shape, dtype=bool)
    scale = float(np.sqrt(np.mean(m * m))) or 1.0
    decided: np.ndarray = np.abs(m) > ADAM_SIGN_MARGIN[dtype] * scale
    return decided


def test_update_follows_rule(twolayer_case: Case) -> None:
    check_update_follows_rule(twolayer_case)
