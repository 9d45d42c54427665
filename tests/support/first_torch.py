"""A first torch implementation, as a new user writes it from the README and PyTorch's
tutorial: ``nn.Sequential``, ``torch.optim.SGD``, ``torch.manual_seed(seed)`` in ``__init__``.
The reseed breaks the contract (it changes torch's global RNG for everyone), and so does
``torch.from_numpy(a).float()`` in the second class (it rejects negative strides)."""

import numpy as np
import torch

import pytest_twolayer as tl


class FirstTorchNet:
    """Correct but for the reseed of torch's global RNG in ``__init__``."""

    devices = ("cpu",)
    dtypes = ("float32",)
    optimizer = tl.SGD(lr=1e-4)
    depths = (0,)

    def __init__(self, dims, *, device, dtype, seed):
        if device not in self.devices or dtype not in self.dtypes:
            raise ValueError(f"runs on cpu in float32, not {device}/{dtype}")
        torch.manual_seed(seed)
        self.shapes = {
            n: s for n, s in dims.param_shapes().items() if n in ("w1", "b1", "w2", "b2")
        }
        self.model = torch.nn.Sequential(
            torch.nn.Linear(dims.D_in, dims.H), torch.nn.ReLU(), torch.nn.Linear(dims.H, dims.D_out)
        )
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.optimizer.lr)

    def _tensors(self):
        first, last = self.model[0], self.model[2]
        return {"w1": first.weight, "b1": first.bias, "w2": last.weight, "b2": last.bias}

    def params(self):
        return {
            n: (t.detach().T if n[0] == "w" else t.detach()).numpy().copy()
            for n, t in self._tensors().items()
        }

    def load(self, params):
        if set(params) != set(self.shapes):
            raise ValueError(f"expected {sorted(self.shapes)}, got {sorted(params)}")
        for n, v in params.items():
            if np.shape(v) != self.shapes[n]:
                raise ValueError(f"{n} has shape {np.shape(v)}, expected {self.shapes[n]}")
        with torch.no_grad():
            for n, t in self._tensors().items():
                v = np.asarray(params[n], dtype=np.float32)
                t.copy_(torch.tensor(v.T if n[0] == "w" else v))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.optimizer.lr)

    def to_device(self, a):
        return torch.tensor(np.ascontiguousarray(a), dtype=torch.float32)  # any layout

    def forward(self, x):
        with torch.no_grad():
            return self.model(x).numpy()

    def gradients(self, x, y):
        self.model.zero_grad(set_to_none=True)
        loss = (self.model(x) - y).pow(2).sum()
        loss.backward()
        grads = {
            n: (t.grad.T if n[0] == "w" else t.grad).numpy().copy()
            for n, t in self._tensors().items()
        }
        self.model.zero_grad(set_to_none=True)
        return loss.item(), grads

    def step(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        loss = (self.model(x) - y).pow(2).sum()
        loss.backward()
        self.opt.step()
        return loss.item()


class FirstTorchNetFromNumpy(FirstTorchNet):
    """The same with the tutorial's ``to_device``: a reversed view (``a[::-1]``) raises."""

    def to_device(self, a):
        return torch.from_numpy(a).float()
