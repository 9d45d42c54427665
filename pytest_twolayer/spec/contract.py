"""The implementation contract: the typed Protocol and the validation of a class against it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.spec.optimizers import SGD, Adam

KNOWN_DEVICES: tuple[str, ...] = ("cpu", "cuda")
KNOWN_DTYPES: tuple[str, ...] = ("float32", "float64")
WEIGHT_NAMES: tuple[str, ...] = ("w1", "wm", "w2")
BIAS_OF: Mapping[str, str] = {"w1": "b1", "wm": "bm", "w2": "b2"}
METHODS: tuple[str, ...] = ("params", "load", "to_device", "forward", "gradients", "step")


@runtime_checkable
class TwoLayerImplementation(Protocol):
    """What a class must provide to be checked by the suite (see the README's contract).

    Class attributes declare capabilities; the methods exchange numpy arrays with the
    suite, except ``forward``/``gradients``/``step``, which take what ``to_device`` made.
    """

    devices: ClassVar[tuple[str, ...]]
    dtypes: ClassVar[tuple[str, ...]]
    optimizer: ClassVar[SGD | Adam]
    depths: ClassVar[tuple[int, ...]]

    def __init__(self, dims: Dims, *, device: str, dtype: str, seed: int) -> None: ...
    def params(self) -> dict[str, np.ndarray]: ...
    def load(self, params: dict[str, np.ndarray]) -> None: ...
    def to_device(self, a: np.ndarray) -> Any: ...
    def forward(self, x: Any) -> np.ndarray: ...
    def gradients(self, x: Any, y: Any) -> tuple[float, dict[str, np.ndarray]]: ...
    def step(self, x: Any, y: Any) -> float: ...


class ContractError(ValueError):
    """A class's declarations break the contract; the message is one line naming the culprit."""


def _is_str_tuple(value: object, allowed: tuple[str, ...]) -> str | None:
    """Why ``value`` is not a non-empty tuple of distinct names from ``allowed`` (None if it is)."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        return f"must be a tuple of names from {allowed}, got {value!r}"
    if not value:
        return "must not be empty"
    unknown = [v for v in value if v not in allowed]
    if unknown:
        return f"has unknown {unknown!r}; known: {', '.join(allowed)}"
    if len(set(value)) != len(value):
        return f"repeats a name: {value!r}"
    return None


def contract_problems(cls: object) -> list[str]:
    """Every way ``cls`` breaks the declared part of the contract (empty when it conforms)."""
    if not inspect.isclass(cls):
        return [f"is not a class but {type(cls).__name__} {cls!r}"]
    problems: list[str] = []
    for attribute, allowed in (("devices", KNOWN_DEVICES), ("dtypes", KNOWN_DTYPES)):
        if not hasattr(cls, attribute):
            problems.append(f"has no class attribute {attribute!r}")
            continue
        why = _is_str_tuple(getattr(cls, attribute), allowed)
        if why:
            problems.append(f"{attribute} {why}")
    if not hasattr(cls, "optimizer"):
        problems.append("has no class attribute 'optimizer'")
    elif not isinstance(cls.optimizer, (SGD, Adam)):
        got = cls.optimizer
        problems.append(f"optimizer must be tl.SGD(...) or tl.Adam(...), got {got!r}")
    if not hasattr(cls, "depths"):
        problems.append("has no class attribute 'depths'")
    else:
        depths = cls.depths
        if (
            isinstance(depths, str)
            or not isinstance(depths, (tuple, list))
            or not depths
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in depths)
            or len(set(depths)) != len(depths)
        ):
            problems.append(
                f"depths must be a non-empty tuple of distinct ints >= 0, got {depths!r}"
            )
    for method in METHODS:
        if not callable(getattr(cls, method, None)):
            problems.append(f"has no method {method}()")
    why = expected_failures_problem(getattr(cls, "expected_failures", None))
    if why:
        problems.append(why)
    return problems


EXPECTED_FAILURE_KEY = re.compile(r"(?P<check>\w+)(?:\[(?P<qualifier>[\w-]+)\])?")
"""``check_id`` or ``check_id[qualifier]``; the qualifier is a device, a dtype or both."""


def qualifier_problem(qualifier: str) -> str | None:
    """Why ``qualifier`` is not ``device``, ``dtype`` or ``device-dtype`` (None if it is)."""
    parts = qualifier.split("-")
    if len(parts) == 1 and parts[0] in KNOWN_DEVICES + KNOWN_DTYPES:
        return None
    if len(parts) == 2 and parts[0] in KNOWN_DEVICES and parts[1] in KNOWN_DTYPES:
        return None
    return (
        f"qualifier [{qualifier}] must be a device, a dtype or device-dtype "
        f"(devices: {', '.join(KNOWN_DEVICES)}; dtypes: {', '.join(KNOWN_DTYPES)})"
    )


def expected_failures_problem(value: object) -> str | None:
    """Why the optional ``expected_failures`` member is invalid (None if absent or valid).

    It maps check ids (a conformance test's name without ``test_``, optionally qualified
    ``[device]``, ``[dtype]`` or ``[device-dtype]``) to the non-empty reason it fails.
    """
    if value is None:
        return None
    prefix = "expected_failures"
    if not isinstance(value, Mapping):
        return f"{prefix} must be a dict {{check id: reason}}, got {value!r}"
    for key, reason in value.items():
        if not isinstance(key, str):
            return f"{prefix} keys must be check ids (str), got {key!r}"
        match = EXPECTED_FAILURE_KEY.fullmatch(key)
        if match is None:
            return (
                f"{prefix} key {key!r} is not a check id such as 'update_follows_rule' "
                "or 'update_follows_rule[cpu-float32]'"
            )
        if key.startswith("test_"):
            return f"{prefix} key {key!r}: write the check id without 'test_'"
        qualifier = match["qualifier"]
        why = qualifier_problem(qualifier) if qualifier else None
        if why:
            return f"{prefix} key {key!r}: {why}"
        if not isinstance(reason, str) or not reason.strip():
            return f"{prefix}[{key!r}] needs a non-empty reason string, got {reason!r}"
    return None


def validate_class(cls: object, name: str) -> None:
    """Raise :class:`ContractError` naming ``name`` if ``cls`` breaks the declared contract."""
    problems = contract_problems(cls)
    if problems:
        raise ContractError(f"implementation {name!r}: " + "; ".join(problems))


def expected_param_names(depths: tuple[int, ...], names: set[str]) -> str | None:
    """Why ``names`` is not a valid parameter set for a net with ``depths`` (None if valid).

    Weights are required (``wm`` exactly when some depth is above 0); each bias is
    optional but only beside its weight.
    """
    required = {"w1", "w2"} | ({"wm"} if max(depths) > 0 else set())
    allowed = required | {BIAS_OF[w] for w in required}
    missing = sorted(required - names)
    unknown = sorted(names - allowed)
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if unknown:
        parts.append(f"unexpected {unknown}")
    if parts:
        return f"{', '.join(parts)} (allowed: {sorted(allowed)}, depths {tuple(depths)})"
    return None
