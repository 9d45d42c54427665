"""The benchmark's timed run is the training check's run: trained once, judged as if the
training check had trained it, and a bad curve still fails the training concern."""

from __future__ import annotations

import json

import pytest

from tests.support.sessions import with_exhibits

EXHIBITS = """
import numpy as np

from pytest_twolayer.implementations.numpy_net import NumpyNet


class CountingNet(NumpyNet):
    \"\"\"The numpy net, counting the training steps taken by all its instances.\"\"\"

    steps_taken = 0

    def step(self, x, y):
        type(self).steps_taken += 1
        return super().step(x, y)


class RestartsHalfway(NumpyNet):
    \"\"\"Bug: its 250th step draws fresh weights: the loss jumps back up, finite.\"\"\"

    def __init__(self, dims, *, device, dtype, seed):
        super().__init__(dims, device=device, dtype=dtype, seed=seed)
        self.taken = 0

    def step(self, x, y):
        self.taken += 1
        if self.taken == 250:
            rng = np.random.default_rng(12345)
            self.w1 = rng.standard_normal(self.w1.shape).astype(self.dtype)
            self.w2 = rng.standard_normal(self.w2.shape).astype(self.dtype)
        return super().step(x, y)
"""

CONFTEST = """
import json

import exhibits


def pytest_twolayer_register(registry):
    registry.add("counting", exhibits.CountingNet)
    registry.add("restarts", exhibits.RestartsHalfway)


def pytest_sessionfinish(session):
    with open("steps.json", "w") as f:
        json.dump(exhibits.CountingNet.steps_taken, f)
"""

RUN = ("-p", "twolayer", "--device", "cpu", "-p", "no:cacheprovider", "-k", "benchmark or training")


@pytest.fixture
def session(pytester: pytest.Pytester) -> pytest.Pytester:
    return with_exhibits(pytester, EXHIBITS, CONFTEST)


def steps_and_curve(pytester: pytest.Pytester, *extra: str) -> tuple[int, list[float]]:
    """Steps the counting net took in one run, and the training check's published curve."""
    result = pytester.runpytest_subprocess(
        *RUN, "--impl", "counting", "--twolayer-report-json", "r.json", *extra,
        "--twolayer-isolation", "none",  # the class counts its steps where this session reads it
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    report = json.loads((pytester.path / "r.json").read_text())
    (training,) = [c for c in report["checks"] if c["check"] == "training"]
    assert training["outcome"] == "passed"
    steps = json.loads((pytester.path / "steps.json").read_text())
    return steps, training["losses"]["values"]


def test_training_judges_the_run_the_benchmark_timed(session: pytest.Pytester) -> None:
    shared_steps, shared_curve = steps_and_curve(session)
    own_steps, own_curve = steps_and_curve(session, "--benchmark-skip")
    assert own_steps == 500  # the training check's own run
    assert shared_steps == 5 + 500  # the benchmark's warm-up and its run; nothing more
    assert shared_curve == own_curve  # the same run, loss for loss


def test_a_benchmark_of_another_length_is_not_judged(session: pytest.Pytester) -> None:
    steps, _ = steps_and_curve(session, "--twolayer-benchmark-steps", "40")
    assert steps == 5 + 40 + 500


def test_a_bad_curve_from_the_timed_run_fails_the_training_concern(
    session: pytest.Pytester,
) -> None:
    result = session.runpytest_subprocess(*RUN, "--impl", "restarts", "-rA")
    result.assert_outcomes(passed=1, failed=1)  # the benchmark passes: it only times
    result.stdout.fnmatch_lines(
        [
            "PASSED *test_benchmark_step[[]restarts-cpu-float64[]]*",
            "FAILED *test_training[[]restarts-cpu-float64[]]*",
        ],
        consecutive=False,
    )
    assert (
        "[training] impl=restarts device=cpu dtype=float64 seed=0: plain gradient descent"
        " raised the loss at step 250" in result.stdout.str()
    )


ZOO_CONFTEST = """
from pytest_twolayer.zoo.runner import exhibits


def pytest_twolayer_register(registry):
    for name, cls in exhibits().items():
        registry.add(name, cls)
"""


def test_the_zoo_training_bugs_fail_when_the_benchmark_ran_first(pytester: pytest.Pytester):
    """The zoo runs without benchmarks; here its training bugs meet the shared run. The one
    that hangs is left out: it costs two time limits and has its own zoo verdict."""
    pytester.makeconftest(ZOO_CONFTEST)
    result = pytester.runpytest_subprocess(
        *RUN, "--impl", "zoo-mean-loss,zoo-sign-flipped-update", "-rA"
    )
    output = result.stdout.str()
    # the mean loss trains too slowly but finitely: its benchmark passes and leaves its run
    result.stdout.fnmatch_lines(
        ["PASSED *test_benchmark_step[[]zoo-mean-loss-cpu-float64[]]*"], consecutive=False
    )
    for name in ("zoo-mean-loss", "zoo-sign-flipped-update"):
        assert f"FAILED test_training.py::test_training[{name}-cpu-float64]" in output, output
        assert f"[training] impl={name} device=cpu" in output
