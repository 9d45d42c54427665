"""One conformance case: which implementation, on which device and dtype, from which seed.

Checks receive a :class:`Case`; every failure they raise names all of it. How to run the
case again (which ``--impl`` selects its implementation, which options) is the run's
knowledge, not the case's: the plugin appends those commands to the report
(:mod:`pytest_twolayer.outcomes.reproduction`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import numpy as np

from pytest_twolayer.spec.contract import TwoLayerImplementation
from pytest_twolayer.spec.dims import TUTORIAL_DIMS, Dims

T = TypeVar("T")


class ConformanceFailure(AssertionError):
    """A check's verdict against an implementation; ``str()`` is the complete message."""


@dataclass(frozen=True)
class Case:
    """An implementation class bound to a device, a dtype, a seed and dims."""

    name: str
    cls: type[TwoLayerImplementation]
    device: str
    dtype: str
    seed: int = 0
    dims: Dims = TUTORIAL_DIMS

    def where(self) -> str:
        """``impl=... device=... dtype=... seed=...`` for messages."""
        return f"impl={self.name} device={self.device} dtype={self.dtype} seed={self.seed}"

    def fail(self, check: str, message: str) -> NoReturn:
        """Raise the verdict of ``check``, naming the case it was reached on."""
        raise ConformanceFailure(f"[{check}] {self.where()}: {message}")

    def rng(self, check: str, *salt: int) -> np.random.Generator:
        """The suite's own random stream for ``check``, derived from the seed."""
        return np.random.default_rng([self.seed, zlib.crc32(check.encode()), *salt])

    def make(
        self, *, seed: int | None = None, dims: Dims | None = None, check: str
    ) -> TwoLayerImplementation:
        """A new instance; a constructor that raises fails ``check`` with its message."""
        return self.call(
            check,
            "__init__",
            lambda: self.cls(
                dims or self.dims,
                device=self.device,
                dtype=self.dtype,
                seed=self.seed if seed is None else seed,
            ),
        )

    def call(self, check: str, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, a call into the implementation; an exception fails ``check``."""
        try:
            return fn(*args)
        except ConformanceFailure:
            raise
        except (Exception, SystemExit) as exc:  # an implementation's sys.exit() is a verdict too
            first_line = (str(exc).strip().splitlines() or ["(no message)"])[0]
            self.fail(check, f"{what} raised {type(exc).__name__}: {first_line}")
