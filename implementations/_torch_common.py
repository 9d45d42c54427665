"""What the PyTorch adapters share: dtypes, seeded construction, array traffic, and the two
bases their sections stand on (hand-written weights; ``nn.Linear`` layers)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch

from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.spec.validation import checked_params, param_shapes, require_declared

TORCH_DTYPES: Mapping[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded by ``seed``; the global state is restored.

    ``nn.Linear`` draws its initial weights from the global generator; forking it keeps the
    construction reproducible without disturbing anyone else's random stream.
    """
    with torch.random.fork_rng(devices=[]):
        # Only the CPU generator: torch.manual_seed would also reseed every CUDA generator,
        # which fork_rng(devices=[]) does not restore.
        torch.default_generator.manual_seed(seed)
        yield


def to_device(a: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A copy of ``a`` as a tensor on ``device`` in ``dtype`` (``a`` itself is never touched).

    ``torch.tensor`` copies any layout but refuses negative strides (``x[::-1]``): such a view
    is made C-contiguous first (an array that already is one is not copied twice).
    """
    return torch.tensor(np.ascontiguousarray(a), device=device, dtype=dtype)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A fresh numpy copy of ``t``: never a view of storage that a later update may change."""
    return t.detach().cpu().numpy().copy()


def linear_params(layers: Mapping[str, torch.nn.Linear]) -> dict[str, np.ndarray]:
    """Canonical ``w<k>`` (in, out) and ``b<k>`` of each ``layers[k]``; Linear stores (out, in)."""
    out: dict[str, np.ndarray] = {}
    for k, linear in layers.items():
        out[f"w{k}"] = to_numpy(linear.weight.T)
        out[f"b{k}"] = to_numpy(linear.bias)
    return out


def _grad_or_zeros(param: torch.Tensor) -> torch.Tensor:
    # A parameter the last graph did not use (the dynamic net's middle layer at depth 0)
    # has no .grad at all: its gradient is zero.
    return param.grad if param.grad is not None else torch.zeros_like(param)


def linear_grads(layers: Mapping[str, torch.nn.Linear]) -> dict[str, np.ndarray]:
    """Like :func:`linear_params` for ``.grad``; a parameter with no gradient reports zeros."""
    out: dict[str, np.ndarray] = {}
    for k, linear in layers.items():
        out[f"w{k}"] = to_numpy(_grad_or_zeros(linear.weight).T)
        out[f"b{k}"] = to_numpy(_grad_or_zeros(linear.bias))
    return out


def load_linears(layers: Mapping[str, torch.nn.Linear], params: Mapping[str, np.ndarray]) -> None:
    """Copy canonical ``w<k>``/``b<k>`` arrays into each ``layers[k]``, transposing the weights."""
    with torch.no_grad():
        for k, linear in layers.items():
            linear.weight.copy_(torch.from_numpy(params[f"w{k}"].T))
            linear.bias.copy_(torch.from_numpy(params[f"b{k}"]))


class TorchAdapter:
    """What every PyTorch section's adapter starts with: the declarations they all make (a
    section overrides what it does otherwise), the declared device and dtype checked, resolved
    to torch's, and native arrays made as copies on that device."""

    devices: tuple[str, ...] = ("cpu", "cuda")
    dtypes: tuple[str, ...] = ("float32", "float64")
    depths: tuple[int, ...] = (0,)

    def _setup(self, dims: Dims, device: str, dtype: str) -> None:
        require_declared(type(self), device, dtype)
        self.dims = dims
        self.dtype_name = dtype
        self.device = torch.device(device)
        self.dtype = TORCH_DTYPES[dtype]

    def to_device(self, a: np.ndarray) -> torch.Tensor:
        return to_device(a, self.device, self.dtype)


class HandWrittenAdapter(TorchAdapter):
    """The contract's plumbing for the hand-written sections (tensors, autograd, a custom
    autograd function): ``w1`` and ``w2`` as tensors of their own, no biases, so that each
    file keeps only its section's code.

    A subclass calls :meth:`_setup`, draws ``self.w1`` and ``self.w2`` from a
    ``torch.Generator`` seeded by ``seed`` (the global generator is never touched), and writes
    as its section does ``_predict`` (the forward pass: ``y_pred`` from ``x``), ``_backward``
    (forward pass, loss and backward pass: the loss and the gradients of ``w1`` and ``w2``)
    and ``step``. ``forward`` and ``gradients`` are built from them; ``load`` makes fresh
    weights with the ``requires_grad`` the section gave its own.
    """

    w1: torch.Tensor
    w2: torch.Tensor

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _backward(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def params(self) -> dict[str, np.ndarray]:
        return {"w1": to_numpy(self.w1), "w2": to_numpy(self.w2)}

    def load(self, params: dict[str, np.ndarray]) -> None:
        p = checked_params(params, param_shapes(self.dims, ("w1", "w2")), self.dtype_name)
        # Fresh leaves on the device, tracked by autograd as the section's own weights are
        self.w1 = self.to_device(p["w1"]).requires_grad_(self.w1.requires_grad)
        self.w2 = self.to_device(p["w2"]).requires_grad_(self.w2.requires_grad)

    def forward(self, x: torch.Tensor) -> np.ndarray:
        # Forward pass only: no graph is needed
        with torch.no_grad():
            y_pred = self._predict(x)
        return to_numpy(y_pred)

    def gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, np.ndarray]]:
        loss, grad_w1, grad_w2 = self._backward(x, y)
        grads = {"w1": to_numpy(grad_w1), "w2": to_numpy(grad_w2)}
        # No update, and no .grad left behind to accumulate into the next backward pass
        self.w1.grad = None
        self.w2.grad = None
        return loss.item(), grads


class LinearModuleAdapter(TorchAdapter):
    """The contract's plumbing for the sections built from ``nn.Linear`` layers (nn, optim,
    custom module, dynamic net), so that each file keeps only its section's code.

    A subclass calls :meth:`_setup`, builds ``self.model`` under :func:`seeded`, names its
    linear layers in ``self.layers`` (``{"1": ..., "2": ...}``, ``"m"`` for a middle layer),
    sets ``self.loss_fn``, and writes ``step`` as its section does. ``_make_optimizer``
    returns the section's ``torch.optim`` optimizer (``None`` for a hand-written update);
    ``load`` makes a fresh one, so no state survives it. The torch optimizer lives in
    ``self.opt``: the class attribute ``optimizer`` is the declaration the suite reads.
    """

    optimizer: object
    model: torch.nn.Module
    layers: Mapping[str, torch.nn.Linear]
    loss_fn: torch.nn.Module
    opt: torch.optim.Optimizer | None

    def _make_optimizer(self) -> torch.optim.Optimizer | None:
        return None

    def params(self) -> dict[str, np.ndarray]:
        return linear_params(self.layers)

    def load(self, params: dict[str, np.ndarray]) -> None:
        # The canonical names are those params() reports: w<k> and b<k> of each layer
        names = tuple(f"{p}{k}" for k in self.layers for p in ("w", "b"))
        shapes = param_shapes(self.dims, names)
        load_linears(self.layers, checked_params(params, shapes, self.dtype_name))
        self.opt = self._make_optimizer()

    def forward(self, x: torch.Tensor) -> np.ndarray:
        # Forward pass only: no graph is needed
        with torch.no_grad():
            y_pred = self.model(x)
        return to_numpy(y_pred)

    def gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, np.ndarray]]:
        loss = self.loss_fn(self.model(x), y)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        # A layer the pass did not use (the middle one at depth 0) has no .grad: zeros
        grads = linear_grads(self.layers)
        # No update: nothing changes, and no gradient is left for the next step
        self.model.zero_grad(set_to_none=True)
        return loss.item(), grads
