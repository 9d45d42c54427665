"""Identifying the depth each timed step of a dynamic net drew, from parameter copies taken
untimed before each step and the loss the step returned."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_twolayer.benchmarking.depths import ParamsTape, depths_drawn, depths_replayed
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.optimizers import SGD, Adam

DEPTHS = (0, 1, 2, 3)


def params_at(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "w1": rng.standard_normal((6, 5)) * 0.5,
        "b1": rng.standard_normal(5) * 0.1,
        "wm": rng.standard_normal((5, 5)) * 0.5,
        "bm": rng.standard_normal(5) * 0.1,
        "w2": rng.standard_normal((5, 3)) * 0.5,
        "b2": rng.standard_normal(3) * 0.1,
    }


def test_the_tape_keeps_copies_not_the_arrays_it_was_given():
    rng = np.random.default_rng(0)
    first = params_at(rng)
    tape = ParamsTape(first, steps=2)
    kept = {name: value.copy() for name, value in first.items()}
    tape.record(first)
    first["w1"][...] = 7.0  # an implementation that hands out (and then updates) views
    tape.record(params_at(rng))
    for name, value in kept.items():
        np.testing.assert_array_equal(tape[0][name], value)
    assert not np.array_equal(tape[1]["w1"], kept["w1"])


def test_the_tape_refuses_a_step_too_many_and_a_change_of_names():
    rng = np.random.default_rng(1)
    tape = ParamsTape(params_at(rng), steps=1)
    renamed = {("W1" if name == "w1" else name): value for name, value in params_at(rng).items()}
    with pytest.raises(ValueError, match="W1"):
        tape.record(renamed)
    tape.record(params_at(rng))
    with pytest.raises(IndexError, match="holds 1 steps"):
        tape.record(params_at(rng))


def test_each_loss_is_matched_with_the_parameters_its_step_started_from():
    """Every step starts from different parameters and draws a depth; the depths come back
    in order, and pairing a loss with its neighbour's parameters would not give them."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
    chosen = [int(d) for d in rng.integers(0, 4, size=40)]
    steps = [params_at(rng) for _ in chosen]
    tape = ParamsTape(steps[0], steps=len(steps))
    for params in steps:
        tape.record(params)
    losses = [
        reference.losses_by_depth(params, x, y, DEPTHS)[depth]
        for params, depth in zip(steps, chosen, strict=True)
    ]
    assert depths_drawn(tape, losses, x, y, DEPTHS) == chosen
    shifted = [losses[-1], *losses[:-1]]
    assert depths_drawn(tape, shifted, x, y, DEPTHS) != [chosen[-1], *chosen[:-1]]


def test_a_loss_without_its_parameters_is_an_error():
    rng = np.random.default_rng(3)
    tape = ParamsTape(params_at(rng), steps=3)
    tape.record(params_at(rng))
    with pytest.raises(ValueError, match="1 parameter copies for 2 losses"):
        depths_drawn(tape, [1.0, 2.0], np.ones((2, 6)), np.ones((2, 3)), DEPTHS)


def dynamic_run(
    rule: SGD | Adam, steps: int, seed: int
) -> tuple[list[dict[str, np.ndarray]], list[float], list[int], np.ndarray, np.ndarray]:
    """A dynamic net trained by the float64 reference and rounded to float32 after every step
    (as a float32 net's parameters are), at depths drawn at random: its parameters before each
    step, its losses, the depths it drew, and its data."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
    params = {k: v.astype(np.float32).astype(np.float64) for k, v in params_at(rng).items()}
    optimizer = reference.ReferenceOptimizer(rule)
    before, losses, drawn = [], [], []
    for _ in range(steps):
        depth = int(rng.choice(DEPTHS))
        loss, grads = reference.loss_and_gradients(params, x, y, depth)
        before.append(params)
        losses.append(float(np.float32(loss)))
        drawn.append(depth)
        moved = optimizer.update(params, grads, reference.used_params(set(params), depth))
        params = {k: v.astype(np.float32).astype(np.float64) for k, v in moved.items()}
    return before, losses, drawn, x, y


@pytest.mark.parametrize("rule", [SGD(lr=1e-3, momentum=0.9), Adam(lr=1e-3)])
def test_depths_within_rounds_are_replayed_from_each_rounds_first_parameters(rule: SGD | Adam):
    every, steps = 20, 100
    before, losses, drawn, x, y = dynamic_run(rule, steps, seed=4)
    tape = ParamsTape(before[0], steps // every)
    for start in range(0, steps, every):
        tape.record(before[start])
    assert depths_replayed(tape, losses, x, y, DEPTHS, rule, every) == drawn


def test_a_replay_needs_a_copy_for_every_round():
    before, losses, _, x, y = dynamic_run(SGD(lr=1e-3), 40, seed=5)
    tape = ParamsTape(before[0], 1)
    tape.record(before[0])
    with pytest.raises(ValueError, match="1 parameter copies for 40 losses"):
        depths_replayed(tape, losses, x, y, DEPTHS, SGD(lr=1e-3), 20)
