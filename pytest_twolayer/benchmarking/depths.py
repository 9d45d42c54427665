"""Which depth each timed step of a dynamic net drew.

A step's depth is identified from the loss it returned against the float64 reference at the
parameters it started from (:func:`pytest_twolayer.checking.compare.closest_depth`). Those
parameters are copied untimed, in pytest-benchmark's setup before each round, into a
:class:`ParamsTape` whose rows are allocated and written before the run's memory baseline:
keeping 500 steps' parameters (hundreds of MB for the dynamic net in float32) neither shows in
the memory figure nor faults pages in during the run. The reference itself is computed after
the run: between two timed steps its BLAS threads would spin into the next step (the dynamic
net's median step quintupled that way).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pytest_twolayer.checking.compare import closest_depth
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.optimizers import SGD, Adam


class ParamsTape:
    """Room for ``steps`` copies of parameters shaped like ``like``, allocated and touched up
    front, filled in order by :meth:`record`."""

    def __init__(self, like: Mapping[str, np.ndarray], steps: int) -> None:
        self.layout: dict[str, tuple[slice, tuple[int, ...]]] = {}
        offset = 0
        for name, value in like.items():
            size = int(np.size(value))
            self.layout[name] = (slice(offset, offset + size), np.shape(value))
            offset += size
        dtype = np.result_type(*(np.asarray(value).dtype for value in like.values()))
        # One buffer per step, written now (np.ones, not np.empty) so that its pages are
        # resident before the run starts. Not one buffer for the run: numpy asks the kernel
        # for huge pages for large arrays, and compacting memory for them took several times
        # longer in a long session than step-sized buffers do (the figures:
        # docs/parallel.md#figures-behind-the-design).
        self.rows = [np.ones(offset, dtype) for _ in range(steps)]
        self.recorded = 0

    def record(self, params: Mapping[str, np.ndarray]) -> None:
        """Copy ``params`` into the next row (a copy: an implementation may hand out views)."""
        if self.recorded == len(self.rows):
            raise IndexError(f"the tape holds {len(self.rows)} steps")
        if params.keys() != self.layout.keys():
            raise ValueError(f"params() gave {sorted(params)}, first {sorted(self.layout)}")
        row = self.rows[self.recorded]
        for name, (where, shape) in self.layout.items():
            row[where].reshape(shape)[...] = params[name]
        self.recorded += 1

    def __getitem__(self, step: int) -> dict[str, np.ndarray]:
        row = self.rows[step]
        return {name: row[where].reshape(shape) for name, (where, shape) in self.layout.items()}


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


def depths_replayed(
    tape: ParamsTape,
    losses: list[float],
    x: np.ndarray,
    y: np.ndarray,
    depths: tuple[int, ...],
    rule: SGD | Adam,
    every: int,
) -> list[int]:
    """The depth each step drew where the parameters were copied only before each round of
    ``every`` steps (sealed runs time rounds made in the host: :mod:`.measure`).

    Within a round the parameters are replayed: the declared update, in float64, from the
    round's first parameters (``tape[round]``), each step at the depth its loss is nearest to;
    the optimizer's state runs through the whole run as the implementation's does. Twenty
    float64 steps stray from a float32 net's by far less than the losses at two depths differ,
    and a net whose update is wrong fails the update check whatever its figures say."""
    if tape.recorded * every < len(losses):
        raise ValueError(f"{tape.recorded} parameter copies for {len(losses)} losses")
    optimizer = reference.ReferenceOptimizer(rule)
    drawn = []
    params: dict[str, np.ndarray] = {}
    for step, loss in enumerate(losses):
        if step % every == 0:
            params = tape[step // every]
        depth = closest_depth(loss, reference.losses_by_depth(params, x, y, depths))[0]
        drawn.append(depth)
        _, grads = reference.loss_and_gradients(params, x, y, depth)
        params = optimizer.update(params, grads, reference.used_params(set(params), depth))
    return drawn
