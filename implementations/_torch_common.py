"""Boilerplate shared by the PyTorch adapters: dtypes, seeded construction, array traffic."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch

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
    """A copy of ``a`` as a tensor on ``device`` in ``dtype`` (``a`` itself is never touched)."""
    return torch.tensor(a, device=device, dtype=dtype)


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
