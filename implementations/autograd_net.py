"""The tutorial's "PyTorch: Tensors and autograd": the backward pass by ``loss.backward()``."""

from __future__ import annotations

import numpy as np
import torch

import pytest_twolayer as tl
from pytest_twolayer.spec.validation import checked_params, param_shapes

from ._torch_common import TorchAdapter, to_numpy


class AutogradNet(TorchAdapter):
    """Section "PyTorch: Tensors and autograd": ``w1``, ``w2`` with ``requires_grad=True``.

    The adapter keeps the weights on the requested device, draws them from a generator
    seeded by ``seed``, converts at its boundary, and clears ``.grad`` after ``gradients``
    so that nothing accumulates into the next step.
    """

    devices = ("cpu", "cuda")
    dtypes = ("float32", "float64")
    optimizer = tl.SGD(lr=1e-6)
    depths = (0,)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        self._setup(dims, device, dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out
        g = torch.Generator(device=self.device).manual_seed(seed)
        # Random weight tensors; requires_grad=True asks autograd for their gradients
        self.w1 = torch.randn(
            D_in, H, device=self.device, dtype=self.dtype, generator=g, requires_grad=True
        )
        self.w2 = torch.randn(
            H, D_out, device=self.device, dtype=self.dtype, generator=g, requires_grad=True
        )

    def params(self) -> dict[str, np.ndarray]:
        return {"w1": to_numpy(self.w1), "w2": to_numpy(self.w2)}

    def load(self, params: dict[str, np.ndarray]) -> None:
        p = checked_params(params, param_shapes(self.dims, ("w1", "w2")), self.dtype_name)
        self.w1 = self.to_device(p["w1"]).requires_grad_()
        self.w2 = self.to_device(p["w2"]).requires_grad_()

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w1, w2 = self.w1, self.w2
        # Forward pass: autograd records the graph of these tensor operations
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        # Compute loss
        loss = (y_pred - y).pow(2).sum()
        return loss

    def forward(self, x: torch.Tensor) -> np.ndarray:
        w1, w2 = self.w1, self.w2
        # Forward pass only: no graph is needed
        with torch.no_grad():
            y_pred = x.mm(w1).clamp(min=0).mm(w2)
        return to_numpy(y_pred)

    def gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, np.ndarray]]:
        w1, w2 = self.w1, self.w2
        loss = self._loss(x, y)
        # Backward pass: fills w1.grad and w2.grad
        loss.backward()
        grads = {"w1": to_numpy(w1.grad), "w2": to_numpy(w2.grad)}
        # Leave nothing behind to accumulate into the next backward pass
        w1.grad = None
        w2.grad = None
        return loss.item(), grads

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        w1, w2 = self.w1, self.w2
        loss = self._loss(x, y)

        # Use autograd to compute the backward pass
        loss.backward()

        # Update weights using gradient descent, outside the autograd graph
        learning_rate = self.optimizer.lr
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad

            # Manually zero the gradients after updating weights
            w1.grad.zero_()
            w2.grad.zero_()
        return loss.item()
