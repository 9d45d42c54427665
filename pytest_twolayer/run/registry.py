"""The registry of implementations: entry points, the register hook and import paths."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

from pytest_twolayer.host.framework_logs import filtered_stderr
from pytest_twolayer.host.heap import imports_outside_the_collector
from pytest_twolayer.spec.contract import TwoLayerImplementation, validate_class

ENTRY_POINT_GROUP = "twolayer.implementations"

ENTRY_POINT = "entry point"
REGISTER_HOOK = "register hook"
COMMAND_LINE = "command line"
"""Where a registration came from (a :class:`Spec`'s ``source``)."""

ALL = "all"
"""The ``--impl`` item that selects every registered implementation: no implementation's name."""

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
NAME_RULE = (
    "letters, digits, '_', '.' and '-', not starting with '.' or '-' (as an entry point's name)"
)
"""A registered name appears in test ids, ``-k`` expressions and the commands the plugin prints
for a user to paste: this charset needs no shell quoting and no escaping in ``-k``."""

IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", re.ASCII)
"""``package.module:Class``: the name of a command-line registration that was given none."""


class RegistrationError(Exception):
    """An implementation could not be registered or loaded; the message is one line."""


@dataclass(frozen=True)
class Spec:
    """One registered implementation: its name, where it came from and how to load it."""

    name: str
    target: str  # "package.module:Class", or the class's qualified name when given as a class
    source: str  # ENTRY_POINT, REGISTER_HOOK or COMMAND_LINE
    loader: Callable[[], object] = field(compare=False, repr=False)
    refusal: str | None = field(default=None, compare=False)
    """Why it cannot be loaded at all (a name clash, an invalid name): known without importing."""

    @property
    def selector(self) -> str:
        """The ``--impl`` item that selects this implementation again in a new run from the
        same folder: its name (its entry point or register hook registers it again), or,
        for a command-line registration, the import path that made it."""
        if self.source != COMMAND_LINE:
            return self.name
        return self.target if self.name == self.target else f"{self.name}={self.target}"

    def load(self) -> type[TwoLayerImplementation]:
        """The implementation class, checked against the declared contract.

        Raises :class:`RegistrationError` with a one-line message naming the culprit.
        """
        try:
            # Importing it may import a framework, which logs and makes millions of objects.
            with filtered_stderr(), imports_outside_the_collector():
                cls = self.loader()
        except RegistrationError:
            raise
        except Exception as exc:  # whatever the user's import raises, report it as one line
            raise RegistrationError(
                f"implementation {self.name!r} ({self.source} {self.target}) failed to load: "
                f"{type(exc).__name__}: {_one_line(exc)}"
            ) from exc
        try:
            validate_class(cls, self.name)
        except ValueError as exc:
            raise RegistrationError(f"{exc} [{self.source} {self.target}]") from exc
        # validate_class has checked every declared member: the class conforms.
        return cast("type[TwoLayerImplementation]", cls)


def name_problem(name: object, target: str, source: str) -> str | None:
    """Why ``name`` cannot name the implementation ``target`` (None when it can), in one line
    naming both. A command-line import path given without a name is named by the path."""
    if isinstance(name, str) and NAME.fullmatch(name) and name != ALL:
        return None
    if source == COMMAND_LINE and name == target and IMPORT_PATH.fullmatch(target):
        return None
    why = f"{ALL!r} selects every implementation" if name == ALL else f"use {NAME_RULE}"
    return f"invalid implementation name {name!r} for {target} ({source}): {why}"


def _refusal(message: str) -> Callable[[], object]:
    """A loader that fails with ``message``: the spec stays listed and its check says why."""

    def refuse() -> object:
        raise RegistrationError(message)

    return refuse


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"


def import_path_loader(target: str) -> Callable[[], object]:
    """A loader for ``package.module:Class`` (``Class`` may be dotted, e.g. ``Outer.Inner``)."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise RegistrationError(
            f"{target!r} is not an import path of the form package.module:Class"
        )

    def load() -> object:
        try:
            obj: object = importlib.import_module(module_name)
        except Exception as exc:
            raise RegistrationError(
                f"cannot import {module_name!r} for {target!r}: {type(exc).__name__}: "
                f"{_one_line(exc)}"
            ) from exc
        for part in attribute.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise RegistrationError(
                    f"module {module_name!r} has no attribute {attribute!r} (from {target!r})"
                ) from None
        return obj

    return load


class Registry:
    """Name -> :class:`Spec`; a name registered twice becomes an error naming both sources.

    Handed to the ``pytest_twolayer_register(registry)`` hook; ``add`` is its public API.
    """

    def __init__(self) -> None:
        self._specs: dict[str, Spec] = {}
        self._conflicts: dict[str, list[Spec]] = {}

    def add(self, name: str, implementation: type | str, *, source: str = REGISTER_HOOK) -> None:
        """Register ``implementation`` (a class or ``"package.module:Class"``) as ``name``.

        ``name`` is made of letters, digits, ``_``, ``.`` and ``-`` (see :data:`NAME`);
        anything else raises :class:`RegistrationError`, naming the name and the class.
        """
        if isinstance(implementation, str):
            target = implementation
        else:
            target = f"{implementation.__module__}:{implementation.__qualname__}"
        problem = name_problem(name, target, source)
        if problem is not None:
            raise RegistrationError(problem)
        if isinstance(implementation, str):
            spec = Spec(name, implementation, source, import_path_loader(implementation))
        else:
            spec = Spec(name, target, source, lambda: implementation)
        existing = self._specs.get(name)
        if existing is not None and existing.target != spec.target:
            self._conflicts.setdefault(name, [existing]).append(spec)
            return
        self._specs[name] = spec

    def add_entry_points(self, entry_points: Iterable[importlib.metadata.EntryPoint]) -> None:
        """Register each entry point lazily: nothing is imported until the spec is loaded. One
        whose name is outside :data:`NAME` is kept as a spec that fails to load, saying why
        (another distribution's mistake must not stop the run)."""
        for entry_point in entry_points:
            problem = name_problem(entry_point.name, entry_point.value, ENTRY_POINT)
            loader = entry_point.load if problem is None else _refusal(problem)
            spec = Spec(entry_point.name, entry_point.value, ENTRY_POINT, loader, problem)
            existing = self._specs.get(spec.name)
            if existing is not None and existing.target != spec.target:
                self._conflicts.setdefault(spec.name, [existing]).append(spec)
            else:
                self._specs[spec.name] = spec

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._specs)

    def get(self, name: str) -> Spec:
        """The spec registered as ``name``; a conflicting name yields a spec that fails to load."""
        conflict = self._conflicts.get(name)
        if conflict:
            sources = "; ".join(f"{s.source} {s.target}" for s in conflict)
            message = (
                f"implementation {name!r} is registered twice with different classes: {sources}"
            )
            source, target = conflict[0].source, conflict[0].target
            return Spec(name, target, source, _refusal(message), message)
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)


def installed_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The ``twolayer.implementations`` entry points of every installed distribution."""
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
