"""Timed steps are checked steps: the losses a timed run returns are verified against the
parameters each audited step started from, so a step that behaves differently when it is
timed (returns a made-up loss, skips the work) fails the benchmark instead of publishing a
figure. MLPerf's audit runs check accuracy inside the timed run for the same reason.

Which steps are audited is drawn from the suite's own random stream, in the judging process:
an implementation cannot tell an audited step from another, and the parameters are read in
pytest-benchmark's untimed setup before the step, so the audit costs the timing nothing. A
dynamic net's every step is audited (its parameters are copied before every step anyway, to
tell the depth drawn: :mod:`.depths`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from pytest_twolayer.benchmarking.depths import ParamsTape
from pytest_twolayer.checking.case import Case
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.tolerances import rtol

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
    """The rounds of one timed run to audit, the parameters each started from, the verdict.

    The copies go to a :class:`~.depths.ParamsTape` allocated up front (before the memory
    meter's baseline), so that keeping them shows neither in the memory figure nor as page
    faults during the run; a dynamic net's audit reads the tape that records every step."""

    def __init__(
        self, case: Case, like: Mapping[str, np.ndarray], steps: int, tape: ParamsTape | None
    ) -> None:
        self.case = case
        if tape is not None:
            self.rounds = list(range(steps))
        else:
            size = max(1, steps // AUDITED_SHARE)
            self.rounds = sorted(
                int(r) for r in case.rng(STREAM).choice(steps, size, replace=False)
            )
        self.tape = tape if tape is not None else ParamsTape(like, len(self.rounds))
        self.owns_tape = tape is None
        self.wanted = set(self.rounds)

    def wants(self, round_: int) -> bool:
        return round_ in self.wanted

    def record(self, params: Mapping[str, np.ndarray]) -> None:
        """Copy ``params``, those of the next audited round (unless the tape is shared)."""
        if self.owns_tape:
            self.tape.record(params)

    def first_mismatch(
        self, losses: list[float], x: np.ndarray, y: np.ndarray, depths: tuple[int, ...]
    ) -> str | None:
        """The first audited step whose returned loss is no declared depth's loss at the
        parameters it started from, described; None when every audited step is honest."""
        case = self.case
        for row, round_ in enumerate(self.rounds):
            if round_ >= len(losses) or row >= self.tape.recorded:
                break
            params = self.tape[row]
            got = losses[round_]
            fits = {}
            for depth in depths:
                y_pred = reference.forward(params, x, depth).y_pred
                residual = y_pred - np.asarray(y, np.float64)
                want = float(np.sum(residual * residual))
                allowed = loss_tolerance(
                    want,
                    float(np.linalg.norm(y_pred)),
                    case.dtype,
                    rtol(case.dtype, case.dims, depth),
                )
                fits[depth] = want
                if abs(got - want) <= allowed:
                    break
            else:
                listed = ", ".join(f"{want:.6g}" for want in fits.values())
                at = "" if len(depths) == 1 else " at any declared depth"
                return (
                    f"timed step() #{round_ + 1} returned loss {got!r}, but the parameters it "
                    f"started from give {listed}{at}: a timed step must do what an untimed "
                    "one does (the benchmark audits steps drawn at random)"
                )
        return None
