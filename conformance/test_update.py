"""Update: each step from loaded parameters is the declared optimizer applied to the reference
gradients, ``step`` returns the pre-update loss, ``load`` resets the optimizer's state, and
nothing accumulates between steps."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from pytest_twolayer.checking.case import Case, SuiteError
from pytest_twolayer.checking.compare import closest_depth, describe_mismatch, params_as_f64
from pytest_twolayer.checking.judge import Judge
from pytest_twolayer.checking.points import Point, draw_point, is_kink_free
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.blas import one_blas_thread
from pytest_twolayer.spec.contract import TwoLayerImplementation
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
    check = "update_follows_rule"
    judge = case.judge(check)
    impl = judge.make()
    names = set(judge.params(impl))
    rng = judge.rng()
    for _ in range(MAX_RESTARTS):
        try:
            _Trajectory.loaded(judge, impl, names, rng).run()
            return
        except _Kink:
            continue
    raise SuiteError(f"every one of {MAX_RESTARTS} trajectories met a ReLU kink")


def _enough_steps(depths: tuple[int, ...], drawn: list[int]) -> bool:
    if len(drawn) < STEPS:
        return False
    if 0 not in depths or max(depths) == 0:
        return True
    # drawn[0] is step 1, before the gradients() call; look for (deeper, 0) among steps 2..
    return any(a > 0 and b == 0 for a, b in itertools.pairwise(drawn[1:]))


@dataclass
class _Trajectory:
    """The steps from one loaded point, each judged against the reference optimizer's."""

    judge: Judge
    impl: TwoLayerImplementation
    names: set[str]
    point: Point
    natives: tuple[Any, Any]
    """``to_device`` of the point's ``x`` and ``y``."""
    optimizer: reference.ReferenceOptimizer
    current: dict[str, np.ndarray]
    """The parameters the next step starts from, in float64."""
    drawn: list[int] = field(default_factory=list)
    """The depth each step so far drew."""

    @classmethod
    def loaded(
        cls,
        judge: Judge,
        impl: TwoLayerImplementation,
        names: set[str],
        rng: np.random.Generator,
    ) -> _Trajectory:
        """A new point given to ``impl`` by ``load``, after steps that leave optimizer state
        behind for ``load`` to clear."""
        case = judge.case
        point = draw_point(
            names, case.dims, tuple(case.cls.depths), case.cls.optimizer, case.dtype, rng
        )
        xn = judge.call("to_device(x)", impl.to_device, point.x)
        yn = judge.call("to_device(y)", impl.to_device, point.y)
        for _ in range(WARM_UP_STEPS):
            judge.call("step() before load()", impl.step, xn, yn)
        judge.call("load(params)", impl.load, point.params)
        optimizer = reference.ReferenceOptimizer(case.cls.optimizer)
        return cls(judge, impl, names, point, (xn, yn), optimizer, point.params)

    def run(self) -> None:
        """Step until :func:`_enough_steps` (or :data:`MAX_STEPS`)."""
        depths = tuple(self.judge.case.cls.depths)
        while not _enough_steps(depths, self.drawn) and len(self.drawn) < MAX_STEPS:
            self.step()

    def step(self) -> None:
        """One step: the loss it returns tells the depth it drew; at that depth it returns the
        pre-update loss and moves every parameter as the reference optimizer does."""
        judge, case, point = self.judge, self.judge.case, self.point
        depths = tuple(case.cls.depths)
        step = len(self.drawn) + 1
        # Losses at every declared depth tell which one the step drew; gradients are needed
        # only at that one.
        losses = {d: reference.loss(self.current, point.x, point.y, d) for d in depths}
        returned = judge.loss(
            f"step() #{step}", judge.call(f"step() #{step}", self.impl.step, *self.natives)
        )
        depth, error = closest_depth(returned, losses)
        if not is_kink_free(self.current, point.x, (depth,), case.dtype):
            raise _Kink
        self.drawn.append(depth)
        loss_before, grads = reference.loss_and_gradients(self.current, point.x, point.y, depth)
        expected = self.optimizer.update(
            self.current, grads, reference.used_params(self.names, depth)
        )
        if error > rtol(case.dtype, case.dims, depth):
            self._fail_loss(step, returned, depth, losses, loss_before, expected)
        got = judge.params(self.impl)
        after = f"after step #{step}" + ("" if len(depths) == 1 else f" (depth {depth})")
        for name in sorted(self.names):
            self._judge_displacement(after, name, got[name], expected[name])
        self.current = params_as_f64(got)
        if step == 1:
            self._gradients_change_nothing()

    def _fail_loss(
        self,
        step: int,
        returned: float,
        depth: int,
        losses: dict[int, float],
        loss_before: float,
        expected: dict[str, np.ndarray],
    ) -> NoReturn:
        """The verdict on a returned loss that is none of the pre-update losses, telling the
        post-update loss apart (``expected`` are the parameters after the step)."""
        case, point = self.judge.case, self.point
        depths = tuple(case.cls.depths)
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
        self.judge.fail(f"step() #{step} returned loss {returned!r}, expected {wanted}{hint}")

    @one_blas_thread  # norms of whole weight matrices
    def _judge_displacement(
        self, after: str, name: str, got: np.ndarray, expected: np.ndarray
    ) -> None:
        """``got - current`` equals the reference displacement ``expected - current`` of
        ``name`` within the dtype's tolerance; the storage rounding of the new value
        (``2u|p|``) is always allowed. ``after`` names the step in the verdict."""
        dtype, rule = self.judge.case.dtype, self.judge.case.cls.optimizer
        moved = got.astype(np.float64) - self.current[name]
        should = expected - self.current[name]
        keep = (
            _adam_decided(self.optimizer, name, dtype, should.shape)
            if isinstance(rule, Adam)
            else ...
        )
        error = float(np.linalg.norm((moved - should)[keep]))
        reference_norm = float(np.linalg.norm(should[keep]))
        allowed = UPDATE_RTOL[dtype] * reference_norm + 2 * UNIT_ROUNDOFF[dtype] * float(
            np.linalg.norm(expected[keep])
        )
        if error <= allowed:
            return
        if reference_norm == 0.0:
            self.judge.fail(
                f"{after} {name} moved by {error:.3g} (norm) but must not move: "
                "it takes no part at this depth (leftover gradient or momentum?)"
            )
        self.judge.fail(
            f"{after} {name} moved wrongly for {rule!r}: displacement off by "
            f"{error / reference_norm:.3g} of its reference norm "
            f"(allowed {UPDATE_RTOL[dtype]:g}); "
            f"{describe_mismatch(moved, should)}"
        )

    def _gradients_change_nothing(self) -> None:
        """``gradients()`` between steps changes nothing: no update, no state, no leftovers
        (the next steps show the state and leftovers)."""
        self.judge.call("gradients(x, y) after step #1", self.impl.gradients, *self.natives)
        again = params_as_f64(self.judge.params(self.impl))
        for name in sorted(self.names):
            if not np.array_equal(again[name], self.current[name]):
                self.judge.fail(f"gradients() after step #1 changed {name}")


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
