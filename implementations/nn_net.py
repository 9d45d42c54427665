"""The tutorial's "PyTorch: nn": ``nn.Sequential`` layers, ``MSELoss``, a hand-written update."""

from __future__ import annotations

import numpy as np
import torch

import pytest_twolayer as tl
from pytest_twolayer.validation import checked_params, param_shapes, require_declared

from ._torch_common import (
    TORCH_DTYPES,
    linear_grads,
    linear_params,
    load_linears,
    seeded,
    to_device,
    to_numpy,
)

NAMES = ("w1", "b1", "w2", "b2")


class NnNet:
    """Section "PyTorch: nn": ``model = nn.Sequential(Linear, ReLU, Linear)``.

    The adapter builds the model under the seeded generator and moves it to the requested
    device and dtype; it transposes ``nn.Linear``'s ``(out, in)`` weights to the canonical
    ``(in, out)`` at its boundary.
    """

    devices = ("cpu", "cuda")
    dtypes = ("float32", "float64")
    optimizer = tl.SGD(lr=1e-4)
    depths = (0,)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        require_declared(type(self), device, dtype)
        self.dims = dims
        self.dtype_name = dtype
        self.device = torch.device(device)
        self.dtype = TORCH_DTYPES[dtype]
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

    def params(self) -> dict[str, np.ndarray]:
        return linear_params(self.layers)

    def load(self, params: dict[str, np.ndarray]) -> None:
        p = checked_params(params, param_shapes(self.dims, NAMES), self.dtype_name)
        load_linears(self.layers, p)

    def to_device(self, a: np.ndarray) -> torch.Tensor:
        return to_device(a, self.device, self.dtype)

    def forward(self, x: torch.Tensor) -> np.ndarray:
        # Forward pass only: no graph is needed
        with torch.no_grad():
            y_pred = self.model(x)
        return to_numpy(y_pred)

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

    def gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, np.ndarray]]:
        loss = self._backward(x, y)
        grads = linear_grads(self.layers)
        self.model.zero_grad()  # nothing left behind for the next step
        return loss.item(), grads

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        loss = self._backward(x, y)

        # Update the weights using gradient descent
        learning_rate = self.optimizer.lr
        with torch.no_grad():
            for param in self.model.parameters():
                param -= learning_rate * param.grad
        return loss.item()
