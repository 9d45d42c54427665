"""Turning ``--impl`` and ``--device`` into the cases a run checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pytest_twolayer.case import Case
from pytest_twolayer.devices import unavailable_reason
from pytest_twolayer.options import ImplToken
from pytest_twolayer.registry import RegistrationError, Registry, Spec


@dataclass(frozen=True)
class Loaded:
    """A selected implementation: its class, or the one-line reason it could not be loaded."""

    spec: Spec
    cls: type | None
    error: str | None = None


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
            cls = loaded.cls
            if cls is None:
                continue
            declared_dtypes = tuple(cls.dtypes)  # type: ignore[attr-defined]
            dtypes = declared_dtypes if which_dtypes == "all" else declared_dtypes[:1]
            for device, absent in self.devices.items():
                if device not in cls.devices:  # type: ignore[attr-defined]
                    continue
                reason = absent or implementation_skip_reason(cls, device)
                marks = [pytest.mark.skip(reason=f"{device}: {reason}")] if reason else []
                for dtype in dtypes:
                    case = Case(loaded.spec.name, cls, device, str(dtype), self.seed)
                    params.append(
                        pytest.param(case, id=f"{loaded.spec.name}-{device}-{dtype}", marks=marks)
                    )
        return params


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


def select(registry: Registry, tokens: list[ImplToken]) -> list[Loaded]:
    """Resolve ``--impl`` tokens against ``registry``.

    Names typed on the command line must exist and import paths must import: otherwise
    :class:`pytest.UsageError` (exit code 4) naming the culprit and what is available.
    A registered implementation that fails to load is kept as a :class:`Loaded` with its
    error, so it fails its own check while the others run.
    """
    chosen: list[str] = []
    for token in tokens:
        if token.target is not None:
            try:
                registry.add(token.name, token.target, source="command line")
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
    loaded: list[Loaded] = []
    for name in chosen:
        spec = registry.get(name)
        try:
            loaded.append(Loaded(spec, spec.load()))
        except RegistrationError as exc:
            loaded.append(Loaded(spec, None, str(exc)))
    return loaded


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
    if any("cuda" in getattr(i.cls, "devices", ()) for i in implementations if i.cls):
        default["cuda"] = unavailable_reason("cuda")
    return default
