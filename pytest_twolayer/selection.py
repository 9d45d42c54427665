"""Turning ``--impl`` and ``--device`` into the cases a run checks."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from pytest_twolayer.case import Case
from pytest_twolayer.devices import unavailable_reason
from pytest_twolayer.options import ImplToken
from pytest_twolayer.registry import RegistrationError, Registry, Spec


@dataclass(frozen=True)
class Declared:
    """What collection needs to know of a class, without importing it again.

    Under pytest-xdist the controller loads every class once and sends each worker this
    record, so a worker imports a framework only when it runs one of its checks.
    """

    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    skip_reasons: dict[str, str | None] = field(default_factory=dict)  # device -> reason
    frameworks: tuple[str, ...] = ()  # what its modules import, for scheduling only
    expected_failures: dict[str, str] = field(default_factory=dict)  # check id -> reason
    optimizer: str = ""  # repr of the declared update, for reports
    depths: tuple[int, ...] = ()

    @classmethod
    def of(cls, implementation: type) -> Declared:
        devices = tuple(str(d) for d in implementation.devices)  # type: ignore[attr-defined]
        return cls(
            devices=devices,
            dtypes=tuple(str(d) for d in implementation.dtypes),  # type: ignore[attr-defined]
            skip_reasons={d: implementation_skip_reason(implementation, d) for d in devices},
            frameworks=frameworks_of(implementation),
            expected_failures=dict(getattr(implementation, "expected_failures", None) or {}),
            optimizer=repr(getattr(implementation, "optimizer", None)),
            depths=tuple(int(d) for d in getattr(implementation, "depths", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "devices": list(self.devices),
            "dtypes": list(self.dtypes),
            "skip_reasons": self.skip_reasons,
            "frameworks": list(self.frameworks),
            "expected_failures": self.expected_failures,
            "optimizer": self.optimizer,
            "depths": list(self.depths),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Declared:
        return cls(
            tuple(data["devices"]),
            tuple(data["dtypes"]),
            dict(data["skip_reasons"]),
            tuple(data["frameworks"]),
            dict(data["expected_failures"]),
            str(data["optimizer"]),
            tuple(data["depths"]),
        )


FRAMEWORKS = ("torch", "tensorflow", "jax", "cupy")
"""Packages whose import dominates a worker's start-up (seconds each)."""


def frameworks_of(implementation: type) -> tuple[str, ...]:
    """The heavy frameworks the modules defining ``implementation`` (and its bases) import."""
    found: set[str] = set()
    for klass in implementation.__mro__:
        module = sys.modules.get(klass.__module__)
        for value in vars(module).values() if module else ():
            name = getattr(value, "__name__", "") if isinstance(value, ModuleType) else ""
            top = name.partition(".")[0]
            if top in FRAMEWORKS:
                found.add(top)
    return tuple(sorted(found))


@dataclass
class Loaded:
    """A selected implementation: what it declares, or the one-line reason it failed to load.

    ``cls`` imports the class on first use (a worker that never runs it never imports it).
    """

    spec: Spec
    declared: Declared | None
    error: str | None = None
    _cls: type | None = field(default=None, repr=False, compare=False)

    @property
    def cls(self) -> type | None:
        if self.declared is None:
            return None
        if self._cls is None:
            self._cls = self.spec.load()
        return self._cls

    @classmethod
    def load(cls, spec: Spec) -> Loaded:
        """Import ``spec`` now; a failure is kept as the error."""
        try:
            implementation = spec.load()
        except RegistrationError as exc:
            return cls(spec, None, str(exc))
        return cls(spec, Declared.of(implementation), None, implementation)


@dataclass(frozen=True)
class CaseParam:
    """A collected case: resolved into a :class:`Case` (importing the class) at setup."""

    loaded: Loaded
    device: str
    dtype: str
    seed: int

    def case(self) -> Case:
        try:
            cls = self.loaded.cls
        except RegistrationError as exc:
            pytest.fail(str(exc), pytrace=False)
        assert cls is not None  # only implementations that declared something have cases
        return Case(self.loaded.spec.name, cls, self.device, self.dtype, self.seed)


def case_id(name: str, device: str, dtype: str) -> str:
    """The test id of one case; :mod:`pytest_twolayer.nodeids` parses it back."""
    return f"{name}-{device}-{dtype}"


@dataclass(frozen=True)
class Selection:
    """What this run checks: implementations, devices (with why one is absent) and the seed."""

    implementations: list[Loaded]
    devices: dict[str, str | None]  # device -> reason it is unavailable, None if present
    seed: int

    def cases(self, which_dtypes: str) -> list[object]:
        """``pytest.param`` objects, one per implementation x device x dtype that applies.

        ``which_dtypes`` is ``"all"`` (every declared dtype) or ``"training"`` (the first).
        A device that is absent, or that the implementation says it cannot use here, is a
        skip with its reason; a device the implementation does not declare is not a case.
        """
        params: list[object] = []
        for loaded in self.implementations:
            declared = loaded.declared
            if declared is None:
                continue
            dtypes = declared.dtypes if which_dtypes == "all" else declared.dtypes[:1]
            for device, absent in self.devices.items():
                if device not in declared.devices:
                    continue
                reason = absent or declared.skip_reasons.get(device)
                marks = [pytest.mark.skip(reason=f"{device}: {reason}")] if reason else []
                for dtype in dtypes:
                    param = CaseParam(loaded, device, dtype, self.seed)
                    params.append(
                        pytest.param(
                            param, id=case_id(loaded.spec.name, device, dtype), marks=marks
                        )
                    )
        return params

    def to_json(self) -> dict[str, Any]:
        """What a worker needs to collect the same cases without importing anything."""
        return {
            "declared": {
                i.spec.name: None if i.declared is None else i.declared.to_json()
                for i in self.implementations
            },
            "errors": {i.spec.name: i.error for i in self.implementations},
            "devices": self.devices,
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, registry: Registry, data: dict[str, Any]) -> Selection:
        """The controller's selection, rebuilt on a worker from the same registry."""
        implementations = [
            Loaded(
                registry.get(name),
                None if declared is None else Declared.from_json(declared),
                data["errors"][name],
            )
            for name, declared in data["declared"].items()
        ]
        return cls(implementations, dict(data["devices"]), int(data["seed"]))


def implementation_skip_reason(cls: type, device: str) -> str | None:
    """The optional ``skip_reason(device)`` classmethod's answer (None when absent)."""
    hook = getattr(cls, "skip_reason", None)
    if hook is None:
        return None
    try:
        reason = hook(device)
    except Exception as exc:  # a broken optional member must not take the run down
        return f"skip_reason({device!r}) raised {type(exc).__name__}: {exc}"
    return None if reason is None else str(reason)


def chosen_names(registry: Registry, tokens: list[ImplToken], *, verify: bool = True) -> list[str]:
    """The registered names ``--impl`` asks for, in order; command-line targets are
    registered on the way (and, with ``verify``, imported so that a bad path is a usage
    error; an xdist worker skips that: its controller has verified them).

    Names typed on the command line must exist and import paths must import: otherwise
    :class:`pytest.UsageError` (exit code 4) naming the culprit and what is available.
    """
    chosen: list[str] = []
    for token in tokens:
        if token.target is not None:
            try:
                registry.add(token.name, token.target, source="command line")
                if verify:
                    registry.get(token.name).load()
            except RegistrationError as exc:
                available = ", ".join(n for n in registry.names() if n != token.name)
                raise pytest.UsageError(
                    f"--impl {token.target}: {exc} (registered: {available or 'none'})"
                ) from None
            names = [token.name]
        elif token.name == "all":
            names = registry.names()
        elif token.name in registry:
            names = [token.name]
        else:
            available = ", ".join(registry.names()) or "none registered"
            raise pytest.UsageError(
                f"--impl: unknown implementation {token.name!r}; available: {available} "
                "(or give package.module:Class)"
            )
        chosen.extend(name for name in names if name not in chosen)
    return chosen


def select(registry: Registry, tokens: list[ImplToken]) -> list[Loaded]:
    """Resolve ``--impl`` tokens against ``registry`` and load each implementation.

    A registered implementation that fails to load is kept as a :class:`Loaded` with its
    error, so it fails its own check while the others run.
    """
    return [Loaded.load(registry.get(name)) for name in chosen_names(registry, tokens)]


def resolve_devices(requested: list[str], implementations: list[Loaded]) -> dict[str, str | None]:
    """Devices to run on and why each is absent; explicit requests must be present.

    By default: cpu, plus cuda when a selected implementation declares it (asking whether
    cuda is present imports a framework, which a numpy-only run should not pay for).
    """
    if requested:
        devices = {device: unavailable_reason(device) for device in requested}
        missing = {d: r for d, r in devices.items() if r is not None}
        if missing:
            device, reason = next(iter(missing.items()))
            raise pytest.UsageError(f"--device {device} was asked for but {reason}")
        return devices
    default: dict[str, str | None] = {"cpu": None}
    if any(i.declared and "cuda" in i.declared.devices for i in implementations):
        default["cuda"] = unavailable_reason("cuda")
    return default
