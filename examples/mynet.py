"""A user's own implementation: the tutorial's numpy net with biases, behind the contract."""

from __future__ import annotations

import numpy as np

import pytest_twolayer as tl


class MyNet:
    devices = ("cpu",)
    dtypes = ("float64",)
    optimizer = tl.SGD(lr=1e-6)
    depths = (0,)

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        if device not in self.devices or dtype not in self.dtypes:
            raise ValueError(f"MyNet runs on cpu in float64, not {device}/{dtype}")
        rng = np.random.default_rng(seed)
        self.shapes = {k: v for k, v in dims.param_shapes().items() if k in ("w1", "b1", "w2", "b2")}
        self.p = {k: rng.standard_normal(s) if k[0] == "w" else np.zeros(s) for k, s in self.shapes.items()}

    def params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.p.items()}

    def load(self, params: dict[str, np.ndarray]) -> None:
        if set(params) != set(self.shapes):
            raise ValueError(f"expected {sorted(self.shapes)}, got {sorted(params)}")
        for k, v in params.items():
            if np.shape(v) != self.shapes[k]:
                raise ValueError(f"{k} has shape {np.shape(v)}, expected {self.shapes[k]}")
        self.p = {k: np.array(v, dtype=np.float64) for k, v in params.items()}

    def to_device(self, a: np.ndarray) -> np.ndarray:
        return np.array(a, dtype=np.float64)

    def forward(self, x: np.ndarray) -> np.ndarray:
        h_relu = np.maximum(x @ self.p["w1"] + self.p["b1"], 0)
        return h_relu @ self.p["w2"] + self.p["b2"]

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        h = x @ self.p["w1"] + self.p["b1"]
        h_relu = np.maximum(h, 0)
        grad_y_pred = 2.0 * (h_relu @ self.p["w2"] + self.p["b2"] - y)
        grad_h = (grad_y_pred @ self.p["w2"].T) * (h > 0)
        grads = {
            "w1": x.T @ grad_h, "b1": grad_h.sum(0),
            "w2": h_relu.T @ grad_y_pred, "b2": grad_y_pred.sum(0),
        }
        return float(np.sum((grad_y_pred / 2) ** 2)), grads

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        loss, grads = self.gradients(x, y)
        for k, g in grads.items():
            self.p[k] = self.p[k] - self.optimizer.lr * g
        return loss
