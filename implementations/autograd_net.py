"""The tutorial's "PyTorch: Tensors and autograd": the backward pass by ``loss.backward()``."""

from __future__ import annotations

import torch

import pytest_twolayer as tl

from ._torch_common import HandWrittenAdapter


class AutogradNet(HandWrittenAdapter):
    """Section "PyTorch: Tensors and autograd": ``w1``, ``w2`` with ``requires_grad=True``.

    The tutorial's loop body is ``_loss`` (forward pass and loss, recorded by autograd), then
    ``loss.backward()`` and the update in ``step``; ``_backward`` gives ``gradients`` the
    ``.grad`` that ``loss.backward()`` fills, and :class:`HandWrittenAdapter` clears it again.
    """

    optimizer = tl.SGD(lr=1e-6)

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

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        w1, w2 = self.w1, self.w2
        # Forward pass: autograd records the graph of these tensor operations
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        return y_pred

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y_pred = self._predict(x)
        # Compute loss
        loss = (y_pred - y).pow(2).sum()
        return loss

    def _backward(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loss = self._loss(x, y)
        # Backward pass: fills w1.grad and w2.grad
        loss.backward()
        return loss, self.w1.grad, self.w2.grad

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
