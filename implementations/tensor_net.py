"""The tutorial's "PyTorch: Tensors": the numpy net on torch tensors, backward still by hand."""

from __future__ import annotations

import numpy as np
import torch

import pytest_twolayer as tl
from pytest_twolayer.spec.validation import checked_params, param_shapes

from ._torch_common import TorchAdapter, to_numpy


class TensorNet(TorchAdapter):
    """Section "PyTorch: Tensors": ``w1``, ``w2`` as plain tensors, no autograd.

    The adapter keeps the weights on the requested device, draws them from a generator
    seeded by ``seed``, and converts between numpy and tensors at its boundary.
    """

    devices = ("cpu", "cuda")
    dtypes = ("float32", "float64")
    optimizer = tl.SGD(lr=1e-6)
    depths = (0,)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        self._setup(dims, device, dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out
        g = torch.Generator(device=self.device).manual_seed(seed)
        # Randomly initialize weights
        self.w1 = torch.randn(D_in, H, device=self.device, dtype=self.dtype, generator=g)
        self.w2 = torch.randn(H, D_out, device=self.device, dtype=self.dtype, generator=g)

    def params(self) -> dict[str, np.ndarray]:
        return {"w1": to_numpy(self.w1), "w2": to_numpy(self.w2)}

    def load(self, params: dict[str, np.ndarray]) -> None:
        p = checked_params(params, param_shapes(self.dims, ("w1", "w2")), self.dtype_name)
        self.w1 = self.to_device(p["w1"])
        self.w2 = self.to_device(p["w2"])

    def forward(self, x: torch.Tensor) -> np.ndarray:
        w1, w2 = self.w1, self.w2
        # Forward pass: compute predicted y
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)
        return to_numpy(y_pred)

    def _backprop(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w1, w2 = self.w1, self.w2

        # Forward pass: compute predicted y
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)

        # Compute loss; it is a 0-dimensional tensor
        loss = (y_pred - y).pow(2).sum()

        # Backprop to compute gradients of w1 and w2 with respect to loss
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(w2.t())
        grad_h = grad_h_relu.clone()
        grad_h[h < 0] = 0
        grad_w1 = x.t().mm(grad_h)

        return loss, grad_w1, grad_w2

    def gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, np.ndarray]]:
        loss, grad_w1, grad_w2 = self._backprop(x, y)
        return loss.item(), {"w1": to_numpy(grad_w1), "w2": to_numpy(grad_w2)}

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        loss, grad_w1, grad_w2 = self._backprop(x, y)

        # Update weights using gradient descent
        learning_rate = self.optimizer.lr
        self.w1 -= learning_rate * grad_w1
        self.w2 -= learning_rate * grad_w2
        return loss.item()
