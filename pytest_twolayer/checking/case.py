"""One conformance case: which implementation, on which device and dtype, from which seed.

Checks receive a :class:`Case` and judge it through :meth:`Case.judge`, one judge per
verdict label (:mod:`pytest_twolayer.checking.judge`); every failure they raise names all
of the case. How to run the case again (which ``--impl`` selects its implementation,
which options) is the run's knowledge, not the case's: the plugin appends those commands to
the report (:mod:`pytest_twolayer.outcomes.reproduction`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np

from pytest_twolayer.spec.contract import TwoLayerImplementation
from pytest_twolayer.spec.dims import TUTORIAL_DIMS, Dims

if TYPE_CHECKING:
    from pytest_twolayer.checking.judge import Judge

T = TypeVar("T")


class ConformanceFailure(AssertionError):
    """A check's verdict against an implementation; ``str()`` is the complete message."""


class SuiteError(Exception):
    """The suite's own machinery could not do its job (no valid test point, a reference it
    cannot compute): never a verdict on the implementation. The plugin reports it, as it
    reports any other exception a check's own code raises, under the ``suite error`` label
    (:mod:`pytest_twolayer.outcomes.verdicts`)."""


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

    def judge(self, label: str) -> Judge:
        """The judge of the check labelled ``label`` (e.g. ``"update_follows_rule"``) on this case:
        its calls into the implementation, its comparisons and its verdicts."""
        # judge.py builds on this module; importing it changes no process-global state.
        from pytest_twolayer.checking.judge import Judge

        return Judge(self, label)

    def fail(self, check: str, message: str) -> NoReturn:
        """Raise the verdict of ``check``, naming the case it was reached on
        (``case.judge(check).fail(message)``)."""
        self.judge(check).fail(message)

    def rng(self, check: str, *salt: int) -> np.random.Generator:
        """The suite's own random stream for ``check`` (or any other stream's name), derived
        from the seed."""
        return np.random.default_rng([self.seed, zlib.crc32(check.encode()), *salt])

    def make(
        self, *, seed: int | None = None, dims: Dims | None = None, check: str
    ) -> TwoLayerImplementation:
        """A new instance; a constructor that raises fails ``check`` with its message
        (``case.judge(check).make(...)``)."""
        return self.judge(check).make(seed=seed, dims=dims)

    def call(self, check: str, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, a call into the implementation; an exception fails ``check``
        (``case.judge(check).call(what, fn, *args)``)."""
        return self.judge(check).call(what, fn, *args)
