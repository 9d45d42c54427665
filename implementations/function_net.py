"""The tutorial's "PyTorch: Defining new autograd functions": ReLU as a custom Function."""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx

from .autograd_net import AutogradNet


class MyReLU(torch.autograd.Function):
    """ReLU with a hand-written backward pass, as a subclass of ``torch.autograd.Function``."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        # Cache the input for the backward pass
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: torch.Tensor) -> torch.Tensor:
        # The gradient of the loss with respect to the input
        (x,) = ctx.saved_tensors
        grad_x = grad_output.clone()
        grad_x[x < 0] = 0
        return grad_x


class FunctionNet(AutogradNet):
    """Section "PyTorch: Defining new autograd functions": autograd with ``MyReLU.apply``.

    The section is the autograd one with its ReLU replaced, and so is the class: the weights,
    ``loss.backward()`` (here through ``MyReLU.backward``) and the update are
    :class:`AutogradNet`'s, only the forward pass is this section's.
    """

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        w1, w2 = self.w1, self.w2
        # Forward pass: our custom ReLU is applied with MyReLU.apply
        y_pred: torch.Tensor = MyReLU.apply(x.mm(w1)).mm(w2)
        return y_pred
