"""The tutorial's "PyTorch: Custom nn Modules": a ``TwoLayerNet`` module trained by SGD."""

from __future__ import annotations

import torch

import pytest_twolayer as tl

from ._torch_common import (
    LinearModuleAdapter,
    seeded,
)


class TwoLayerNet(torch.nn.Module):
    """Two ``nn.Linear`` modules as members, with a ReLU by ``clamp`` between them."""

    def __init__(self, D_in: int, H: int, D_out: int) -> None:
        super().__init__()
        self.linear1 = torch.nn.Linear(D_in, H)
        self.linear2 = torch.nn.Linear(H, D_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_relu = self.linear1(x).clamp(min=0)
        y_pred: torch.Tensor = self.linear2(h_relu)
        return y_pred


class ModuleNet(LinearModuleAdapter):
    """Section "PyTorch: Custom nn Modules": ``TwoLayerNet`` with ``torch.optim.SGD(lr=1e-4)``.

    The adapter builds the module under the seeded generator, moves it to the requested
    device and dtype, transposes ``nn.Linear``'s ``(out, in)`` weights at its boundary, and
    gives ``load`` a fresh optimizer. The torch optimizer lives in ``self.opt``: the class
    attribute ``optimizer`` is the declaration.
    """

    optimizer = tl.SGD(lr=1e-4)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        self._setup(dims, device, dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out

        # Construct our model by instantiating the class defined above
        with seeded(seed):
            model = TwoLayerNet(D_in, H, D_out)
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.layers = {"1": self.model.linear1, "2": self.model.linear2}

        # Construct our loss function and an Optimizer
        self.loss_fn = torch.nn.MSELoss(reduction="sum")
        self.opt = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.SGD:
        return torch.optim.SGD(self.model.parameters(), lr=self.optimizer.lr)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        model, loss_fn, optimizer = self.model, self.loss_fn, self.opt

        # Forward pass: compute predicted y by passing x to the model
        y_pred = model(x)

        # Compute loss
        loss = loss_fn(y_pred, y)

        # Zero gradients, perform a backward pass, and update the weights
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
