"""The rule that a test leaves the process as it found it, enforced around every twolayer test.

Registered once implementations are selected, in every process that runs tests. Around the
call of each twolayer test (every check of every concern, and a user's own test that takes
the suite's fixtures) it snapshots the process-global state (see
:mod:`pytest_twolayer.hygiene.state`) and compares it afterwards; anything changed is written
back before the next test runs, and the test fails with the ``global_state_untouched`` verdict
naming each change, before -> after. So a culprit fails its own checks, and its neighbours in
the worker never run in the state it left: their verdicts do not depend on the order.

To tell which call made a change, the guard calls the contract's methods once more on a fresh
instance, watching each. A change that one call makes alone is one verdict, that of the
hygiene check ``global_state_untouched`` for that call (``step() left ...``); every other
test during which it happened keeps its own verdict (:func:`pytest_twolayer.hygiene.state.
verdict` has the rule, which an implementation's host applies too). The ``impl`` fixture
constructs an instance during setup; that construction is watched the same way. A test that
uses ``monkeypatch`` is judged after its teardown, once monkeypatch has undone what it set.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_twolayer.checking.contract_calls import label
from pytest_twolayer.checking.suite import GLOBAL_STATE_CHECK
from pytest_twolayer.hygiene import state
from pytest_twolayer.hygiene.state import Snapshot
from pytest_twolayer.run.collection import CollectedCase, collected_case

IMPLEMENTATION_FIXTURES = ("impl",)
"""Fixtures of the plugin that run an implementation's code during setup (its ``__init__``)."""

UNDOES_AT_TEARDOWN = ("monkeypatch",)
"""Fixtures that undo at teardown what the test set through them (``monkeypatch.setenv``,
``monkeypatch.chdir``): a test that takes one is judged after its teardown."""

_PENDING = pytest.StashKey[Snapshot]()
_JUDGED_APART = pytest.StashKey[frozenset[str]]()


class StateGuard:
    """Snapshot before, compare after, restore, and fail the test that changed something."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        collected = collected_case(item)
        if collected is None:
            return (yield)
        before = state.snapshot()
        if any(name in getattr(item, "fixturenames", ()) for name in UNDOES_AT_TEARDOWN):
            item.stash[_PENDING] = before
            return (yield)
        yield from _judged(item, collected, before)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        before = item.stash.get(_PENDING, None)
        collected = collected_case(item)
        if before is None or collected is None:
            return (yield)
        del item.stash[_PENDING]
        yield from _judged(item, collected, before)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        item = request.node
        collected = collected_case(item) if isinstance(item, pytest.Item) else None
        if fixturedef.argname not in IMPLEMENTATION_FIXTURES or collected is None:
            return (yield)
        before = state.snapshot()
        try:
            value = yield
        except BaseException as failure:
            judge(item, collected, before, failure, who=label("__init__"))
            raise
        judge(item, collected, before, None, who=label("__init__"))
        return value


def _judged(
    item: pytest.Item, collected: CollectedCase, before: Snapshot
) -> Generator[None, None, None]:
    """The rest of a hook wrapper (its hook returns None): the wrapped call, then
    :func:`judge` of what changed since ``before`` (its failure judged the same way)."""
    try:
        yield
    except BaseException as failure:
        judge(item, collected, before, failure)
        raise
    judge(item, collected, before, None)


def judge(
    item: pytest.Item,
    collected: CollectedCase,
    before: Snapshot,
    failure: BaseException | None,
    who: str | None = None,
) -> None:
    """Restore what changed since ``before`` and raise the verdict; nothing when nothing
    changed. What is no ``Exception`` (Ctrl-C, the time limit, pytest's skip, xfail and fail)
    is restored after but not replaced: it says why the test stopped."""
    found = state.changes(before, state.snapshot())
    if not found:
        return
    found = state.restore(before, found)
    if failure is not None and not isinstance(failure, Exception):
        return
    case = collected.case()
    test = str(getattr(item, "originalname", item.name))
    if case is None:
        raise state.StateLeftChanged(
            f"[{GLOBAL_STATE_CHECK}] impl={collected.impl}: {test} left process-global state "
            f"changed: {state.describe(found)}"
        )
    culprits = [who] if who else state.calls_that_change_state(case)
    verdict = state.changed_state_verdict(
        case,
        test,
        found,
        culprits,
        failure,
        watching=watched_call(item),
        judged_apart=judged_apart(item, collected.impl),
    )
    if verdict is not None:
        raise verdict from failure


def watched_call(item: pytest.Item) -> str | None:
    """The contract call whose global-state verdict this test carries (``step``), if it is a
    test of the hygiene check ``global_state_untouched``."""
    collected = collected_case(item)
    if collected is None or not collected.in_suite or collected.check != GLOBAL_STATE_CHECK:
        return None
    callspec = getattr(item, "callspec", None)
    call = callspec.params.get("call") if callspec is not None else None
    return str(call) if call is not None else None


def judged_apart(item: pytest.Item, impl: str) -> bool:
    """Whether this run has the hygiene check ``global_state_untouched`` for ``impl``: then
    that check carries the verdict of a change one call makes, and no other test does."""
    session = item.session
    if _JUDGED_APART not in session.stash:
        session.stash[_JUDGED_APART] = frozenset(
            case.impl
            for case in map(collected_case, session.items)
            if case is not None and case.in_suite and case.check == GLOBAL_STATE_CHECK
        )
    return impl in session.stash[_JUDGED_APART]
