"""The contract's calls, made once each in the contract's order on a fresh instance: what the
global-state verdict watches, one call at a time.

The hygiene check ``global_state_untouched`` makes them for the plugin to watch (one test per
call), and the plugin makes them again to tell which call changed the process-global state
(:func:`pytest_twolayer.hygiene.state.calls_that_change_state`), in one process or in an
implementation's host. Both read this one list, so both name the same call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.suite import GLOBAL_STATE_CHECK
from pytest_twolayer.spec.contract import TwoLayerImplementation

CALLS: tuple[str, ...] = ("__init__", "to_device", "params", "load", "forward", "gradients", "step")
"""The contract's methods in the order a user's code meets them; ``step`` is made twice (a
change that only a second step makes, from state the first one left, is still its own)."""


def label(call: str) -> str:
    """How a verdict names the call: ``step()``."""
    return f"{call}()"


def contract_calls(case: Case) -> list[tuple[str, Callable[[], object]]]:
    """``(call, make it)`` for each of :data:`CALLS`, on one fresh instance of ``case``, with
    the suite's own data for the label's stream; each needs the ones before it to have run."""
    d = case.dims
    rng = case.rng(GLOBAL_STATE_CHECK)
    x, y = rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))
    made: dict[str, Any] = {}

    def construct() -> None:
        made["impl"] = case.cls(d, device=case.device, dtype=case.dtype, seed=case.seed)

    def impl() -> TwoLayerImplementation:
        instance: TwoLayerImplementation = made["impl"]
        return instance

    def native() -> None:
        made["x"], made["y"] = impl().to_device(x), impl().to_device(y)

    return [
        ("__init__", construct),
        ("to_device", native),
        ("params", lambda: impl().params()),
        ("load", lambda: impl().load(impl().params())),
        ("forward", lambda: impl().forward(made["x"])),
        ("gradients", lambda: impl().gradients(made["x"], made["y"])),
        ("step", lambda: impl().step(made["x"], made["y"])),
        ("step", lambda: impl().step(made["x"], made["y"])),
    ]


def calls_until(case: Case, call: str) -> list[tuple[str, Callable[[], object]]]:
    """The calls of :func:`contract_calls` up to the last one named ``call``."""
    calls = contract_calls(case)
    last = max(i for i, (name, _) in enumerate(calls) if name == call)
    return calls[: last + 1]
