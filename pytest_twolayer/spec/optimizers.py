"""The update rules an implementation may declare, with PyTorch's semantics."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check_positive(owner: str, name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}.{name} must be finite and > 0, got {value!r}")


@dataclass(frozen=True)
class SGD:
    """Gradient descent ``p -= lr * g``, with optional heavy-ball momentum.

    Momentum follows ``torch.optim.SGD`` (dampening 0, no Nesterov): the buffer starts
    as the first gradient, then ``buf = momentum * buf + g`` and ``p -= lr * buf``.
    """

    lr: float
    momentum: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("SGD", "lr", self.lr)
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)):
            raise ValueError(f"SGD.momentum must be a number, got {self.momentum!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"SGD.momentum must be in [0, 1), got {self.momentum!r}")

    @property
    def monotone(self) -> bool:
        """Whether plain gradient descent promises a loss that falls step by step."""
        return self.momentum == 0.0


@dataclass(frozen=True)
class Adam:
    """Adam as ``torch.optim.Adam`` computes it (bias-corrected, no weight decay, no amsgrad)."""

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _check_positive("Adam", "lr", self.lr)
        _check_positive("Adam", "eps", self.eps)
        betas = tuple(self.betas)
        if len(betas) != 2 or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0.0 <= b < 1.0
            for b in betas
        ):
            raise ValueError(f"Adam.betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))

    @property
    def monotone(self) -> bool:
        """Adam promises a falling trend, not a fall at every step."""
        return False


Optimizer = SGD | Adam
