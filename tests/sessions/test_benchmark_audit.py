"""Timed steps are checked steps: a net whose steps return a made-up loss once a run grows
long (as the timed run does, and no untimed check's run) fails the benchmark, naming the
audited step; its honest twin passes it, and so do a net wrong the same way timed and untimed
(a mean loss: the update check's) and one whose step strays once (a restart: the training
check's). The tolerance holds for correct float32 nets late in the tutorial's run, where the
residual is far below the prediction."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_twolayer.benchmarking.audit import StepAudit, loss_tolerance
from pytest_twolayer.checking.case import Case
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.zoo.numpy_bugs import NumpyControl
from tests.support.sessions import with_exhibits

EXHIBITS = """
from pytest_twolayer.zoo.numpy_bugs import NumpyControl


class FakesWhenTimed(NumpyControl):
    '''Past its 100th step an instance stops computing and returns a loss that keeps
    falling: cheap, and a curve the training check would accept.'''

    def step(self, x, y):
        self.taken = getattr(self, "taken", 0) + 1
        if self.taken <= 100:
            self.last = super().step(x, y)
            return self.last
        self.last *= 0.99
        return self.last


class Honest(NumpyControl):
    pass


class MeanLoss(NumpyControl):
    '''Wrong, but the same timed and untimed: the loss is a mean, in step and gradients.'''

    def gradients(self, x, y):  # step() takes its loss from here too
        loss, grads = super().gradients(x, y)
        return loss / y.size, grads


class RestartsOnce(NumpyControl):
    '''Its 150th step starts from fresh weights: one step strays, the rest are its own.'''

    def step(self, x, y):
        self.taken = getattr(self, "taken", 0) + 1
        if self.taken == 150:
            self.w1 = self.w1 * 0.5
        return super().step(x, y)
"""

CONFTEST = """
def pytest_twolayer_register(registry):
    registry.add("fakes", "exhibits:FakesWhenTimed")
    registry.add("honest", "exhibits:Honest")
    registry.add("mean", "exhibits:MeanLoss")
    registry.add("restarts", "exhibits:RestartsOnce")
"""


def test_a_step_that_fakes_its_loss_when_timed_fails_the_benchmark(pytester: pytest.Pytester):
    with_exhibits(pytester, EXHIBITS, CONFTEST)
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "fakes,honest,mean,restarts", "-k", "benchmark_step",
        "-n", "0",
        "--twolayer-benchmark-steps", "200",
    )  # fmt: skip
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_benchmark_step[[]fakes-cpu-float64[]]*",
            "*[[]benchmark_step.steps[]]*timed step() #*",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED *test_benchmark_step[[]fakes-cpu-float64[]]*"])


def test_an_honest_float32_run_is_within_the_audits_tolerance_to_its_end():
    """Every step of a correct float32 run of the tutorial's 500 steps, audited."""
    case = Case("control", NumpyControl, "cpu", "float32", seed=7)
    net = case.make(check="benchmark_step.steps")
    rng = np.random.default_rng(0)
    dims = case.dims
    x = rng.standard_normal((dims.N, dims.D_in)).astype(np.float32)
    y = rng.standard_normal((dims.N, dims.D_out)).astype(np.float32)
    params = net.params()
    audit = StepAudit(case, params, 500, tape=None)
    audit.rounds = list(range(500))  # all of them, not the drawn share
    audit.wanted = set(audit.rounds)
    audit.tape = type(audit.tape)(params, 500)
    xn, yn = net.to_device(x), net.to_device(y)
    losses = []
    for _ in range(500):
        audit.record(net.params(), float(net.gradients(xn, yn)[0]))
        losses.append(float(net.step(xn, yn)))
    assert losses[-1] < 1e-3 * losses[0]  # trained far down: the late steps are the test
    assert audit.strayed(losses, x, y, (0,)) == []
    # Mid-run the bound is a few percent (2.4% at step 251 here, the rounding itself 0.015%):
    losses[250] *= 1.1
    [strayed] = audit.strayed(losses, x, y, (0,))
    assert strayed.startswith("timed step() #251 ")
    assert audit.failure(losses, x, y, (0,)) is None  # one stray step is not a cheat
    for t in (100, 200):
        losses[t] *= 1.1
    assert "3 of 500 audited steps strayed" in str(audit.failure(losses, x, y, (0,)))


def test_the_tolerance_grows_with_the_prediction_not_only_the_loss():
    params = NumpyControl(Dims(4, 3, 5, 2), device="cpu", dtype="float64", seed=0).params()
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    y_pred = reference.forward(params, x).y_pred
    loss = reference.loss(params, x, y)
    tight = loss_tolerance(loss, float(np.linalg.norm(y_pred)), "float64", 1e-6)
    assert 1e-6 * loss < tight <= 3.0001e-6 * loss  # y = 0: |r| = |y_pred|, 3x the relative
    assert loss_tolerance(1e-12, 1.0, "float32", 1e-6) > 1e-12  # a tiny residual
