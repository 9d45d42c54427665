"""Broken variants of the numpy net (the tutorial's "Warm-up: NumPy"), one bug each.

Most exhibits derive from :class:`NumpyBase`, ``NumpyNet`` declared in its training dtype
(float64) only: that halves the zoo's run time and hides none of these bugs. An exhibit that
needs float32 says so. ``failing_checks`` lists every check that fails, not only the one
that guards the bug, so that a check that starts failing for another reason is noticed.
"""

from __future__ import annotations

import gc
import os
import random
import tempfile
from typing import ClassVar

import numpy as np

import pytest_twolayer as tl
from pytest_twolayer.implementations.numpy_net import NumpyNet
from pytest_twolayer.spec.validation import checked_params, param_shapes, require_declared

F = tuple[str, ...]

# The one check that fails for an exhibit that changes process-global state (once per call
# that changes it); every other check has the state restored after it and passes on its own.
GLOBAL_STATE: F = ("global_state_untouched",)

# Checks that call step(): an exhibit whose step() leaves its own next step unable to run (grad
# mode off) fails those that step twice.
STEPPING: F = (
    "return_types",
    "update_follows_rule",
    "training",
    "same_seed_reproduces",
    "instances_share_no_state",
    "inputs_not_mutated",
)


class NumpyControl(NumpyNet):
    """Control: ``NumpyNet`` unchanged, in both its dtypes. Must pass every check."""

    failing_checks: F = ()


class NumpyBase(NumpyNet):
    """``NumpyNet`` in its training dtype only: the correct base of the exhibits below."""

    dtypes = ("float64",)
    failing_checks: F = ()


def _backprop(
    net: NumpyNet, x: np.ndarray, y: np.ndarray, *, relu_mask: bool = True, factor: float = 2.0
) -> tuple[float, dict[str, np.ndarray]]:
    """``NumpyNet.gradients`` with two knobs for the exhibits that break it."""
    h = x.dot(net.w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(net.w2)
    loss = np.square(y_pred - y).sum()
    grad_y_pred = factor * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(net.w2.T)
    if relu_mask:
        grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return float(loss), {"w1": grad_w1, "w2": grad_w2}


# --- gradients -----------------------------------------------------------------------------


class NoReluMask(NumpyBase):
    """Bug: the backward pass forgets the ReLU mask (``grad_h[h < 0] = 0``)."""

    failing_checks: F = (
        "gradients_match_reference",
        "update_follows_rule",
        "gradients_any_dims",
    )

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        return _backprop(self, x, y, relu_mask=False)


class HalfGradient(NumpyBase):
    """Bug: ``grad_y_pred = y_pred - y``, the derivative of the square without its 2."""

    failing_checks: F = (
        "gradients_match_reference",
        "update_follows_rule",
        "gradients_any_dims",
    )

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        return _backprop(self, x, y, factor=1.0)


class MeanLoss(NumpyBase):
    """Bug: the loss (and its gradient) is the mean of the squares, not the tutorial's sum."""

    failing_checks: F = (
        "gradients_match_reference",
        "update_follows_rule",
        "training",
        "gradients_any_dims",
    )

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = NumpyNet.gradients(self, x, y)
        count = y.size
        return loss / count, {name: g / count for name, g in grads.items()}


class GradientsInFloat32(NumpyBase):
    """Bug: a float64 net whose backward pass rounds through float32 (a stray ``astype``)."""

    failing_checks: F = (
        "gradients_match_reference",
        "update_follows_rule",
        "gradients_any_dims",
    )

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = NumpyNet.gradients(self, x, y)
        return loss, {name: g.astype(np.float32).astype(self.dtype) for name, g in grads.items()}


class GradientsUpdate(NumpyBase):
    """Bug: ``gradients()`` also applies the update (it calls ``step``)."""

    failing_checks: F = ("gradients_match_reference", "update_follows_rule")

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = NumpyNet.gradients(self, x, y)
        self.w1 -= self.optimizer.lr * grads["w1"]
        self.w2 -= self.optimizer.lr * grads["w2"]
        return loss, grads

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        # The step itself is correct: it updates once, from gradients it computes itself.
        loss, grads = NumpyNet.gradients(self, x, y)
        self.w1 -= self.optimizer.lr * grads["w1"]
        self.w2 -= self.optimizer.lr * grads["w2"]
        return loss


# --- update --------------------------------------------------------------------------------


class _LrFactor(NumpyBase):
    """Steps with ``lr_factor`` times the declared learning rate."""

    lr_factor: ClassVar[float] = 1.0

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        loss, grads = self.gradients(x, y)
        learning_rate = self.optimizer.lr * self.lr_factor
        self.w1 -= learning_rate * grads["w1"]
        self.w2 -= learning_rate * grads["w2"]
        return loss


class LrDoubled(_LrFactor):
    """Bug: declares ``lr=1e-6`` but steps with 2e-6."""

    lr_factor = 2.0
    failing_checks: F = ("update_follows_rule",)


class LrOffByHalfPercent(_LrFactor):
    """Bug: declares ``lr=1e-6`` but steps with 1.005e-6 (0.5% off)."""

    lr_factor = 1.005
    failing_checks: F = ("update_follows_rule",)


class SignFlippedUpdate(_LrFactor):
    """Bug: ``w += lr * grad``: gradient ascent, the loss diverges."""

    lr_factor = -1.0
    failing_checks: F = ("update_follows_rule", "training")


class DeclaresMomentum(NumpyBase):
    """Bug: declares ``SGD(lr=1e-6, momentum=0.9)`` but steps plain gradient descent."""

    optimizer = tl.SGD(lr=1e-6, momentum=0.9)
    failing_checks: F = ("update_follows_rule",)


class PostUpdateLoss(NumpyBase):
    """Bug: ``step()`` returns the loss after the update instead of the one before it."""

    failing_checks: F = ("update_follows_rule",)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        NumpyNet.step(self, x, y)
        return float(np.square(self.forward(x) - y).sum())


# --- shapes --------------------------------------------------------------------------------

_FORWARD_CHECKS: F = (
    "load_round_trips",
    "forward_shapes",
    "forward_any_dims",
    "depth_draws",
)


class TransposedOutput(NumpyBase):
    """Bug: ``forward()`` returns ``(D_out, N)``, the predictions transposed."""

    failing_checks: F = _FORWARD_CHECKS

    def forward(self, x: np.ndarray) -> np.ndarray:
        return NumpyNet.forward(self, x).T


class ForwardReturnsList(NumpyBase):
    """Bug: ``forward()`` returns a nested list (``.tolist()``), not a numpy array."""

    failing_checks: F = (*_FORWARD_CHECKS, "return_types")

    def forward(self, x: np.ndarray) -> list[list[float]]:  # type: ignore[override]
        return NumpyNet.forward(self, x).tolist()


class ForwardUpcasts(NumpyNet):
    """Bug: a float32 net whose ``forward()`` returns float64: ``np.maximum(h, np.zeros(1))``
    promotes (the zeros are float64)."""

    dtypes = ("float32",)
    failing_checks: F = _FORWARD_CHECKS

    def forward(self, x: np.ndarray) -> np.ndarray:
        h_relu = np.maximum(x.dot(self.w1), np.zeros(1))
        return h_relu.dot(self.w2)


# --- contract ------------------------------------------------------------------------------


class LiveParams(NumpyBase):
    """Bug: ``params()`` returns the live weight arrays, not copies."""

    # the next step updates the arrays the caller holds, too
    failing_checks: F = ("params_are_copies", "returns_belong_to_caller")

    def params(self) -> dict[str, np.ndarray]:
        return {"w1": self.w1, "w2": self.w2}


class ForwardReusesItsBuffer(NumpyBase):
    """Bug: ``forward()`` writes its output into one preallocated buffer (``np.matmul(...,
    out=self.out)``, "no allocation per call") and returns it, so the next call overwrites
    what the caller holds."""

    failing_checks: F = ("returns_belong_to_caller",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.__dict__.get("out")
        if out is None or out.shape != (x.shape[0], self.w2.shape[1]):
            out = self.out = np.empty((x.shape[0], self.w2.shape[1]), dtype=self.dtype)
        return np.matmul(np.maximum(x @ self.w1, 0), self.w2, out=out)


class ParamsMissingW2(NumpyBase):
    """Bug: ``params()`` forgets ``w2``."""

    failing_checks: F = (
        # every check that reads params() says what is wrong with them
        "params_canonical",
        "returns_belong_to_caller",
        "load_round_trips",
        "forward_shapes",
        "gradients_match_reference",
        "depth_draws",
        "update_follows_rule",
        "inputs_not_mutated",
        "params_are_copies",
        "load_rejects_bad_params",
        "same_seed_reproduces",
        "different_seeds_differ",
        "instances_share_no_state",
        "forward_any_dims",
        "gradients_any_dims",
    )

    def params(self) -> dict[str, np.ndarray]:
        return {"w1": self.w1.copy()}


class TransposedW1Params(NumpyBase):
    """Bug: ``params()`` reports ``w1`` as ``(H, D_in)``, torch's ``Linear`` layout."""

    failing_checks: F = ParamsMissingW2.failing_checks

    def params(self) -> dict[str, np.ndarray]:
        return {"w1": self.w1.T.copy(), "w2": self.w2.copy()}


class LoadWritesCopies(NumpyBase):
    """Bug: ``load()`` writes into the copies ``params()`` returns: the network never sees it."""

    failing_checks: F = (
        "load_round_trips",
        "gradients_match_reference",
        "depth_draws",
        "update_follows_rule",
        "gradients_any_dims",
    )

    def load(self, params: dict[str, np.ndarray]) -> None:
        checked = checked_params(params, param_shapes(self.dims, ("w1", "w2")), self.dtype.name)
        current = self.params()
        for name, value in checked.items():
            current[name][...] = value


class LoadIgnoresUnknown(NumpyBase):
    """Bug: ``load()`` silently drops names it does not know instead of raising ValueError."""

    failing_checks: F = ("load_rejects_bad_params",)

    def load(self, params: dict[str, np.ndarray]) -> None:
        NumpyNet.load(self, {k: v for k, v in params.items() if k in ("w1", "w2")})


class LoadKeepsFloat64(NumpyNet):
    """Bug: a float32 net whose ``load()`` keeps the caller's float64 arrays (no cast)."""

    dtypes = ("float32",)
    failing_checks: F = (
        "load_round_trips",
        "gradients_match_reference",
        "depth_draws",
        "update_follows_rule",
        "gradients_any_dims",
    )

    def load(self, params: dict[str, np.ndarray]) -> None:
        checked_params(params, param_shapes(self.dims, ("w1", "w2")), self.dtype.name)
        self.w1, self.w2 = np.array(params["w1"]), np.array(params["w2"])


class AcceptsUndeclaredDtype(NumpyBase):
    """Bug: ``__init__`` validates the device but accepts any dtype (float16 included)."""

    failing_checks: F = ("init_rejects_undeclared",)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        super().__init__(dims, device=device, dtype=self.dtypes[0], seed=seed)
        self.dtype = np.dtype(dtype)
        w1: np.ndarray = self.w1  # type: ignore[has-type]
        w2: np.ndarray = self.w2  # type: ignore[has-type]
        self.w1, self.w2 = w1.astype(self.dtype), w2.astype(self.dtype)


class MissingMethod(NumpyBase):
    """Bug: no ``to_device()`` (the attribute is None): the class breaks the contract."""

    to_device = None  # type: ignore[assignment]
    failing_checks: F = ("implementation_loads",)


class BareLearningRate(NumpyBase):
    """Bug: declares ``optimizer = 1e-6`` instead of ``tl.SGD(lr=1e-6)``."""

    optimizer = 1e-6  # type: ignore[assignment]
    failing_checks: F = ("implementation_loads",)


class DtypesString(NumpyBase):
    """Bug: declares ``dtypes = "float64"``, a string, where a tuple of names is required."""

    dtypes = "float64"  # type: ignore[assignment]
    failing_checks: F = ("implementation_loads",)


# --- hygiene -------------------------------------------------------------------------------


class FixedSeed(NumpyBase):
    """Bug: ignores ``seed`` (always draws its start from seed 0)."""

    failing_checks: F = ("different_seeds_differ",)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        super().__init__(dims, device=device, dtype=dtype, seed=0)


class SharedStartCache(NumpyBase):
    """Bug: caches the initial weights per (seed, dims, dtype) in a class-level dict without
    copying, so instances with one seed share arrays that ``step`` updates in place."""

    _cache: ClassVar[dict[tuple[int, tl.Dims, str], tuple[np.ndarray, np.ndarray]]] = {}
    failing_checks: F = ("same_seed_reproduces", "instances_share_no_state")

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        require_declared(type(self), device, dtype)
        key = (seed, dims, dtype)
        if key in self._cache:
            self.dims, self.dtype = dims, np.dtype(dtype)
            self.w1, self.w2 = self._cache[key]
            return
        super().__init__(dims, device=device, dtype=dtype, seed=seed)
        self._cache[key] = (self.w1, self.w2)


class InPlaceResidual(NumpyBase):
    """Bug: ``gradients()`` forms the residual in y's own buffer (``y -= y_pred``) and adds
    ``y_pred`` back afterwards, which leaves the native y off by rounding."""

    failing_checks: F = ("inputs_not_mutated",)

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        h = x.dot(self.w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(self.w2)
        y -= y_pred  # y now holds -(y_pred - y): no temporary allocated
        loss = np.square(y).sum()
        grad_y_pred = -2.0 * y
        y += y_pred  # "restored", up to rounding
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(self.w2.T)
        grad_h[h < 0] = 0
        grad_w1 = x.T.dot(grad_h)
        return float(loss), {"w1": grad_w1, "w2": grad_w2}


class InPlaceResidualOnView(InPlaceResidual):
    """Bug: :class:`InPlaceResidual`'s in-place residual behind a ``to_device`` that returns
    the caller's array (a view, which the contract allows): now the suite's own numpy y
    drifts, so the second of two same-seed instances also steps on other data."""

    failing_checks: F = ("inputs_not_mutated",)
    # the drifted y may or may not move a same-seed twin's losses beyond rounding
    incidental_failures: F = ("same_seed_reproduces",)

    def to_device(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=self.dtype)


class CrashesOnBatchOfOne(NumpyBase):
    """Bug: ``forward()`` kills the process on a batch of one (as a C extension that
    segfaults on a degenerate shape would). Only pytest-xdist keeps such a run alive."""

    crashes = True
    failing_checks: F = ("forward_shapes",)
    # hypothesis may or may not draw N=1 among its ten dims
    incidental_failures: F = ("forward_any_dims",)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 1:
            os.abort()
        result: np.ndarray = NumpyNet.forward(self, x)
        return result


class HangsNearConvergence(NumpyBase):
    """Bug: ``step()`` spins forever once the loss falls below 1e-3 (a convergence loop that
    never exits). The per-check time limit turns it into a verdict."""

    failing_checks: F = ("training",)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        loss = float(NumpyNet.step(self, x, y))
        while loss < 1e-3:  # waits for a condition nothing will change
            pass
        return loss


# --- process-global state: each exhibit computes correctly and leaves the process changed --


class ReseedsNumpyGlobalRng(NumpyBase):
    """Bug: draws its start as the tutorial does, ``np.random.seed(seed)`` then
    ``np.random.randn``: every instance reseeds and draws from numpy's global generator,
    which every other user of ``np.random`` shares."""

    changes: F = ("numpy's global RNG was",)  # what the global_state_untouched verdict names
    failing_checks: F = GLOBAL_STATE

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        super().__init__(dims, device=device, dtype=dtype, seed=seed)
        np.random.seed(seed)
        self.w1 = np.random.randn(dims.D_in, dims.H).astype(self.dtype)
        self.w2 = np.random.randn(dims.H, dims.D_out).astype(self.dtype)


class SilencesNumpyErrors(NumpyBase):
    """Bug: ``step()`` silences numpy's overflow warnings with ``np.seterr(all="ignore")``,
    for the whole process, and never puts them back."""

    changes: F = ("numpy error state",)  # what the global_state_untouched verdict names
    failing_checks: F = GLOBAL_STATE

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        np.seterr(all="ignore")
        return NumpyNet.step(self, x, y)


class ReseedsPythonRandom(NumpyBase):
    """Bug: seeds Python's global ``random`` in ``__init__`` ("seed everything"), so every
    other user of ``random`` gets the same stream again."""

    changes: F = (
        "Python's global random was reseeded",
    )  # what the global_state_untouched verdict names
    failing_checks: F = GLOBAL_STATE

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        random.seed(seed)
        super().__init__(dims, device=device, dtype=dtype, seed=seed)


class ChangesWorkingDirectory(NumpyBase):
    """Bug: ``__init__`` moves the process into a scratch folder for its checkpoints
    (``os.chdir``), so every relative path of everyone after it points elsewhere."""

    changes: F = ("working directory",)  # what the global_state_untouched verdict names
    failing_checks: F = GLOBAL_STATE

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        super().__init__(dims, device=device, dtype=dtype, seed=seed)
        os.chdir(tempfile.gettempdir())


class SetsEnvironmentVariable(NumpyBase):
    """Bug: ``__init__`` sets ``KMP_DUPLICATE_LIB_OK=TRUE`` in ``os.environ`` (a workaround
    copied from a forum), for every library loaded after it."""

    changes: F = (
        "environment variable KMP_DUPLICATE_LIB_OK",
    )  # what the global_state_untouched verdict names
    failing_checks: F = GLOBAL_STATE

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        super().__init__(dims, device=device, dtype=dtype, seed=seed)
        os.environ["KMP_DUPLICATE_LIB_OK"] = "TRUE"


class DisablesGarbageCollection(NumpyBase):
    """Bug: ``__init__`` turns Python's cyclic garbage collector off "for speed", for the
    whole process."""

    changes: F = (
        "Python garbage collection enabled",
    )  # what the global_state_untouched verdict names
    failing_checks: F = GLOBAL_STATE

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        super().__init__(dims, device=device, dtype=dtype, seed=seed)
        gc.disable()


# --- input layouts ---------------------------------------------------------------------------


class ReinterpretsBytes(NumpyBase):
    """Bug: ``to_device`` copies the bytes (``np.frombuffer(a.tobytes(order="A"))``) and
    reshapes them as C order: a Fortran-ordered x comes out scrambled."""

    failing_checks: F = ("forward_shapes", "inputs_not_mutated")

    def to_device(self, a: np.ndarray) -> np.ndarray:
        flat = np.frombuffer(a.tobytes(order="A"), dtype=a.dtype)
        return flat.reshape(a.shape).astype(self.dtype)


class ReadsTheBaseBuffer(NumpyBase):
    """Bug: ``to_device`` reads the memory behind the array (a view's ``base``, its bytes in
    memory order), which is the array only when it is C-contiguous and owns its memory."""

    failing_checks: F = ("forward_shapes", "inputs_not_mutated")

    def to_device(self, a: np.ndarray) -> np.ndarray:
        memory = a if a.base is None else a.base
        flat = np.frombuffer(memory.tobytes(order="A"), dtype=a.dtype)[: a.size]
        return flat.reshape(a.shape).astype(self.dtype)


# --- return types ----------------------------------------------------------------------------


class LossAsNumpyFloat32(NumpyNet):
    """Bug: a float32 net whose ``step()`` and ``gradients()`` return the loss as the
    ``numpy.float32`` that ``.sum()`` gives, not a Python float."""

    dtypes = ("float32",)
    failing_checks: F = ("return_types",)

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = NumpyNet.gradients(self, x, y)
        return np.float32(loss), grads  # type: ignore[return-value]


# --- memory ----------------------------------------------------------------------------------


class KeepsEveryPrediction(NumpyBase):
    """Bug: ``step()`` appends each step's predictions to a history on the instance, so
    memory grows by 5 KiB (64 x 10 float64) every step and never levels off."""

    benchmarked = True  # the benchmark concern measures memory
    failing_checks: F = ("benchmark_step",)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        super().__init__(dims, device=device, dtype=dtype, seed=seed)
        self.history: list[np.ndarray] = []

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        self.history.append(self.forward(x))
        return NumpyNet.step(self, x, y)
