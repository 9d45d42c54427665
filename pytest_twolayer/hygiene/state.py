"""Process-global state: a snapshot of every watched setting, what changed between two, and
setting it back; and the rule that a test leaves the process as it found it, as a verdict.

Several implementations share a process (``-n 0`` runs them all in one; an xdist worker runs
several in turn), so a verdict belongs to the implementation it names only if no check leaves
the process changed: torch's grad mode left off makes the next implementation's
``backward()`` fail, a default dtype or a TF32 flag changes its numbers, a thread count its
timings. :func:`snapshot` reads every setting of :mod:`pytest_twolayer.hygiene.watched` whose
framework is already imported (reading never imports one: that costs seconds and would itself
change the run), :func:`changes` names what differs, :func:`restore` writes the old values
back and says what could not be.

The plugin applies this around every twolayer test (:mod:`pytest_twolayer.hygiene.guard`);
:func:`left_as_found` runs one check the same way without pytest, for reproduction snippets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.checking.contract_calls import contract_calls, label
from pytest_twolayer.checking.suite import GLOBAL_STATE_CHECK
from pytest_twolayer.hygiene.watched import (
    ENVIRONMENT,
    RANDOM,
    STATE_CHANGING_IMPORTS,
    WATCHED_SETTINGS,
    Unreadable,
    WatchedSetting,
    ignored,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """One setting that differs: ``torch grad mode True -> False``."""

    setting: str  # the :class:`WatchedSetting`'s name
    what: str  # what changed: the setting, or one environment variable
    before: str
    after: str
    restored: bool = True
    problem: str = ""  # why it could not be set back
    plainly: str = ""  # what happened in words, where the values say little (an RNG's state)

    def __str__(self) -> str:
        # A generator's state before and after is two fingerprints: the words say more.
        text = self.plainly or f"{self.what} {self.before} -> {self.after}"
        return text if self.restored else f"{text} (could not be restored: {self.problem})"


@dataclass(frozen=True)
class Snapshot:
    """The value of every setting readable when it was taken, and the frameworks loaded."""

    values: dict[str, Any]
    frameworks: frozenset[str]


_BY_NAME = {setting.name: setting for setting in WATCHED_SETTINGS}
_VARIABLE = "environment variable "  # how a change of one variable is named


def snapshot() -> Snapshot:
    """Read every setting of Python, numpy and each framework already imported."""
    values: dict[str, Any] = {}
    for setting in WATCHED_SETTINGS:
        if setting.needs is not None and setting.needs not in sys.modules:
            continue
        if setting.available():
            values[setting.name] = setting.value()
    return Snapshot(values, frozenset(m for m in STATE_CHANGING_IMPORTS if m in sys.modules))


def changes(before: Snapshot, after: Snapshot) -> list[Change]:
    """What differs between two snapshots, setting by setting (variable by variable for the
    environment); a setting read in only one of them (its framework appeared) is not compared,
    and a framework's first import may add environment variables and draw from ``random``."""
    imported = after.frameworks - before.frameworks
    found: list[Change] = []
    for name, old in before.values.items():
        if name not in after.values:
            continue
        new, setting = after.values[name], _BY_NAME[name]
        if name == ENVIRONMENT:
            if old != new:  # the common case costs one dict comparison
                found += _environment_changes(old, new, additions_allowed=bool(imported))
        elif name == RANDOM and imported:
            continue
        elif not setting.equal(old, new):
            found.append(
                Change(
                    name, name, _shown(setting, old), _shown(setting, new),
                    plainly=_plainly(setting, old, new),
                )
            )  # fmt: skip
    return found


def _plainly(setting: WatchedSetting, old: Any, new: Any) -> str:
    if setting.explain is None or isinstance(old, Unreadable) or isinstance(new, Unreadable):
        return ""
    return setting.explain(old, new)


def _shown(setting: WatchedSetting, value: Any) -> str:
    return repr(value) if isinstance(value, Unreadable) else setting.show(value)


def _environment_changes(
    before: Mapping[str, str], after: Mapping[str, str], *, additions_allowed: bool
) -> Iterator[Change]:
    for name in sorted(set(before) | set(after)):
        if ignored(name) or before.get(name) == after.get(name):
            continue
        if additions_allowed and name not in before:
            continue
        was, now = before.get(name), after.get(name)
        yield Change(
            ENVIRONMENT,
            f"{_VARIABLE}{name}",
            "unset" if was is None else repr(was),
            "unset" if now is None else repr(now),
        )


def restore(before: Snapshot, found: list[Change]) -> list[Change]:
    """Set back every setting in ``found`` (in :data:`WATCHED_SETTINGS` order), then read everything
    again: a setting that setting back another changed (torch links its TF32 flags) is set
    back too, for up to three rounds. Returns ``found``, each marked with whether it was
    undone, and any other setting that could not be kept as it was."""
    after = snapshot()
    targets: dict[str, Any] = {c.setting: before.values[c.setting] for c in found}
    if ENVIRONMENT in targets:  # only the variables found: a framework's additions stay
        targets[ENVIRONMENT] = _environment_target(before, after, found)
    problems: dict[str, str] = {}
    for _ in range(3):
        for setting in WATCHED_SETTINGS:
            target = targets.get(setting.name, _MISSING)
            if target is _MISSING or setting.equal(target, setting.value()):
                continue
            try:
                setting.write(target)
            except Exception as exc:  # e.g. torch's inter-op threads, once set, stay set
                problems[setting.name] = f"{type(exc).__name__}: {str(exc).strip()[:120]}"
        now = snapshot()
        moved = {
            name: value
            for name, value in after.values.items()
            if name not in targets
            and name in now.values
            and not _BY_NAME[name].equal(value, now.values[name])
        }
        if not moved:
            break
        targets.update(moved)
    now = snapshot()
    result = []
    for change in found:
        if _undone(change, targets[change.setting], now):
            result.append(change)
        else:
            problem = problems.get(change.setting, "it reads back changed")
            result.append(Change(change.setting, change.what, change.before, change.after,
                                 restored=False, problem=problem,
                                 plainly=change.plainly))  # fmt: skip
    for name, target in targets.items():
        setting = _BY_NAME[name]
        if name in {c.setting for c in found} or setting.equal(target, now.values.get(name)):
            continue
        problem = problems.get(name, "changed when the others were set back")
        result.append(Change(name, name, _shown(setting, target), _shown(setting, now.values[name]),
                             restored=False, problem=problem))  # fmt: skip
    return result


_MISSING = object()


def _environment_target(before: Snapshot, after: Snapshot, found: list[Change]) -> dict[str, str]:
    """The environment as it is, with each variable in ``found`` as it was."""
    was: Mapping[str, str] = before.values[ENVIRONMENT]
    target = dict(after.values[ENVIRONMENT])
    for change in found:
        if change.setting == ENVIRONMENT:
            variable = change.what.removeprefix(_VARIABLE)
            if variable in was:
                target[variable] = was[variable]
            else:
                target.pop(variable, None)
    return target


def _undone(change: Change, target: Any, now: Snapshot) -> bool:
    value = now.values.get(change.setting, _MISSING)
    if value is _MISSING:
        return False
    if change.setting == ENVIRONMENT:
        variable = change.what.removeprefix(_VARIABLE)
        return bool(target.get(variable) == value.get(variable))
    return _BY_NAME[change.setting].equal(target, value)


# --- the rule, as one verdict ----------------------------------------------------------------


def describe(found: list[Change]) -> str:
    """The changes in one line: ``torch grad mode True -> False; working directory ...``."""
    return "; ".join(str(change) for change in found)


class StateLeftChanged(ConformanceFailure):
    """The ``global_state_untouched`` verdict: a test left process-global state changed."""


def state_left_changed(
    case: Case, who: str, found: list[Change] | str, failure: BaseException | None = None
) -> StateLeftChanged:
    """The verdict on ``case`` for the changes ``found`` during ``who`` (a method, a check),
    one line; ``found`` may come described already (by an implementation host); ``failure``
    is what the test raised besides, if anything (often a consequence: the next
    ``backward()`` after grad mode was turned off)."""
    described = found if isinstance(found, str) else describe(found)
    message = f"{who} left process-global state changed: {described}"
    if failure is not None:
        message += f" (the test also failed: {first_line(case, failure)})"
    try:
        case.fail(GLOBAL_STATE_CHECK, message)
    except ConformanceFailure as failure_:
        return StateLeftChanged(str(failure_))


def changed_state_verdict(
    case: Case,
    test: str,
    found: list[Change] | str,
    culprits: list[str],
    failure: BaseException | None,
    *,
    watching: str | None,
    judged_apart: bool,
) -> StateLeftChanged | None:
    """The one rule for a test during which the state changed (``found``), in one process and
    in an implementation's host alike, so both give the same verdict.

    A change one contract call makes alone (``culprits``) is one verdict, the hygiene check's
    for that call (``watching`` in the test of that call; None in any other test); every
    other test keeps its own verdict (the state was restored after it). Where nothing judges
    it apart (that check is not in the run, ``judged_apart`` False) or no single call makes
    it (a user's own test, a change that needs several calls), the test that made it fails.
    """
    if watching is not None:
        if label(watching) in culprits:
            return state_left_changed(case, label(watching), found, failure)
        return None if culprits else state_left_changed(case, test, found, failure)
    if culprits and judged_apart:
        return None
    return state_left_changed(case, " and ".join(culprits) or test, found, failure)


def first_line(case: Case, failure: BaseException) -> str:
    """A failure in one line, without the case it names again
    (``[update_follows_rule] step() ...``)."""
    text = (str(failure).strip().splitlines() or [""])[0]
    if not isinstance(failure, ConformanceFailure):
        return f"{type(failure).__name__}: {text}" if text else type(failure).__name__
    label, _, rest = text.partition(" ")
    return f"{label} {rest.removeprefix(case.where() + ': ')}"


def calls_that_change_state(case: Case) -> list[str]:
    """The calls (``__init__()``, ``step()``) that, made once more on a fresh instance in the
    order the contract lists the methods (:func:`pytest_twolayer.checking.contract_calls`),
    leave the state changed (each call's change is undone before the next); empty when none
    does alone (the test's own code, or a change that needs more calls)."""
    culprits: list[str] = []
    for call, make in contract_calls(case):
        before = snapshot()
        try:
            make()
        except Exception:
            failed = True
        else:
            failed = False
        found = changes(before, snapshot())
        if found:
            restore(before, found)
            if label(call) not in culprits:
                culprits.append(label(call))
        if failed:
            break
    return culprits


def left_as_found(check: Callable[..., T], case: Case, **arguments: Any) -> T:
    """``check(case, **arguments)`` judged as the plugin judges every twolayer test: if it
    left the process changed, the state is restored and the ``global_state_untouched`` verdict
    raised (for reproduction snippets, without pytest)."""
    before = snapshot()
    try:
        result = check(case, **arguments)
    except Exception as failure:
        _judge(case, check.__name__, before, failure)
        raise
    _judge(case, check.__name__, before, None)
    return result


def _judge(case: Case, check: str, before: Snapshot, failure: BaseException | None) -> None:
    found = changes(before, snapshot())
    if found:
        found = restore(before, found)
        who = " and ".join(calls_that_change_state(case)) or check
        raise state_left_changed(case, who, found, failure) from failure
