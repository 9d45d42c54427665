"""How many steps a sealed benchmark times per request: rounds of up to 20 that divide the run
and leave at least ten rounds; one step per round in one process."""

from __future__ import annotations

import pytest

from pytest_twolayer.benchmarking.measure import MIN_ROUNDS, ROUND_STEPS, steps_per_round


@pytest.mark.parametrize(
    ("steps", "expected"),
    [(500, 20), (1000, 20), (100, 10), (30, 3), (60, 6), (7, 1), (9, 1), (97, 1)],
)
def test_a_sealed_run_takes_the_largest_round_that_divides_it(steps: int, expected: int):
    per_round = steps_per_round(steps, remote=True)
    assert per_round == expected
    assert steps % per_round == 0
    assert per_round <= ROUND_STEPS
    assert per_round == 1 or steps // per_round >= MIN_ROUNDS


@pytest.mark.parametrize("steps", [500, 100, 7])
def test_in_one_process_every_step_is_a_round_of_its_own(steps: int):
    assert steps_per_round(steps, remote=False) == 1
