"""Contract: declarations, canonical parameters that are copies, ``load``, and the types the
methods return."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.compare import closest_depth, params_as_f64
from pytest_twolayer.checking.judge import Judge
from pytest_twolayer.checking.points import draw_params, representable
from pytest_twolayer.run.selection import Loaded
from pytest_twolayer.spec.contract import KNOWN_DEVICES, TwoLayerImplementation
from pytest_twolayer.spec.reference import forward
from pytest_twolayer.spec.tolerances import rtol


def check_params_canonical(case: Case) -> dict[str, np.ndarray]:
    """``params()`` names a valid set for the declared depths, in canonical shapes and dtype."""
    check = "params_canonical"
    judge = case.judge(check)
    return judge.params(judge.make())


def check_params_are_copies(case: Case) -> None:
    """Writing into what ``params()`` returned changes neither the net nor the next ``params()``."""
    check = "params_are_copies"
    judge = case.judge(check)
    impl = judge.make()
    first = judge.params(impl)
    snapshot = {name: np.array(value) for name, value in first.items()}
    x = judge.rng().standard_normal((case.dims.N, case.dims.D_in))
    xn = judge.call("to_device(x)", impl.to_device, x)
    before = np.array(judge.call("forward(x)", impl.forward, xn))
    for value in first.values():
        value[...] = 7.0
    again = judge.params(impl)
    for name, value in snapshot.items():
        if not np.array_equal(again[name], value):
            judge.fail(f"params()[{name!r}] is a view: writing into it changed the net")
    after = np.array(judge.call("forward(x)", impl.forward, xn))
    if len(case.cls.depths) == 1 and not np.array_equal(before, after):
        judge.fail("writing into params()'s arrays changed forward()")


def check_returns_belong_to_caller(case: Case) -> None:
    """What ``params()``, ``forward`` and ``gradients`` return is the caller's: no later call
    (another forward, gradients, step, load) changes it."""
    check = "returns_belong_to_caller"
    judge = case.judge(check)
    impl = judge.make()
    batch = judge.batch(impl, judge.rng())
    x, y, xn, yn = batch.x, batch.y, batch.x_dev, batch.y_dev
    returned: dict[str, np.ndarray] = {}
    for name, value in judge.params(impl).items():
        returned[f"params()[{name!r}]"] = value
    returned["forward(x)"] = judge.call("forward(x)", impl.forward, xn)
    result = judge.call("gradients(x, y)", impl.gradients, xn, yn)
    grads = result[1] if isinstance(result, tuple) and len(result) == 2 else {}
    for name, value in (grads if isinstance(grads, dict) else {}).items():
        returned[f"gradients(x, y)[1][{name!r}]"] = value
    # Only arrays can be kept; what else came back is return_types' verdict.
    kept = {what: np.array(v) for what, v in returned.items() if isinstance(v, np.ndarray)}
    x2, y2 = x[::-1].copy(), y[::-1].copy()  # other data, so a reused buffer shows
    x2n = judge.call("to_device(x2)", impl.to_device, x2)
    y2n = judge.call("to_device(y2)", impl.to_device, y2)
    later = (
        ("forward(x2)", lambda: impl.forward(x2n)),
        ("gradients(x2, y2)", lambda: impl.gradients(x2n, y2n)),
        ("step(x2, y2)", lambda: impl.step(x2n, y2n)),
        ("load(params)", lambda: impl.load(judge.params(impl))),
        ("forward(x2)", lambda: impl.forward(x2n)),
    )
    for call, make in later:
        judge.call(call, make)
        for what, was in kept.items():
            if not np.array_equal(returned[what], was, equal_nan=True):
                judge.fail(
                    f"the array {what} returned changed during a later {call}: it is a "
                    "buffer the net writes again, not the caller's"
                )


def check_load_round_trips(case: Case) -> None:
    """``load`` casts float arrays to the working dtype; ``params()`` then returns them exactly,
    and ``forward`` computes with them."""
    check = "load_round_trips"
    judge = case.judge(check)
    impl = judge.make()
    names = set(judge.params(impl))
    rng = judge.rng()
    source = draw_params(names, case.dims, rng)  # float64: load must cast
    judge.call("load(params)", impl.load, source)
    _params_are_what_was_loaded(judge, impl, source)
    x = representable(rng.standard_normal((case.dims.N, case.dims.D_in)), case.dtype)
    _forward_computes_with(judge, impl, source, x)


def _params_are_what_was_loaded(
    judge: Judge, impl: TwoLayerImplementation, source: dict[str, np.ndarray]
) -> None:
    """``params()`` after ``load(source)`` is ``source`` cast to the working dtype, exactly."""
    dtype, shapes = judge.case.dtype, judge.case.dims.param_shapes()
    got = judge.params(impl)
    for name, value in source.items():
        array = judge.array(f"params()[{name!r}] after load", got.get(name), shapes[name])
        expected = value.astype(dtype)
        if not np.array_equal(array, expected):
            judge.fail(
                f"params()[{name!r}] after load differs from what was loaded "
                f"(max |diff| {float(np.max(np.abs(array - expected))):.3g})"
            )


def _forward_computes_with(
    judge: Judge, impl: TwoLayerImplementation, source: dict[str, np.ndarray], x: np.ndarray
) -> None:
    """``forward(x)`` after ``load(source)`` is the reference's at ``source`` cast to the working
    dtype, at the declared depth nearest."""
    case = judge.case
    xn = judge.call("to_device(x)", impl.to_device, x)
    y_pred = judge.call("forward(x)", impl.forward, xn)
    y_pred = judge.array("forward(x)", y_pred, (case.dims.N, case.dims.D_out))
    loaded = params_as_f64({n: v.astype(case.dtype) for n, v in source.items()})
    by_depth = {d: forward(loaded, x, d).y_pred for d in tuple(case.cls.depths)}
    depth, _ = closest_depth(y_pred, by_depth)
    judge.arrays_close(
        "forward() after load (does load reach the network?)",
        y_pred,
        by_depth[depth],
        rtol(case.dtype, case.dims, depth),
    )


def check_load_rejects_bad_params(case: Case) -> None:
    """``load`` raises ValueError for an unknown name, a missing name and a mis-shaped array."""
    check = "load_rejects_bad_params"
    judge = case.judge(check)
    impl = judge.make()
    good = judge.params(impl)
    first = sorted(good)[0]
    wrong_shape = np.zeros(tuple(s + 1 for s in good[first].shape), dtype=case.dtype)
    bad_inputs = {
        "an unknown name 'w3'": {**good, "w3": np.zeros((2, 2), dtype=case.dtype)},
        f"a missing name {first!r}": {k: v for k, v in good.items() if k != first},
        f"{first!r} of shape {wrong_shape.shape}": {**good, first: wrong_shape},
    }
    for label, params in bad_inputs.items():
        error = judge.raised(impl.load, params)
        if isinstance(error, ValueError):
            continue
        if error is not None:
            judge.fail(f"load() with {label} raised {type(error).__name__}, expected ValueError")
        judge.fail(f"load() accepted {label}; expected ValueError")


def check_init_rejects_undeclared(case: Case) -> None:
    """``__init__`` raises ValueError for a dtype and for a device the class does not declare."""
    check = "init_rejects_undeclared"
    judge = case.judge(check)
    undeclared_device = next(
        (d for d in KNOWN_DEVICES if d not in case.cls.devices),
        "tpu",
    )
    attempts = {
        "dtype='float16'": dict(device=case.device, dtype="float16"),
        f"device={undeclared_device!r}": dict(device=undeclared_device, dtype=case.dtype),
    }
    for label, kwargs in attempts.items():
        error = judge.raised(case.cls, case.dims, seed=case.seed, **kwargs)
        if isinstance(error, ValueError):
            continue
        if error is not None:
            judge.fail(f"__init__({label}) raised {type(error).__name__}, expected ValueError")
        judge.fail(f"__init__({label}) succeeded; expected ValueError for an undeclared value")


def check_return_types(case: Case) -> None:
    """``step()`` and ``gradients()`` give the loss as a Python float; ``forward()``,
    ``params()`` and ``gradients()`` give numpy arrays: the contract's types, whatever the
    framework computes with (a 0-d tensor keeps its graph alive; a numpy float32 rounds
    whatever it is added to)."""
    check = "return_types"
    judge = case.judge(check)
    impl = judge.make()
    batch = judge.batch(impl, judge.rng())
    xn, yn = batch.x_dev, batch.y_dev
    _arrays(judge, "params()", judge.call("params()", impl.params))
    _array(judge, "forward(x)", judge.call("forward(x)", impl.forward, xn))
    returned = judge.call("gradients(x, y)", impl.gradients, xn, yn)
    if not isinstance(returned, tuple) or len(returned) != 2:
        judge.fail(
            f"gradients(x, y) returned {_type(returned)} {returned!r:.60}, expected a tuple "
            "(loss, {name: array})"
        )
    loss, grads = returned
    _python_float(judge, "gradients(x, y)'s loss", loss)
    _arrays(judge, "gradients(x, y)'s gradients", grads)
    _python_float(judge, "step(x, y)", judge.call("step(x, y)", impl.step, xn, yn))


def _type(value: object) -> str:
    """``torch.Tensor``, ``numpy.float32``, ``float``: a type as a user writes it."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _python_float(judge: Judge, what: str, value: object) -> None:
    # numpy.float64 is a subclass of float and passes; numpy.float32, ints and 0-d arrays or
    # tensors do not.
    if not isinstance(value, float):
        judge.fail(
            f"{what} returned {_type(value)} {value!r:.60}, expected a Python float (losses "
            "are Python floats: float(loss) or loss.item())"
        )


def _array(judge: Judge, what: str, value: object) -> None:
    if not isinstance(value, np.ndarray):
        judge.fail(f"{what} returned {_type(value)}, expected a numpy.ndarray")


def _arrays(judge: Judge, what: str, value: object) -> None:
    if not isinstance(value, dict):
        judge.fail(f"{what} returned {_type(value)}, expected a dict of numpy arrays")
    for name, array in value.items():
        if not isinstance(array, np.ndarray):
            judge.fail(f"{what}[{name!r}] is {_type(array)}, expected a numpy.ndarray")


def test_implementation_loads(twolayer_loaded: Loaded) -> None:
    """The implementation imports and its class declarations are valid."""
    if twolayer_loaded.error is not None:
        pytest.fail(twolayer_loaded.error, pytrace=False)


def test_params_canonical(twolayer_case: Case) -> None:
    check_params_canonical(twolayer_case)


def test_params_are_copies(twolayer_case: Case) -> None:
    check_params_are_copies(twolayer_case)


def test_returns_belong_to_caller(twolayer_case: Case) -> None:
    check_returns_belong_to_caller(twolayer_case)


def test_load_round_trips(twolayer_case: Case) -> None:
    check_load_round_trips(twolayer_case)


def test_load_rejects_bad_params(twolayer_case: Case) -> None:
    check_load_rejects_bad_params(twolayer_case)


def test_init_rejects_undeclared(twolayer_case: Case) -> None:
    check_init_rejects_undeclared(twolayer_case)


def test_return_types(twolayer_case: Case) -> None:
    check_return_types(twolayer_case)
