"""The tutorial's "PyTorch: nn": ``nn.Sequential`` layers, ``MSELoss``, a hand-written update."""

from __future__ import annotations

import torch

import pytest_twolayer as tl

from ._torch_common import (
    LinearModuleAdapter,
    seeded,
)


class NnNet(LinearModuleAdapter):
    """Section "PyTorch: nn": ``model = nn.Sequential(Linear, ReLU, Linear)``.

    The adapter builds the model under the seeded generator and moves it to the requested
    device and dtype; it transposes ``nn.Linear``'s ``(out, in)`` weights to the canonical
    ``(in, out)`` at its boundary.
    """

    optimizer = tl.SGD(lr=1e-4)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        self._setup(dims, device, dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out

        # Define the model as a sequence of layers, then move it to the device
        with seeded(seed):
            model = torch.nn.Sequential(
                torch.nn.Linear(D_in, H),
                torch.nn.ReLU(),
                torch.nn.Linear(H, D_out),
            )
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.layers = {"1": self.model[0], "2": self.model[2]}

        # Sum of squares, as in the hand-written examples
        self.loss_fn = torch.nn.MSELoss(reduction="sum")

    def _backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model, loss_fn = self.model, self.loss_fn

        # Forward pass: compute predicted y by passing x to the model
        y_pred = model(x)

        # Compute loss
        loss = loss_fn(y_pred, y)

        # Zero the gradients before running the backward pass
        model.zero_grad()

        # Backward pass: gradient of the loss with respect to all learnable parameters
        loss.backward()
        return loss

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        loss = self._backward(x, y)

        # Update the weights using gradient descent
        learning_rate = self.optimizer.lr
        with torch.no_grad():
            for param in self.model.parameters():
                param -= learning_rate * param.grad
        return loss.item()
