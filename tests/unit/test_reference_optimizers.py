"""The reference optimizers against torch.optim, the semantics they promise to follow."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_twolayer import SGD, Adam
from pytest_twolayer.spec import reference

torch = pytest.importorskip("torch")


def run_torch_optimizer(rule, params, grads_per_step, used_per_step):
    tensors = {
        n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in params.items()
    }
    if isinstance(rule, SGD):
        opt = torch.optim.SGD(tensors.values(), lr=rule.lr, momentum=rule.momentum)
    else:
        opt = torch.optim.Adam(tensors.values(), lr=rule.lr, betas=rule.betas, eps=rule.eps)
    for grads, used in zip(grads_per_step, used_per_step, strict=True):
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[name]) if name in used else None
        opt.step()
    return {n: t.detach().numpy() for n, t in tensors.items()}


@pytest.mark.parametrize(
    "rule",
    [
        SGD(lr=0.1),
        SGD(lr=0.05, momentum=0.9),
        Adam(lr=0.01),
        Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    ],
    ids=repr,
)
def test_optimizer_matches_torch_optim_including_skipped_parameters(rule):
    rng = np.random.default_rng(0)
    params = {n: rng.standard_normal((3, 2)) for n in ("w1", "wm", "w2")}
    grads_per_step = [{n: rng.standard_normal((3, 2)) for n in params} for _ in range(5)]
    # wm sits out steps 2 and 4, as the dynamic net's middle layer does at depth 0
    used_per_step = [frozenset(params) - ({"wm"} if t in (1, 3) else set()) for t in range(5)]
    optimizer = reference.ReferenceOptimizer(rule)
    ours = params
    for grads, used in zip(grads_per_step, used_per_step, strict=True):
        ours = optimizer.update(ours, grads, used)
    theirs = run_torch_optimizer(rule, params, grads_per_step, used_per_step)
    for name in params:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, atol=1e-14, err_msg=name)
