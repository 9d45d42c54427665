"""The judge of one check on one case: the check's verdict label bound to the case.

A check asks its case for a judge (``judge = case.judge("update_follows_rule")``) and does the rest
through it: it makes instances and calls into the implementation (an exception fails the
label, naming the call), reads the canonical parameters, compares what came back with the
reference within the dtype's tolerance, draws from the suite's own random stream for the
label, and fails. Every call into the implementation goes through :meth:`Judge.make`,
:meth:`Judge.call` and :meth:`Judge.raised`, so that where the implementation runs is the
judge's business, not each check's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import numpy as np

from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.spec.contract import TwoLayerImplementation, expected_param_names
from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.spec.ended import ImplementationEnded

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """Inputs and targets as the suite drew them (``x``, ``y``: numpy, the caller's) and as
    the implementation holds them on its device (``x_dev``, ``y_dev``: whatever
    ``to_device`` returned)."""

    x: np.ndarray
    y: np.ndarray
    x_dev: Any
    y_dev: Any


@dataclass(frozen=True)
class Judge:
    """``case`` judged under the verdict label ``label`` (its check id: ``"training"``)."""

    case: Case
    label: str

    def fail(self, message: str) -> NoReturn:
        """Raise the label's verdict, naming the case it was reached on:
        ``[label] impl=... device=... dtype=... seed=...: message`` (the report shows the
        label's fix hint under it: :mod:`pytest_twolayer.checking.hints`)."""
        raise ConformanceFailure(f"[{self.label}] {self.case.where()}: {message}")

    def rng(self, *salt: int) -> np.random.Generator:
        """The suite's own random stream for the label (:meth:`Case.rng` of the label)."""
        return self.case.rng(self.label, *salt)

    def make(self, *, seed: int | None = None, dims: Dims | None = None) -> TwoLayerImplementation:
        """A new instance on the case's device and dtype, from the case's seed and dims unless
        given; a constructor that raises fails the label (``__init__ raised ...``)."""
        case = self.case
        return self.call(
            "__init__",
            lambda: case.cls(
                dims or case.dims,
                device=case.device,
                dtype=case.dtype,
                seed=case.seed if seed is None else seed,
            ),
        )

    def call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, a call into the implementation that ``what`` names; an exception
        fails the label with ``what raised Type: <first line of its message>``."""
        try:
            return fn(*args)
        except ConformanceFailure:
            raise
        except (Exception, SystemExit) as exc:  # an implementation's sys.exit() is a verdict too
            self.fail(f"{what} raised {type(exc).__name__}: {_first_line(exc)}")

    def batch(self, impl: TwoLayerImplementation, rng: np.random.Generator) -> Batch:
        """A standard-normal batch at the case's dims drawn from ``rng``, ``x`` then ``y``, and
        the same batch moved to ``impl``'s device (each ``to_device`` call judged)."""
        d = self.case.dims
        x, y = rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))
        x_dev = self.call("to_device(x)", impl.to_device, x)
        y_dev = self.call("to_device(y)", impl.to_device, y)
        return Batch(x, y, x_dev, y_dev)

    def raised(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> Exception | None:
        """The exception ``fn(*args, **kwargs)`` raised, None when it returned: for a check
        that the implementation rejects what it must (the verdict is the check's to say).

        The end of the implementation's process during the call is no rejection: it fails
        the label, as it fails a check in one process (:mod:`pytest_twolayer.spec.ended`)."""
        try:
            fn(*args, **kwargs)
        except ImplementationEnded as exc:
            self.fail(f"{_called(fn)} raised {type(exc).__name__}: {_first_line(exc)}")
        except Exception as exc:
            return exc
        return None

    def params(
        self, impl: TwoLayerImplementation, dims: Dims | None = None
    ) -> dict[str, np.ndarray]:
        """``impl.params()`` once it is shown to be a dict of canonical names, and of arrays
        of the shapes at ``dims`` (the case's unless given) in the case's dtype.

        Every check that feeds parameters to the reference reads them here, so a net with a
        missing or mis-laid parameter fails with that verdict rather than a reference crash.
        """
        __tracebackhide__ = True
        params = self.call("params()", impl.params)
        if not isinstance(params, dict):
            self.fail(f"params() returned {type(params).__name__}, expected a dict")
        why = expected_param_names(tuple(self.case.cls.depths), set(params))
        if why:
            self.fail(f"params() names: {why}")
        shapes = (dims or self.case.dims).param_shapes()
        return {
            name: self.array(f"params()[{name!r}]", value, shapes[name])
            for name, value in params.items()
        }

    def array(self, what: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
        """``value`` if it is a finite numpy array of ``shape`` in the case's dtype; otherwise
        fail, naming ``what`` returned it."""
        __tracebackhide__ = True
        dtype = self.case.dtype
        if not isinstance(value, np.ndarray):
            self.fail(f"{what} returned {type(value).__name__}, expected a numpy.ndarray")
        if value.shape != shape:
            self.fail(f"{what} has shape {value.shape}, expected {shape}")
        if value.dtype != np.dtype(dtype):
            self.fail(f"{what} has dtype {value.dtype}, expected {dtype}")
        if not np.all(np.isfinite(value)):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            self.fail(f"{what} has {bad} NaN or inf of {value.size} values")
        return value

    def loss(self, what: str, value: object) -> float:
        """``value`` as a finite Python float, if it is a real scalar; otherwise fail."""
        __tracebackhide__ = True
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            self.fail(f"{what} returned {type(value).__name__} {value!r:.60}, expected a float")
        loss = float(value)
        if not math.isfinite(loss):
            self.fail(f"{what} returned {loss}, expected a finite loss")
        return loss

    def loss_close(self, what: str, got: float, expected: float, rtol: float) -> None:
        """``|got - expected| <= rtol * |expected|``; otherwise fail with the relative error."""
        __tracebackhide__ = True
        error = abs(got - expected)
        if not error <= rtol * abs(expected):
            self.fail(
                f"{what}: got {got!r}, expected {expected!r} "
                f"(relative error {error / max(abs(expected), 1e-300):.3g} > {rtol:.3g})"
            )

    def arrays_close(self, what: str, got: np.ndarray, expected: np.ndarray, rtol: float) -> None:
        """Normwise relative error at most ``rtol``; otherwise fail naming the worst element."""
        __tracebackhide__ = True
        # Imported when first needed, not with this module: compare's BLAS limit imports
        # threadpoolctl, which sets KMP_DUPLICATE_LIB_OK, and this module may be imported first
        # inside a watched call (Case.make in an own test's impl fixture imports it).
        from pytest_twolayer.checking.compare import describe_mismatch, normwise_error

        error = normwise_error(got, expected)
        if not error <= rtol:
            self.fail(
                f"{what}: normwise relative error {error:.3g} > {rtol:.3g}; "
                f"{describe_mismatch(got, expected)}"
            )


def _called(fn: Callable[..., object]) -> str:
    """``load()``, ``Net()``: the call a message names; a function without a name of its own
    (a lambda that makes the calls before it) is "a contract call"."""
    name = getattr(fn, "__name__", "")
    return f"{name}()" if name.isidentifier() else "a contract call"


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, as a verdict quotes it."""
    return (str(exc).strip().splitlines() or ["(no message)"])[0]
