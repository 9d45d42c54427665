"""Hygiene: seeds reproduce and differ, instances share no state, inputs are never mutated and
are read as arrays whatever their memory layout.

(That a check leaves the process as it found it is hygiene too, but no check of this module:
the plugin watches every test for it, see ``pytest_twolayer.hygiene.guard``.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.compare import as_loss, canonical_params
from pytest_twolayer.checking.layouts import LAYOUTS
from pytest_twolayer.spec.tolerances import rtol

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
    """No call mutates the numpy arrays passed in, nor the native objects made from them; and
    ``to_device`` reads an array in any layout (:data:`LAYOUTS`) as the same values."""
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
    c_ordered = {"x": to_numpy(xn), "y": to_numpy(yn)}
    arrays = {"x": x, "y": y}
    _calls_mutate_nothing(case, check, impl, arrays, {"x": x_copy, "y": y_copy}, (xn, yn), "")
    for name, value in params.items():
        if not np.array_equal(value, params_copy[name]):
            case.fail(check, f"load() or a later call mutated the {name} array passed to load")
    for layout, arrange in LAYOUTS.items():
        arrays = {"x": arrange(x_copy), "y": arrange(y_copy)}
        kept = {name: np.array(_memory_of(a)) for name, a in arrays.items()}
        natives = _natives_of(case, check, impl, arrays, layout, c_ordered)
        _calls_mutate_nothing(case, check, impl, arrays, kept, natives, f" as a {layout}")


def _memory_of(array: np.ndarray) -> np.ndarray:
    """The array a view shows part of (the array itself if it owns its memory)."""
    return array if array.base is None else array.base


def _natives_of(
    case: Case,
    check: str,
    impl: Any,
    arrays: dict[str, np.ndarray],
    layout: str,
    c_ordered: dict[str, np.ndarray | None],
) -> tuple[Any, Any]:
    """``to_device`` of each array in ``layout``, shown to hold the values it made of the same
    array in C order (where its natives can be read back)."""
    natives = []
    for what, array in arrays.items():
        native = case.call(check, f"to_device({what}) of a {layout}", impl.to_device, array)
        got, expected = to_numpy(native), c_ordered[what]
        if got is not None and expected is not None and not np.array_equal(got, expected):
            differ = (
                f"{int(np.count_nonzero(got != expected))} of {got.size} values differ"
                if got.shape == expected.shape
                else f"shape {got.shape}, expected {expected.shape}"
            )
            case.fail(
                check,
                f"to_device({what}) of a {layout} gives other values than of the same {what} in "
                f"C order ({differ}): does it read the memory behind the array, not the array?",
            )
        natives.append(native)
    return natives[0], natives[1]


def _calls_mutate_nothing(
    case: Case,
    check: str,
    impl: Any,
    arrays: dict[str, np.ndarray],
    kept: dict[str, np.ndarray],
    natives: tuple[Any, Any],
    layout: str,
) -> None:
    """``forward``, ``gradients`` and ``step`` on ``natives`` leave the numpy ``arrays`` (for
    a view, all the memory behind it) equal to ``kept``, and the natives as they were."""
    xn, yn = natives
    natives_before = {"x": to_numpy(xn), "y": to_numpy(yn)}
    calls = {
        "forward(x)": lambda: impl.forward(xn),
        "gradients(x, y)": lambda: impl.gradients(xn, yn),
        "step(x, y)": lambda: impl.step(xn, yn),
    }
    for label, call in calls.items():
        case.call(check, f"{label}{layout}", call)
        for what, array in arrays.items():
            now = _memory_of(array) if layout else array
            if not np.array_equal(now, kept[what], equal_nan=True):
                case.fail(
                    check, f"{label} (or to_device) mutated the numpy {what} passed in{layout}"
                )
        for what, native in (("x", xn), ("y", yn)):
            before, after = natives_before[what], to_numpy(native)
            if before is not None and (after is None or not np.array_equal(after, before)):
                case.fail(check, f"{label} mutated the native {what} made by to_device{layout}")


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
