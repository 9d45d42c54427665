"""Which depth each timed step of a dynamic net drew.

A step's depth is identified from the loss it returned against the float64 reference at the
parameters it started from (:func:`pytest_twolayer.compare.closest_depth`). Those parameters
are copied untimed, in pytest-benchmark's setup before each round, into a :class:`ParamsTape`
whose rows are allocated and written before the run's memory baseline: keeping 500 steps'
parameters (~220 MB for the tutorial's float32 net) then neither shows in the memory figure
nor faults pages in during the run. The reference itself is computed after the run: between
two timed steps its BLAS threads would spin into the next step (the dynamic net's median step
quintupled that way).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pytest_twolayer import reference
from pytest_twolayer.compare import closest_depth


class ParamsTape:
    """Room for ``steps`` copies of parameters shaped like ``like``, allocated and touched up
    front, filled in order by :meth:`record`."""

    def __init__(self, like: Mapping[str, np.ndarray], steps: int) -> None:
        # np.ones, not np.empty or np.zeros: its pages are written now, so they are resident
        # (and counted) before the run starts.
        self.rows = {
            name: np.ones((steps, *np.shape(value)), np.asarray(value).dtype)
            for name, value in like.items()
        }
        self.steps, self.recorded = steps, 0

    def record(self, params: Mapping[str, np.ndarray]) -> None:
        """Copy ``params`` into the next row (a copy: an implementation may hand out views)."""
        if self.recorded == self.steps:
            raise IndexError(f"the tape holds {self.steps} steps")
        if params.keys() != self.rows.keys():
            raise ValueError(f"params() gave {sorted(params)}, first {sorted(self.rows)}")
        for name, value in params.items():
            self.rows[name][self.recorded] = value
        self.recorded += 1

    def __getitem__(self, step: int) -> dict[str, np.ndarray]:
        return {name: rows[step] for name, rows in self.rows.items()}


def depths_drawn(
    tape: ParamsTape, losses: list[float], x: np.ndarray, y: np.ndarray, depths: tuple[int, ...]
) -> list[int]:
    """The declared depth nearest to each step's returned loss at the parameters it started
    from (``tape[i]`` for ``losses[i]``)."""
    if tape.recorded != len(losses):
        raise ValueError(f"{tape.recorded} parameter copies for {len(losses)} losses")
    return [
        closest_depth(loss, reference.losses_by_depth(tape[step], x, y, depths))[0]
        for step, loss in enumerate(losses)
    ]
