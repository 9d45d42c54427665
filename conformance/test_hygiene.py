"""Hygiene: seeds reproduce and differ, instances share no state, inputs are never mutated."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_twolayer.case import Case
from pytest_twolayer.compare import as_loss, canonical_params
from pytest_twolayer.tolerances import rtol

STEPS = 3

TRAINING_DTYPE_ONLY = pytest.mark.twolayer_dtypes("training")
"""Seeds and instance isolation are properties of the implementation, not of a dtype; the
inputs check runs in every dtype because aliasing often happens only when no cast is needed
(``np.asarray(x, dtype=x.dtype)`` returns ``x`` itself)."""


def _losses(case: Case, check: str, impl: Any, x: np.ndarray, y: np.ndarray) -> list[float]:
    xn = case.call(check, "to_device(x)", impl.to_device, x)
    yn = case.call(check, "to_device(y)", impl.to_device, y)
    return [
        as_loss(case, check, "step()", case.call(check, "step()", lambda: impl.step(xn, yn)))
        for _ in range(STEPS)
    ]


def _same_losses(case: Case, a: list[float], b: list[float]) -> bool:
    """Equal up to rounding: a GPU may sum in a different order from run to run, but another
    start, another depth draw or leftover state changes a loss by far more."""
    return bool(np.allclose(a, b, rtol=rtol(case.dtype, case.dims, max(case.cls.depths)), atol=0))


def _data(case: Case, check: str) -> tuple[np.ndarray, np.ndarray]:
    rng = case.rng(check)
    d = case.dims
    return rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))


def check_same_seed_reproduces(case: Case) -> None:
    """Two instances from one seed start equal and take identical steps (and depth draws)."""
    check = "hygiene.same_seed"
    a, b = case.make(check=check), case.make(check=check)
    pa, pb = canonical_params(case, check, a), canonical_params(case, check, b)
    for name in sorted(pa):
        if name not in pb or not np.array_equal(pa[name], pb[name]):
            case.fail(check, f"two instances with seed {case.seed} start with different {name}")
    x, y = _data(case, check)
    la = _losses(case, check, a, x, y)
    lb = _losses(case, check, b, x, y)
    if not _same_losses(case, la, lb):
        case.fail(check, f"same seed, same data, different step losses: {la} vs {lb}")


def check_different_seeds_differ(case: Case) -> None:
    """Different seeds give different starting parameters."""
    check = "hygiene.different_seeds"
    a = case.make(check=check)
    b = case.make(seed=case.seed + 1, check=check)
    pa, pb = canonical_params(case, check, a), canonical_params(case, check, b)
    same = [n for n in sorted(pa) if n.startswith("w") and n in pb and np.array_equal(pa[n], pb[n])]
    if same:
        case.fail(
            check, f"seeds {case.seed} and {case.seed + 1} give identical {same}: seed ignored?"
        )


def check_instances_share_no_state(case: Case) -> None:
    """Stepping one instance changes neither another's parameters nor its next steps."""
    check = "hygiene.isolation"
    stepped, bystander, fresh = (case.make(check=check) for _ in range(3))
    initial = canonical_params(case, check, bystander)
    x, y = _data(case, check)
    _losses(case, check, stepped, x, y)
    after = canonical_params(case, check, bystander)
    for name in sorted(initial):
        if name not in after or not np.array_equal(initial[name], after[name]):
            case.fail(check, f"stepping one instance changed another instance's {name}")
    lb = _losses(case, check, bystander, x, y)
    lf = _losses(case, check, fresh, x, y)
    if not _same_losses(case, lb, lf):
        case.fail(
            check,
            f"an instance stepped after another one differs from a fresh one: {lb} vs {lf} "
            "(shared optimizer state or random generator?)",
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


def check_inputs_not_mutated(case: Case) -> None:
    """No call mutates the numpy arrays passed in, nor the native objects made from them."""
    check = "hygiene.inputs"
    impl = case.make(check=check)
    x, y = _data(case, check)
    x_copy, y_copy = x.copy(), y.copy()
    params = {
        n: np.array(v, dtype=np.float64) for n, v in canonical_params(case, check, impl).items()
    }
    params_copy = {n: v.copy() for n, v in params.items()}
    case.call(check, "load(params)", lambda: impl.load(params))
    xn = case.call(check, "to_device(x)", lambda: impl.to_device(x))
    yn = case.call(check, "to_device(y)", lambda: impl.to_device(y))
    xn_before, yn_before = to_numpy(xn), to_numpy(yn)
    calls = {
        "forward(x)": lambda: impl.forward(xn),
        "gradients(x, y)": lambda: impl.gradients(xn, yn),
        "step(x, y)": lambda: impl.step(xn, yn),
    }
    for label, call in calls.items():
        case.call(check, label, call)
        for what, now, was in (("x", x, x_copy), ("y", y, y_copy)):
            if not np.array_equal(now, was):
                case.fail(check, f"{label} (or to_device) mutated the numpy {what} passed in")
        for what, native, before in (("x", xn, xn_before), ("y", yn, yn_before)):
            after = to_numpy(native)
            if before is not None and (after is None or not np.array_equal(after, before)):
                case.fail(check, f"{label} mutated the native {what} made by to_device")
    for name, value in params.items():
        if not np.array_equal(value, params_copy[name]):
            case.fail(check, f"load() or a later call mutated the {name} array passed to load")


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
