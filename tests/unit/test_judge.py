"""The judge of a check (``case.judge(label)``): the verdicts its failures, calls and
constructions raise, word for word, and the case's own methods giving the same ones."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.checking.judge import Judge
from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.spec.optimizers import SGD

WHERE = "impl=mine device=cpu dtype=float32 seed=7"
SMALL = Dims(N=2, D_in=3, H=4, D_out=5)


class Net:
    """Just enough of an implementation to be made, called and read."""

    devices = ("cpu",)
    dtypes = ("float32",)
    optimizer = SGD(lr=1e-6)
    depths = (0,)  # w1 and w2 only

    def __init__(self, dims: Dims, *, device: str, dtype: str, seed: int) -> None:
        if dtype == "float16":
            raise ValueError("float16 is not declared\nsecond line")
        self.made_with = (dims, device, dtype, seed)
        shapes = dims.param_shapes()
        self.values = {n: np.zeros(shapes[n], dtype=dtype) for n in ("w1", "w2")}

    def params(self) -> dict[str, np.ndarray]:
        return {name: value.copy() for name, value in self.values.items()}


@pytest.fixture
def case() -> Case:
    return Case("mine", Net, "cpu", "float32", seed=7, dims=SMALL)


def verdict(raised: pytest.ExceptionInfo[ConformanceFailure]) -> str:
    return str(raised.value)


def test_a_judge_is_its_case_and_label(case: Case):
    judge = case.judge("update_follows_rule")
    assert judge == Judge(case, "update_follows_rule")
    assert (judge.case, judge.label) == (case, "update_follows_rule")
    with pytest.raises(dataclasses.FrozenInstanceError):
        judge.label = "update.other"


def test_fail_names_the_label_and_the_case(case: Case):
    with pytest.raises(ConformanceFailure) as raised:
        case.judge("update_follows_rule").fail("step() #1 returned loss 2.0, expected 1.0")
    assert (
        verdict(raised)
        == f"[update_follows_rule] {WHERE}: step() #1 returned loss 2.0, expected 1.0"
    )


def test_the_cases_fail_is_the_judges(case: Case):
    with pytest.raises(ConformanceFailure) as raised:
        case.fail("mine.always", "my own verdict")
    assert verdict(raised) == f"[mine.always] {WHERE}: my own verdict"


def test_call_returns_what_the_implementation_returned(case: Case):
    assert case.judge("update_follows_rule").call("step()", lambda a, b: a + b, 1.5, 2.0) == 3.5


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (RuntimeError("step before load\nmore detail"), "RuntimeError: step before load"),
        (KeyError("w1"), "KeyError: 'w1'"),
        (ValueError(""), "ValueError: (no message)"),
        (ValueError("  \n  "), "ValueError: (no message)"),
        (SystemExit(3), "SystemExit: 3"),  # an implementation's sys.exit() is a verdict too
    ],
)
def test_a_raising_call_is_the_labels_verdict_naming_the_call(
    case: Case, error: BaseException, said: str
):
    def raising() -> None:
        raise error

    with pytest.raises(ConformanceFailure) as raised:
        case.judge("update_follows_rule").call("step() before load()", raising)
    assert verdict(raised) == f"[update_follows_rule] {WHERE}: step() before load() raised {said}"
    assert raised.value.__context__ is error  # the implementation's own traceback stays behind


def test_the_cases_call_is_the_judges(case: Case):
    with pytest.raises(ConformanceFailure) as raised:
        case.call("load_round_trips", "load(params)", lambda _params: 1 / 0, {})
    assert verdict(raised) == (
        f"[load_round_trips] {WHERE}: load(params) raised ZeroDivisionError: division by zero"
    )


def test_a_verdict_reached_inside_a_call_keeps_its_own_label(case: Case):
    def inner() -> None:
        case.judge("gradients_match_reference").fail("gradient w1: off")

    with pytest.raises(ConformanceFailure) as raised:
        case.judge("update_follows_rule").call("step()", inner)
    assert verdict(raised) == f"[gradients_match_reference] {WHERE}: gradient w1: off"


def test_interrupting_a_call_is_no_verdict(case: Case):
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        case.judge("update_follows_rule").call("step()", interrupted)


def test_make_builds_the_case_or_what_it_is_told(case: Case):
    judge = case.judge("different_seeds_differ")
    made = judge.make()
    assert isinstance(made, Net)
    assert made.made_with == (SMALL, "cpu", "float32", 7)
    other = Dims(N=1, D_in=1, H=1, D_out=1)
    assert judge.make(seed=8, dims=other).made_with == (other, "cpu", "float32", 8)
    assert case.make(seed=0, check="same_seed_reproduces").made_with == (SMALL, "cpu", "float32", 0)


def test_a_raising_constructor_is_the_labels_verdict(case: Case):
    broken = dataclasses.replace(case, dtype="float16")
    expected = (
        "[params_canonical] impl=mine device=cpu dtype=float16 seed=7: "
        "__init__ raised ValueError: float16 is not declared"
    )
    with pytest.raises(ConformanceFailure) as raised:
        broken.judge("params_canonical").make()
    assert verdict(raised) == expected
    with pytest.raises(ConformanceFailure) as raised:
        broken.make(check="params_canonical")
    assert verdict(raised) == expected


def test_raised_gives_the_exception_without_a_verdict(case: Case):
    judge = case.judge("init_rejects_undeclared")
    error = judge.raised(Net, SMALL, device="cpu", dtype="float16", seed=0)
    assert isinstance(error, ValueError)
    assert judge.raised(Net, SMALL, device="cpu", dtype="float32", seed=0) is None


def test_the_labels_stream_is_the_cases_stream_of_that_name(case: Case):
    def draws(rng: np.random.Generator) -> list[float]:
        return list(rng.standard_normal(4))

    judge = case.judge("update_follows_rule")
    seeded = np.random.default_rng([7, zlib.crc32(b"update_follows_rule"), 3, 5])
    assert draws(judge.rng(3, 5)) == draws(case.rng("update_follows_rule", 3, 5)) == draws(seeded)
    assert draws(judge.rng()) == draws(
        np.random.default_rng([7, zlib.crc32(b"update_follows_rule")])
    )
    assert draws(judge.rng()) != draws(case.judge("update.other").rng())


def test_params_are_read_canonical(case: Case):
    params = case.judge("params_canonical").params(case.make(check="params_canonical"))
    assert sorted(params) == ["w1", "w2"]
    assert params["w1"].shape == (3, 4)


def test_params_of_another_shape_are_the_labels_verdict(case: Case):
    impl = case.make(check="params_canonical")
    with pytest.raises(ConformanceFailure) as raised:
        case.judge("params_canonical").params(impl, Dims(N=2, D_in=3, H=6, D_out=5))
    assert verdict(raised) == (
        f"[params_canonical] {WHERE}: params()['w1'] has shape (3, 4), expected (3, 6)"
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (np.float32(1.5), None),
        (np.array(2.0), None),
        ("1.0", "step() #1 returned str '1.0', expected a float"),
        (True, "step() #1 returned bool True, expected a float"),
        (float("nan"), "step() #1 returned nan, expected a finite loss"),
    ],
)
def test_a_loss_is_a_finite_real(case: Case, value: object, said: str | None):
    judge = case.judge("update_follows_rule")
    if said is None:
        assert judge.loss("step() #1", value) == float(value)
        return
    with pytest.raises(ConformanceFailure) as raised:
        judge.loss("step() #1", value)
    assert verdict(raised) == f"[update_follows_rule] {WHERE}: {said}"


def test_close_comparisons_say_how_far(case: Case):
    judge = case.judge("gradients_match_reference")
    judge.loss_close("gradients() loss", 1.0 + 1e-9, 1.0, 1e-8)
    with pytest.raises(ConformanceFailure) as raised:
        judge.loss_close("gradients() loss", 1.5, 1.0, 1e-3)
    assert verdict(raised) == (
        f"[gradients_match_reference] {WHERE}: gradients() loss: got 1.5, expected 1.0 "
        "(relative error 0.5 > 0.001)"
    )
    with pytest.raises(ConformanceFailure) as raised:
        judge.arrays_close("gradient w1", np.array([1.0, 3.0]), np.array([1.0, 2.0]), 1e-3)
    assert verdict(raised) == (
        f"[gradients_match_reference] {WHERE}: gradient w1: normwise relative error 0.447 > 0.001; "
        "worst element [1]: got 3, expected 2; 1 of 2 elements differ by more than 1e-3 of "
        "the largest"
    )
