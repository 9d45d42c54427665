"""The tutorial's "PyTorch: Control Flow + Weight Sharing": a middle layer reused 0-3 times."""

from __future__ import annotations

import random

import torch

import pytest_twolayer as tl

from ._torch_common import (
    LinearModuleAdapter,
    seeded,
)


class DynamicNet(torch.nn.Module):
    """Three ``nn.Linear`` modules; each forward pass reuses the middle one 0 to 3 times.

    The tutorial draws the count from the global ``random`` module; here it comes from
    ``rng``, a ``random.Random`` seeded by the owner, so that a seed reproduces every draw.
    """

    def __init__(self, D_in: int, H: int, D_out: int, rng: random.Random) -> None:
        super().__init__()
        self.input_linear = torch.nn.Linear(D_in, H)
        self.middle_linear = torch.nn.Linear(H, H)
        self.output_linear = torch.nn.Linear(H, D_out)
        self.rng = rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Ordinary Python control flow builds a different graph on every pass, and reusing
        # middle_linear shares its weights between the repeats
        h_relu = self.input_linear(x).clamp(min=0)
        for _ in range(self.rng.randint(0, 3)):
            h_relu = self.middle_linear(h_relu).clamp(min=0)
        y_pred: torch.Tensor = self.output_linear(h_relu)
        return y_pred


class DynamicNetImpl(LinearModuleAdapter):
    """Section "PyTorch: Control Flow + Weight Sharing": ``DynamicNet`` with SGD and momentum.

    The adapter builds the module under the seeded generator, draws depths from
    ``random.Random(seed)`` (one draw per ``forward``, ``gradients`` or ``step``; ``load``
    does not restart it), moves the module to the requested device and dtype, transposes
    ``nn.Linear``'s ``(out, in)`` weights at its boundary, and gives ``load`` a fresh
    optimizer (no stale momentum). The torch optimizer lives in ``self.opt``: the class
    attribute ``optimizer`` is the declaration.
    """

    optimizer = tl.SGD(lr=1e-4, momentum=0.9)
    depths = (0, 1, 2, 3)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        self._setup(dims, device, dtype)
        D_in, H, D_out = dims.D_in, dims.H, dims.D_out

        # Construct our model by instantiating the class defined above
        with seeded(seed):
            model = DynamicNet(D_in, H, D_out, random.Random(seed))
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.layers = {
            "1": self.model.input_linear,
            "m": self.model.middle_linear,
            "2": self.model.output_linear,
        }

        # Training this strange model with vanilla SGD is hard, so we use momentum
        self.loss_fn = torch.nn.MSELoss(reduction="sum")
        self.opt = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.SGD:
        learning_rate, momentum = self.optimizer.lr, self.optimizer.momentum
        return torch.optim.SGD(self.model.parameters(), lr=learning_rate, momentum=momentum)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        model, criterion, optimizer = self.model, self.loss_fn, self.opt

        # Forward pass: compute predicted y by passing x to the model
        y_pred = model(x)

        # Compute loss
        loss = criterion(y_pred, y)

        # Zero gradients, perform a backward pass, and update the weights. Gradients are
        # set to None, not zeroed: at depth 0 the middle layer then keeps no gradient, and
        # SGD skips it (no step, no momentum decay) instead of decaying its momentum.
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()
