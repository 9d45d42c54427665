"""The tutorial's "PyTorch: optim": the ``nn`` model trained by ``torch.optim.Adam``."""

from __future__ import annotations

import torch

import pytest_twolayer as tl

from ._torch_common import (
    LinearModuleAdapter,
    seeded,
)

NAMES = ("w1", "b1", "w2", "b2")


class OptimNet(LinearModuleAdapter):
    """Section "PyTorch: optim": ``nn.Sequential`` with ``torch.optim.Adam(lr=1e-4)``.

    The adapter builds the model under the seeded generator, moves it to the requested
    device and dtype, transposes ``nn.Linear``'s ``(out, in)`` weights at its boundary, and
    gives ``load`` a fresh Adam (its moments belong to the old parameters). The torch
    optimizer lives in ``self.opt``: the class attribute ``optimizer`` is the declaration.
    """

    devices = ("cpu", "cuda")
    dtypes = ("float32", "float64")
    optimizer = tl.Adam(lr=1e-4)
    depths = (0,)
    names = NAMES

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        self._setup(dims, device, dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out

        # Use the nn package to define our model and loss function
        with seeded(seed):
            model = torch.nn.Sequential(
                torch.nn.Linear(D_in, H),
                torch.nn.ReLU(),
                torch.nn.Linear(H, D_out),
            )
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.layers = {"1": self.model[0], "2": self.model[2]}
        self.loss_fn = torch.nn.MSELoss(reduction="sum")

        # Use the optim package to define an Optimizer that will update the weights
        self.opt = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Adam:
        learning_rate = self.optimizer.lr
        return torch.optim.Adam(self.model.parameters(), lr=learning_rate)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        model, loss_fn, optimizer = self.model, self.loss_fn, self.opt

        # Forward pass: compute predicted y by passing x to the model
        y_pred = model(x)

        # Compute loss
        loss = loss_fn(y_pred, y)

        # Zero the gradients of the variables the optimizer will update
        optimizer.zero_grad()

        # Backward pass: gradient of the loss with respect to model parameters
        loss.backward()

        # Calling the step function on an Optimizer makes an update to its parameters
        optimizer.step()
        return loss.item()
