"""The tutorial's "PyTorch: Tensors": the numpy net on torch tensors, backward still by hand."""

from __future__ import annotations

import torch

import pytest_twolayer as tl

from ._torch_common import HandWrittenAdapter


class TensorNet(HandWrittenAdapter):
    """Section "PyTorch: Tensors": ``w1``, ``w2`` as plain tensors, no autograd.

    The tutorial's loop body is split into ``_backward`` (forward pass, loss, backprop by hand)
    and ``step`` (the same, then the update); :class:`HandWrittenAdapter` does the rest.
    """

    optimizer = tl.SGD(lr=1e-6)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        self._setup(dims, device, dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out
        g = torch.Generator(device=self.device).manual_seed(seed)
        # Randomly initialize weights
        self.w1 = torch.randn(D_in, H, device=self.device, dtype=self.dtype, generator=g)
        self.w2 = torch.randn(H, D_out, device=self.device, dtype=self.dtype, generator=g)

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        # Forward pass: compute predicted y
        h = x.mm(self.w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(self.w2)
        return y_pred

    def _backward(
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

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        loss, grad_w1, grad_w2 = self._backward(x, y)

        # Update weights using gradient descent
        learning_rate = self.optimizer.lr
        self.w1 -= learning_rate * grad_w1
        self.w2 -= learning_rate * grad_w2
        return loss.item()
