"""The independent float64 numpy reference: forward, loss, gradients and the optimizer updates.

Everything here is written from the math in docs/contract.md, not from any implementation, and is
itself checked against central finite differences in ``tests/unit/test_reference.py``. Its products
run on one BLAS thread (:mod:`pytest_twolayer.spec.blas`): checks alternate them with an
implementation's calls, and two thread pools spinning into each other cost far more than a
second core gains on products this small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pytest_twolayer.spec.blas import one_blas_thread
from pytest_twolayer.spec.optimizers import SGD, Adam

Params = dict[str, np.ndarray]


def _f64(params: Mapping[str, np.ndarray]) -> Params:
    return {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}


def used_params(names: set[str] | frozenset[str], depth: int) -> frozenset[str]:
    """The parameters that take part in a forward pass at ``depth`` (wm/bm only above 0)."""
    middle = {"wm", "bm"}
    return frozenset(names - middle if depth == 0 else names)


@dataclass
class Forward:
    """A float64 forward pass with what the backward pass needs."""

    pre_activations: list[np.ndarray]  # h before each ReLU: input layer, then each repeat
    activations: list[np.ndarray]  # relu(h) for each of them
    y_pred: np.ndarray


@one_blas_thread
def forward(params: Mapping[str, np.ndarray], x: np.ndarray, depth: int = 0) -> Forward:
    """``relu(x @ w1 + b1)``, then ``relu(h @ wm + bm)`` ``depth`` times, then ``h @ w2 + b2``."""
    p = _f64(params)
    h = np.asarray(x, dtype=np.float64) @ p["w1"]
    if "b1" in p:
        h = h + p["b1"]
    pre, act = [h], [np.maximum(h, 0.0)]
    for _ in range(depth):
        h = act[-1] @ p["wm"]
        if "bm" in p:
            h = h + p["bm"]
        pre.append(h)
        act.append(np.maximum(h, 0.0))
    y_pred = act[-1] @ p["w2"]
    if "b2" in p:
        y_pred = y_pred + p["b2"]
    return Forward(pre, act, y_pred)


@one_blas_thread
def loss(params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, depth: int = 0) -> float:
    """The tutorial's sum of squared errors."""
    residual = forward(params, x, depth).y_pred - np.asarray(y, dtype=np.float64)
    return float(np.sum(residual * residual))


@one_blas_thread
def losses_by_depth(
    params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, depths: Sequence[int]
) -> dict[int, float]:
    """:func:`loss` at each of ``depths``, sharing one forward pass: the pass to the deepest
    depth goes through every shallower one's last activation on the way."""
    p = _f64(params)
    fwd = forward(p, x, max(depths))
    y64 = np.asarray(y, dtype=np.float64)
    losses: dict[int, float] = {}
    for depth in depths:
        y_pred = fwd.activations[depth] @ p["w2"]
        if "b2" in p:
            y_pred = y_pred + p["b2"]
        residual = y_pred - y64
        losses[depth] = float(np.sum(residual * residual))
    return losses


@one_blas_thread
def loss_and_gradients(
    params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, depth: int = 0
) -> tuple[float, Params]:
    """Loss and its gradient for every parameter; unused middle parameters get zeros.

    At an exact kink (a pre-activation of 0) the ReLU's derivative is taken as 0, as
    ``torch.relu`` and ``clamp(min=0)`` do; the suite keeps its test points away from kinks.
    """
    p = _f64(params)
    x64 = np.asarray(x, dtype=np.float64)
    fwd = forward(p, x64, depth)
    residual = fwd.y_pred - np.asarray(y, dtype=np.float64)
    grads: Params = {name: np.zeros_like(value) for name, value in p.items()}
    grad_y_pred = 2.0 * residual
    grads["w2"] = fwd.activations[-1].T @ grad_y_pred
    if "b2" in p:
        grads["b2"] = grad_y_pred.sum(axis=0)
    grad_act = grad_y_pred @ p["w2"].T
    # Walk back through the middle repeats; the shared wm/bm sum their gradient over repeats.
    for level in range(depth, 0, -1):
        grad_pre = grad_act * (fwd.pre_activations[level] > 0)
        grads["wm"] = grads["wm"] + fwd.activations[level - 1].T @ grad_pre
        if "bm" in p:
            grads["bm"] = grads["bm"] + grad_pre.sum(axis=0)
        grad_act = grad_pre @ p["wm"].T
    grad_pre = grad_act * (fwd.pre_activations[0] > 0)
    grads["w1"] = x64.T @ grad_pre
    if "b1" in p:
        grads["b1"] = grad_pre.sum(axis=0)
    return float(np.sum(residual * residual)), grads


@one_blas_thread
def kink_distance(params: Mapping[str, np.ndarray], x: np.ndarray, depth: int) -> float:
    """Smallest ``|pre-activation|`` over every ReLU, relative to that layer's RMS.

    Rounding in a lower precision can flip a ReLU whose input is this close to 0, which
    changes a gradient by a whole row's contribution: the suite only compares gradients at
    points where this distance exceeds the dtype's rounding margin.

    A pre-activation that is exactly 0 because its whole input row is 0 (the units below it
    all dead, no bias) is no kink: every precision computes that 0 exactly, and whichever
    derivative a ReLU takes there, the gradient it passes down meets only dead units below.
    Without biases such rows are common at small widths, and counting them made every draw
    fail.
    """
    fwd = forward(params, x, depth)
    inputs = [np.asarray(x, dtype=np.float64), *fwd.activations[:-1]]
    distance = np.inf
    for h, below in zip(fwd.pre_activations, inputs, strict=True):
        scale = float(np.sqrt(np.mean(h * h))) or 1.0
        exact_zero = (h == 0.0) & ~np.any(below, axis=1, keepdims=True)
        if exact_zero.all():
            continue
        distance = min(distance, float(np.min(np.abs(h[~exact_zero]))) / scale)
    return distance


@dataclass
class ReferenceOptimizer:
    """The declared update rule applied in float64, with PyTorch's per-parameter state.

    Parameters outside ``used`` in a step are skipped entirely (no step, no momentum decay,
    no Adam step count), as ``torch.optim`` skips parameters whose ``.grad`` is ``None``.
    """

    rule: SGD | Adam
    momentum_buffer: dict[str, np.ndarray] = field(default_factory=dict)
    exp_avg: dict[str, np.ndarray] = field(default_factory=dict)
    exp_avg_sq: dict[str, np.ndarray] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)

    def update(
        self,
        params: Mapping[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        used: frozenset[str],
    ) -> Params:
        """The parameters after one step from ``params`` with ``grads``."""
        new = _f64(params)
        for name in sorted(used):
            g = np.asarray(grads[name], dtype=np.float64)
            new[name] = new[name] - self._displacement(name, g)
        return new

    def _displacement(self, name: str, g: np.ndarray) -> np.ndarray:
        rule = self.rule
        if isinstance(rule, SGD):
            if rule.momentum == 0.0:
                return rule.lr * g
            buf = self.momentum_buffer.get(name)
            buf = g.copy() if buf is None else rule.momentum * buf + g
            self.momentum_buffer[name] = buf
            step: np.ndarray = rule.lr * buf
            return step
        beta1, beta2 = rule.betas
        t = self.steps.get(name, 0) + 1
        self.steps[name] = t
        m = beta1 * self.exp_avg.get(name, np.zeros_like(g)) + (1.0 - beta1) * g
        v = beta2 * self.exp_avg_sq.get(name, np.zeros_like(g)) + (1.0 - beta2) * g * g
        self.exp_avg[name], self.exp_avg_sq[name] = m, v
        bias_correction1 = 1.0 - beta1**t
        bias_correction2 = 1.0 - beta2**t
        denom = np.sqrt(v) / np.sqrt(bias_correction2) + rule.eps
        displacement: np.ndarray = (rule.lr / bias_correction1) * m / denom
        return displacement
