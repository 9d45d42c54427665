"""Timed steps are checked steps: the losses a timed run returns are verified against what the
implementation itself says of the same parameters untimed, so a step that behaves
differently when it is timed (returns a made-up loss, skips the work) fails the benchmark
instead of publishing a figure. MLPerf's audit runs check accuracy inside the timed run for
the same reason.

Which steps are audited is drawn from the suite's own random stream, in the judging process:
an implementation cannot tell an audited step from another. Before an audited step, in
pytest-benchmark's untimed setup, its parameters are copied and the implementation's own
``gradients()`` is asked for the loss there (the contract makes it change nothing); the
timed step must return that loss. A net that is wrong the same way timed and untimed (a mean
instead of a sum) is the update check's to judge, not the benchmark's. A dynamic net draws
its depth in every call, so its every step is compared with the float64 reference at the
declared depths instead (its parameters are copied before every step anyway: :mod:`.depths`).
With sealed verdicts the steps are timed in rounds made in the host (:mod:`.measure`), and
only a round's first step can be audited: every round's first step of a dynamic net, and the
drawn share of them for a fixed depth.
A step or two that stray are left to the training and update checks (a net that restarts
once, say); more than :data:`STRAY_STEPS` fail the benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from pytest_twolayer.benchmarking.depths import ParamsTape
from pytest_twolayer.checking.case import Case
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.tolerances import rtol

STRAY_STEPS = 2
"""Audited steps that may stray before the benchmark fails: a cheat on any sizeable part of
the run strays on many of them."""

AUDITED_SHARE = 8
"""One step in this many is audited in a fixed-depth run: 62 of the tutorial's 500 steps, so
a step that cheats on any sizeable part of the run is met many times over."""

STREAM = "audited timed steps"
"""The suite's random stream (see :meth:`Case.rng`) the audited steps are drawn from."""


def loss_tolerance(loss: float, prediction_norm: float, dtype: str, relative: float) -> float:
    """How far a loss computed in ``dtype`` may lie from the float64 reference's.

    The loss is ``|r|^2`` with ``r = y_pred - y``. A prediction off by ``e`` (the forward
    tolerance: ``relative * |y_pred|``) moves it by at most ``2 |r| e + e^2``; the sum
    itself rounds by ``relative * loss``. Late in the run ``|r|`` is far below ``|y_pred|``,
    where a purely relative bound on the loss would fail honest float32 nets.
    """
    e = relative * prediction_norm
    return relative * loss + 2 * math.sqrt(max(loss, 0.0)) * e + e * e


class StepAudit:
    """The rounds of one timed run to audit, what each started from, the verdict.

    The copies go to a :class:`~.depths.ParamsTape` allocated up front (before the memory
    meter's baseline), so that keeping them shows neither in the memory figure nor as page
    faults during the run; a dynamic net's audit reads the tape that records every step."""

    def __init__(
        self,
        case: Case,
        like: Mapping[str, np.ndarray],
        steps: int,
        tape: ParamsTape | None,
        every: int = 1,
    ) -> None:
        """``every``: steps per timed round; only a round's first step can be audited (the
        parameters are copied between rounds)."""
        self.case = case
        firsts = range(0, steps, every)
        if tape is not None:  # a row per round: every round's first step
            self.rounds = list(firsts)
        else:
            size = min(len(firsts), max(1, steps // AUDITED_SHARE))
            self.rounds = sorted(
                firsts[int(r)] for r in case.rng(STREAM).choice(len(firsts), size, replace=False)
            )
        self.tape = tape if tape is not None else ParamsTape(like, len(self.rounds))
        self.owns_tape = tape is None
        self.wanted = set(self.rounds)
        self.untimed: list[float] = []  # fixed depth: gradients()'s loss at each audited round

    @property
    def asks_the_implementation(self) -> bool:
        """Whether an audited round asks the implementation's own untimed loss (a fixed
        depth) rather than the reference's at every declared depth (a dynamic net)."""
        return self.owns_tape

    def wants(self, round_: int) -> bool:
        return round_ in self.wanted

    def record(self, params: Mapping[str, np.ndarray], untimed: float | None = None) -> None:
        """Copy ``params`` (unless the tape is shared) and keep the implementation's own
        untimed loss there, for the next audited round."""
        if self.owns_tape:
            self.tape.record(params)
        if untimed is not None:
            self.untimed.append(untimed)

    def failure(
        self, losses: list[float], x: np.ndarray, y: np.ndarray, depths: tuple[int, ...]
    ) -> str | None:
        """Why the timed run fails its audit (more than :data:`STRAY_STEPS` strayed), or None."""
        strayed = self.strayed(losses, x, y, depths)
        if len(strayed) <= STRAY_STEPS:
            return None
        return (
            f"{strayed[0]}: a timed step must do what an untimed one does ({len(strayed)} of "
            f"{min(len(self.rounds), self.tape.recorded)} audited steps strayed; the benchmark "
            "audits steps drawn at random)"
        )

    def strayed(
        self, losses: list[float], x: np.ndarray, y: np.ndarray, depths: tuple[int, ...]
    ) -> list[str]:
        """Each audited step whose returned loss is not what was expected there, described."""
        found = []
        for row, round_ in enumerate(self.rounds):
            if round_ >= len(losses) or row >= self.tape.recorded:
                break
            got = losses[round_]
            expected = self._expected(row, x, y, depths)
            if not any(abs(got - want) <= allowed for want, allowed in expected):
                wants = ", ".join(f"{want:.6g}" for want, _ in expected)
                said = (
                    f"gradients() untimed gives {wants} there"
                    if self.asks_the_implementation
                    else f"the reference gives {wants} there at the declared depths"
                )
                found.append(f"timed step() #{round_ + 1} returned loss {got!r}, but {said}")
        return found

    def _expected(
        self, row: int, x: np.ndarray, y: np.ndarray, depths: tuple[int, ...]
    ) -> list[tuple[float, float]]:
        """(loss, allowed distance) pairs any one of which the step's loss must meet."""
        case, params = self.case, self.tape[row]
        pairs = []
        for depth in depths:
            y_pred = reference.forward(params, x, depth).y_pred
            residual = y_pred - np.asarray(y, np.float64)
            want = float(np.sum(residual * residual))
            if self.asks_the_implementation and row < len(self.untimed):
                want = self.untimed[row]
            bound = loss_tolerance(
                abs(want),
                float(np.linalg.norm(y_pred)),
                case.dtype,
                rtol(case.dtype, case.dims, depth),
            )
            pairs.append((want, bound))
        return pairs
