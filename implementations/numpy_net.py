"""The tutorial's "Warm-up: NumPy": a two-layer net with a hand-written backward pass."""

from __future__ import annotations

import numpy as np

import pytest_twolayer as tl
from pytest_twolayer.spec.validation import checked_params, param_shapes, require_declared


class NumpyNet:
    """Section "Warm-up: NumPy": ``w1``, ``w2`` as numpy arrays, gradients derived by hand.

    The adapter only keeps the weights between calls and splits the tutorial's loop body
    into ``gradients`` (forward, loss, backward) and ``step`` (the same, then the update).
    ``np.random.randn`` gives float64, so float64 is the dtype it trains in.
    """

    devices = ("cpu",)
    dtypes = ("float64", "float32")
    optimizer = tl.SGD(lr=1e-6)
    depths = (0,)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        require_declared(type(self), device, dtype)
        self.dims = dims
        self.dtype = np.dtype(dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out
        rng = np.random.default_rng(seed)
        # Randomly initialize weights
        self.w1 = rng.standard_normal((D_in, H), dtype=self.dtype)
        self.w2 = rng.standard_normal((H, D_out), dtype=self.dtype)

    def params(self) -> dict[str, np.ndarray]:
        return {"w1": self.w1.copy(), "w2": self.w2.copy()}

    def load(self, params: dict[str, np.ndarray]) -> None:
        p = checked_params(params, param_shapes(self.dims, ("w1", "w2")), self.dtype.name)
        self.w1, self.w2 = p["w1"], p["w2"]

    def to_device(self, a: np.ndarray) -> np.ndarray:
        return np.array(a, dtype=self.dtype, copy=True)

    def forward(self, x: np.ndarray) -> np.ndarray:
        w1, w2 = self.w1, self.w2
        # Forward pass: compute predicted y
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred: np.ndarray = h_relu.dot(w2)
        return y_pred

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        w1, w2 = self.w1, self.w2

        # Forward pass: compute predicted y
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2)

        # Compute loss
        loss = np.square(y_pred - y).sum()

        # Backprop to compute gradients of w1 and w2 with respect to loss
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h_relu = grad_y_pred.dot(w2.T)
        grad_h = grad_h_relu.copy()
        grad_h[h < 0] = 0
        grad_w1 = x.T.dot(grad_h)

        return float(loss), {"w1": grad_w1, "w2": grad_w2}

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        loss, grads = self.gradients(x, y)
        grad_w1, grad_w2 = grads["w1"], grads["w2"]

        # Update weights
        learning_rate = self.optimizer.lr
        self.w1 -= learning_rate * grad_w1
        self.w2 -= learning_rate * grad_w2
        return loss
