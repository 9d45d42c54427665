"""What a run checks: ``--impl`` resolved to implementations (loaded or described), the
devices to run on, and the seed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from pytest_twolayer.host.machine import framework_cuda_reason, unavailable_reason
from pytest_twolayer.option_table import DEVICE, IMPL
from pytest_twolayer.run.registry import ALL, COMMAND_LINE, RegistrationError, Registry, Spec
from pytest_twolayer.spec.contract import KNOWN_DEVICES, TwoLayerImplementation


@dataclass(frozen=True)
class ImplToken:
    """One item of ``--impl``: a name, ``all``, or an import path with an optional name."""

    name: str
    target: str | None = None  # "package.module:Class" when given on the command line


def parse_impl(values: list[str]) -> list[ImplToken]:
    """Split every ``--impl`` value on commas into tokens, keeping their order."""
    tokens: list[ImplToken] = []
    for value in values:
        for raw in value.split(","):
            item = raw.strip()
            if not item:
                continue
            if ":" in item:
                name, sep, target = item.partition("=")
                if not sep:
                    name, target = item, item
                tokens.append(ImplToken(name.strip(), target.strip()))
            else:
                tokens.append(ImplToken(item))
    return tokens


def parse_devices(values: list[str]) -> list[str]:
    """The devices named in ``--device``; ValueError names an unknown one."""
    devices: list[str] = []
    for value in values:
        for raw in value.split(","):
            device = raw.strip()
            if not device:
                continue
            if device not in KNOWN_DEVICES:
                known = ", ".join(KNOWN_DEVICES)
                raise ValueError(f"{DEVICE.flag}: unknown device {device!r}; choose from {known}")
            if device not in devices:
                devices.append(device)
    return devices


@dataclass(frozen=True)
class Declared:
    """What collection needs to know of a class, without importing it again.

    Under pytest-xdist the controller loads every class once and sends each worker this
    record, so a worker imports a framework only when it runs one of its checks.
    """

    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    skip_reasons: dict[str, str | None] = field(default_factory=dict)  # device -> reason
    frameworks: tuple[str, ...] = ()  # what its modules import: scheduling, cuda's reason
    expected_failures: dict[str, str] = field(default_factory=dict)  # check id -> reason
    optimizer: str = ""  # repr of the declared update, for reports
    depths: tuple[int, ...] = ()

    @classmethod
    def of(cls, implementation: type[TwoLayerImplementation]) -> Declared:
        devices = tuple(str(d) for d in implementation.devices)
        frameworks = frameworks_of(implementation)
        return cls(
            devices=devices,
            dtypes=tuple(str(d) for d in implementation.dtypes),
            skip_reasons={d: device_skip_reason(implementation, d, frameworks) for d in devices},
            frameworks=frameworks,
            expected_failures=dict(getattr(implementation, "expected_failures", None) or {}),
            optimizer=repr(implementation.optimizer),
            depths=tuple(int(d) for d in implementation.depths),
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


HEAVY_FRAMEWORKS = ("torch", "tensorflow", "jax", "cupy")
"""Packages whose import dominates a worker's start-up (seconds each)."""


def frameworks_of(implementation: type[TwoLayerImplementation]) -> tuple[str, ...]:
    """The heavy frameworks the modules defining ``implementation`` (and its bases) import."""
    found: set[str] = set()
    for klass in implementation.__mro__:
        module = sys.modules.get(klass.__module__)
        for value in vars(module).values() if module else ():
            name = getattr(value, "__name__", "") if isinstance(value, ModuleType) else ""
            top = name.partition(".")[0]
            if top in HEAVY_FRAMEWORKS:
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
    _cls: type[TwoLayerImplementation] | None = field(default=None, repr=False, compare=False)
    load_elsewhere: Callable[[Spec], Loaded] | None = field(default=None, repr=False, compare=False)
    """How to load the class when it is first used, where it is not to be imported here (an
    implementation host: ``--twolayer-isolation process``); None: import it here."""

    @property
    def cls(self) -> type[TwoLayerImplementation] | None:
        if self.declared is None:
            return None
        if self._cls is None and self.load_elsewhere is not None:
            loaded = self.load_elsewhere(self.spec)
            if loaded.error is not None:
                raise RegistrationError(loaded.error)
            self._cls = loaded._cls
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
class Selection:
    """What this run checks: implementations, devices (with why one is absent) and the seed."""

    implementations: list[Loaded]
    devices: dict[str, str | None]  # device -> reason it is unavailable, None if present
    seed: int

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


def device_skip_reason(
    cls: type[TwoLayerImplementation], device: str, frameworks: tuple[str, ...]
) -> str | None:
    """Why ``cls`` cannot run on ``device`` here: its own ``skip_reason``, else, for cuda, what
    the frameworks it imports say (all of them must refuse: it may use any). None: it can, as
    far as it and its frameworks know (an absent device is still skipped, for that reason)."""
    own = implementation_skip_reason(cls, device)
    if own is not None or device != "cuda" or not frameworks:
        return own
    reasons = [framework_cuda_reason(framework) for framework in frameworks]
    if any(reason is None for reason in reasons):
        return None
    return "; ".join(dict.fromkeys(r for r in reasons if r)) or None


def implementation_skip_reason(cls: type[TwoLayerImplementation], device: str) -> str | None:
    """The optional ``skip_reason(device)`` classmethod's answer (None when absent)."""
    hook = getattr(cls, "skip_reason", None)
    if hook is None:
        return None
    try:
        reason = hook(device)
    except Exception as exc:  # a broken optional member must not take the run down
        return f"skip_reason({device!r}) raised {type(exc).__name__}: {exc}"
    return None if reason is None else str(reason)


def chosen_names(registry: Registry, tokens: list[ImplToken]) -> list[str]:
    """The registered names ``--impl`` asks for, in order; command-line targets are
    registered on the way (nothing is imported).

    A name typed on the command line must exist: otherwise :class:`pytest.UsageError`
    (exit code 4) naming it and what is available.
    """
    chosen: list[str] = []
    for token in tokens:
        if token.target is not None:
            try:
                registry.add(token.name, token.target, source=COMMAND_LINE)
            except RegistrationError as exc:
                raise pytest.UsageError(
                    _target_error(registry, token.name, token.target, exc)
                ) from None
            names = [token.name]
        elif token.name == ALL:
            names = registry.names()
        elif token.name in registry:
            names = [token.name]
        else:
            available = ", ".join(registry.names()) or "none registered"
            raise pytest.UsageError(
                f"{IMPL.flag}: unknown implementation {token.name!r}; available: {available} "
                "(or give package.module:Class)"
            )
        chosen.extend(name for name in names if name not in chosen)
    return chosen


def verify_targets(
    registry: Registry, selected: list[str], load: Callable[[Spec], Loaded] | None = None
) -> None:
    """Load every implementation of ``selected`` (the names :func:`chosen_names` resolved)
    that the command line registered as ``package.module:Class`` (``load``: how; by default
    here): one that does not import, or breaks the declared contract, is a usage error."""
    for name in selected:
        spec = registry.get(name)
        if spec.source != COMMAND_LINE:
            continue
        if load is not None:
            error = load(spec).error
        else:
            try:
                spec.load()
                error = None
            except RegistrationError as exc:
                error = str(exc)
        if error is not None:
            raise pytest.UsageError(_target_error(registry, name, spec.target, error))


def _target_error(registry: Registry, name: str, target: str, exc: RegistrationError | str) -> str:
    available = ", ".join(n for n in registry.names() if n != name)
    return f"{IMPL.flag} {target}: {exc} (registered: {available or 'none'})"


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
            raise pytest.UsageError(f"{DEVICE.flag} {device} was asked for but {reason}")
        return devices
    default: dict[str, str | None] = {"cpu": None}
    if any(i.declared and "cuda" in i.declared.devices for i in implementations):
        default["cuda"] = unavailable_reason("cuda")
    return default
