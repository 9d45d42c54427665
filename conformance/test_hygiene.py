"""Hygiene: seeds reproduce and differ, instances share no state, inputs are never mutated and
are read as arrays whatever their memory layout, and no call of the contract changes the
process-global state.

The last is judged by the plugin, which watches every test (``pytest_twolayer.hygiene.guard``,
or the implementation's host): ``global_state_untouched`` makes the contract's calls, one
test per call, and fails for the call that changed the state; every other test has the
state restored after it and keeps its own verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.contract_calls import CALLS, calls_until
from pytest_twolayer.checking.judge import Judge
from pytest_twolayer.checking.layouts import LAYOUTS
from pytest_twolayer.spec.contract import TwoLayerImplementation
from pytest_twolayer.spec.tolerances import rtol

STEPS = 3

TRAINING_DTYPE_ONLY = pytest.mark.twolayer_dtypes("training")
"""Seeds and instance isolation are properties of the implementation, not of a dtype; the
inputs check runs in every dtype because aliasing often happens only when no cast is needed
(``np.asarray(x, dtype=x.dtype)`` returns ``x`` itself)."""


def _losses(
    judge: Judge, impl: TwoLayerImplementation, x: np.ndarray, y: np.ndarray
) -> list[float]:
    xn = judge.call("to_device(x)", impl.to_device, x)
    yn = judge.call("to_device(y)", impl.to_device, y)
    return [judge.loss("step()", judge.call("step()", impl.step, xn, yn)) for _ in range(STEPS)]


def _same_losses(case: Case, a: list[float], b: list[float]) -> bool:
    """Equal up to rounding: a GPU may sum in a different order from run to run, but another
    start, another depth draw or leftover state changes a loss by far more."""
    return bool(np.allclose(a, b, rtol=rtol(case.dtype, case.dims, max(case.cls.depths)), atol=0))


def _data(judge: Judge) -> tuple[np.ndarray, np.ndarray]:
    rng = judge.rng()
    d = judge.case.dims
    return rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))


def check_same_seed_reproduces(case: Case) -> None:
    """Two instances from one seed start equal and take identical steps (and depth draws)."""
    check = "same_seed_reproduces"
    judge = case.judge(check)
    a, b = judge.make(), judge.make()
    pa, pb = judge.params(a), judge.params(b)
    for name in sorted(pa):
        if name not in pb or not np.array_equal(pa[name], pb[name]):
            judge.fail(f"two instances with seed {case.seed} start with different {name}")
    x, y = _data(judge)
    la = _losses(judge, a, x, y)
    lb = _losses(judge, b, x, y)
    if not _same_losses(case, la, lb):
        judge.fail(f"same seed, same data, different step losses: {la} vs {lb}")


def check_different_seeds_differ(case: Case) -> None:
    """Different seeds give different starting parameters."""
    check = "different_seeds_differ"
    judge = case.judge(check)
    a = judge.make()
    b = judge.make(seed=case.seed + 1)
    pa, pb = judge.params(a), judge.params(b)
    same = [n for n in sorted(pa) if n.startswith("w") and n in pb and np.array_equal(pa[n], pb[n])]
    if same:
        judge.fail(f"seeds {case.seed} and {case.seed + 1} give identical {same}: seed ignored?")


def check_instances_share_no_state(case: Case) -> None:
    """Stepping one instance changes neither another's parameters nor its next steps."""
    check = "instances_share_no_state"
    judge = case.judge(check)
    stepped, bystander, fresh = (judge.make() for _ in range(3))
    initial = judge.params(bystander)
    x, y = _data(judge)
    _losses(judge, stepped, x, y)
    after = judge.params(bystander)
    for name in sorted(initial):
        if name not in after or not np.array_equal(initial[name], after[name]):
            judge.fail(f"stepping one instance changed another instance's {name}")
    lb = _losses(judge, bystander, x, y)
    lf = _losses(judge, fresh, x, y)
    if not _same_losses(case, lb, lf):
        judge.fail(
            f"an instance stepped after another one differs from a fresh one: {lb} vs {lf} "
            "(shared optimizer state or random generator?)"
        )


def to_numpy(native: Any) -> np.ndarray | None:
    """A numpy copy of a native array (numpy, torch, TensorFlow), or None if unknown."""
    for attempt in (
        lambda: native.detach().cpu().numpy(),  # torch
        lambda: native.numpy(),  # TensorFlow eager
        lambda: np.asarray(native),
    ):
        try:
            value = np.array(attempt(), copy=True)
        except Exception:
            continue
        if value.dtype != object:
            return value
    return None


@dataclass(frozen=True)
class _Inputs:
    """Numpy inputs ``x`` and ``y`` in one layout, what their memory held when made, and the
    natives ``to_device`` made of them."""

    layout: str
    """``" as a <layout>"`` in the verdicts; empty for the C-ordered arrays themselves."""
    arrays: dict[str, np.ndarray]
    kept: dict[str, np.ndarray]
    """A copy of each array (for a view, of all the memory behind it)."""
    natives: tuple[Any, Any]


def check_inputs_not_mutated(case: Case) -> None:
    """No call mutates the numpy arrays passed in, nor the native objects made from them; and
    ``to_device`` reads an array in any layout (:data:`LAYOUTS`) as the same values."""
    check = "inputs_not_mutated"
    judge = case.judge(check)
    impl = judge.make()
    x, y = _data(judge)
    x_copy, y_copy = x.copy(), y.copy()
    params = {n: np.array(v, dtype=np.float64) for n, v in judge.params(impl).items()}
    params_copy = {n: v.copy() for n, v in params.items()}
    judge.call("load(params)", impl.load, params)
    xn = judge.call("to_device(x)", impl.to_device, x)
    yn = judge.call("to_device(y)", impl.to_device, y)
    c_ordered = {"x": to_numpy(xn), "y": to_numpy(yn)}
    inputs = _Inputs("", {"x": x, "y": y}, {"x": x_copy, "y": y_copy}, (xn, yn))
    _calls_mutate_nothing(judge, impl, inputs)
    for name, value in params.items():
        if not np.array_equal(value, params_copy[name]):
            judge.fail(f"load() or a later call mutated the {name} array passed to load")
    for layout, arrange in LAYOUTS.items():
        arrays = {"x": arrange(x_copy), "y": arrange(y_copy)}
        kept = {name: np.array(_memory_of(a)) for name, a in arrays.items()}
        natives = _natives_of(judge, impl, arrays, layout, c_ordered)
        _calls_mutate_nothing(judge, impl, _Inputs(f" as a {layout}", arrays, kept, natives))


def _memory_of(array: np.ndarray) -> np.ndarray:
    """The array a view shows part of (the array itself if it owns its memory)."""
    return array if array.base is None else array.base


def _natives_of(
    judge: Judge,
    impl: TwoLayerImplementation,
    arrays: dict[str, np.ndarray],
    layout: str,
    c_ordered: dict[str, np.ndarray | None],
) -> tuple[Any, Any]:
    """``to_device`` of each array in ``layout``, shown to hold the values it made of the same
    array in C order (where its natives can be read back)."""
    natives = []
    for what, array in arrays.items():
        native = judge.call(f"to_device({what}) of a {layout}", impl.to_device, array)
        _same_values(judge, what, layout, to_numpy(native), c_ordered[what])
        natives.append(native)
    return natives[0], natives[1]


def _same_values(
    judge: Judge, what: str, layout: str, got: np.ndarray | None, expected: np.ndarray | None
) -> None:
    """The native of ``what`` in ``layout`` read back as ``got`` holds what its C-ordered
    native held (nothing to judge where either cannot be read back)."""
    if got is None or expected is None or np.array_equal(got, expected):
        return
    differ = (
        f"{int(np.count_nonzero(got != expected))} of {got.size} values differ"
        if got.shape == expected.shape
        else f"shape {got.shape}, expected {expected.shape}"
    )
    judge.fail(
        f"to_device({what}) of a {layout} gives other values than of the same {what} in "
        f"C order ({differ}): does it read the memory behind the array, not the array?"
    )


def _calls_mutate_nothing(judge: Judge, impl: TwoLayerImplementation, inputs: _Inputs) -> None:
    """``forward``, ``gradients`` and ``step`` on the inputs' natives leave the numpy arrays
    (for a view, all the memory behind it) as they were kept, and the natives as they were."""
    xn, yn = inputs.natives
    natives_before = {"x": to_numpy(xn), "y": to_numpy(yn)}
    calls = {
        "forward(x)": lambda: impl.forward(xn),
        "gradients(x, y)": lambda: impl.gradients(xn, yn),
        "step(x, y)": lambda: impl.step(xn, yn),
    }
    for label, call in calls.items():
        judge.call(f"{label}{inputs.layout}", call)
        _arrays_kept(judge, label, inputs)
        _natives_kept(judge, label, inputs, natives_before)


def _arrays_kept(judge: Judge, label: str, inputs: _Inputs) -> None:
    """After the call ``label``, the numpy inputs (the memory behind a view) are as kept."""
    for what, array in inputs.arrays.items():
        now = _memory_of(array) if inputs.layout else array
        if not np.array_equal(now, inputs.kept[what], equal_nan=True):
            judge.fail(f"{label} (or to_device) mutated the numpy {what} passed in{inputs.layout}")


def _natives_kept(
    judge: Judge, label: str, inputs: _Inputs, before: dict[str, np.ndarray | None]
) -> None:
    """After the call ``label``, the natives read back as ``before`` (where they can be)."""
    for what, native in zip(("x", "y"), inputs.natives, strict=True):
        was, now = before[what], to_numpy(native)
        if was is not None and (now is None or not np.array_equal(now, was)):
            judge.fail(f"{label} mutated the native {what} made by to_device{inputs.layout}")


@TRAINING_DTYPE_ONLY
def test_same_seed_reproduces(twolayer_case: Case) -> None:
    check_same_seed_reproduces(twolayer_case)


@TRAINING_DTYPE_ONLY
def test_different_seeds_differ(twolayer_case: Case) -> None:
    check_different_seeds_differ(twolayer_case)


@TRAINING_DTYPE_ONLY
def test_instances_share_no_state(twolayer_case: Case) -> None:
    check_instances_share_no_state(twolayer_case)


def test_inputs_not_mutated(twolayer_case: Case) -> None:
    check_inputs_not_mutated(twolayer_case)


def check_global_state_untouched(case: Case, call: str = "__init__") -> None:
    """The contract's calls on a fresh instance, up to ``call``, for the plugin to watch: it
    fails this test when ``call`` itself changes the process-global state (run it under
    ``pytest_twolayer.hygiene.state.left_as_found`` without pytest). What a call raises is
    other checks' verdict: the calls stop there."""
    check = "global_state_untouched"
    judge = case.judge(check)
    for _, make in calls_until(case, call):
        if judge.raised(make) is not None:
            return


@TRAINING_DTYPE_ONLY
@pytest.mark.parametrize("call", CALLS)
def test_global_state_untouched(twolayer_case: Case, call: str) -> None:
    check_global_state_untouched(twolayer_case, call)
