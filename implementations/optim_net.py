"""The tutorial's "PyTorch: optim": the ``nn`` model trained by ``torch.optim.Adam``."""

from __future__ import annotations

import torch

import pytest_twolayer as tl

from .nn_net import NnNet


class OptimNet(NnNet):
    """Section "PyTorch: optim": ``nn.Sequential`` with ``torch.optim.Adam(lr=1e-4)``.

    The section is the ``nn`` one with an optimizer for the update, and so is the class: the
    model and the loss function are :class:`NnNet`'s. ``load`` makes a fresh Adam (its moments
    belong to the old parameters). The torch optimizer lives in ``self.opt``: the class
    attribute ``optimizer`` is the declaration.
    """

    optimizer = tl.Adam(lr=1e-4)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        # Use the nn package to define our model and loss function
        super().__init__(dims, device=device, dtype=dtype, seed=seed)

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
