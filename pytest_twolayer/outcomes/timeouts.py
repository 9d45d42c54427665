"""The per-check time limit: a SIGALRM timer around the call of every twolayer test.

A hung implementation (an endless loop, a sleep, a deadlock that waits in Python) fails its
check with the suite's one-line verdict instead of hanging the run. The timer is a signal, so
it interrupts only code that returns to the Python interpreter: a hang inside C code that
never does cannot be stopped this way (run with ``-n`` and pytest-timeout's thread method to
kill those).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType

import pytest

from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.option_table import TIMEOUT
from pytest_twolayer.run.collection import collected_case


class TimeLimitExceeded(BaseException):
    """Raised by the SIGALRM handler inside the hung call.

    A ``BaseException``, so that an implementation's ``except Exception`` cannot swallow it
    (``Case.call`` passes it on too); the wrapper turns it into the check's verdict.
    """


def unavailable_reason() -> str | None:
    """Why a SIGALRM timer cannot limit a test here (None when it can)."""
    if not hasattr(signal, "SIGALRM") or not hasattr(signal, "setitimer"):
        return "this platform has no SIGALRM"
    if threading.current_thread() is not threading.main_thread():
        return "tests do not run on the main thread"
    return None


def debugging() -> bool:
    """Whether a debugger (pdb, ``breakpoint()``, an IDE's pydevd) is tracing the code."""
    module = getattr(sys.gettrace(), "__module__", None) or ""
    return module.split(".")[0] in ("bdb", "pdb") or "pydevd" in module


@contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in the main thread after ``seconds``; disarm the timer
    and restore the previous SIGALRM handler on the way out.

    While a debugger is stepping through the test the limit is postponed, not enforced: time
    at its prompt is not a hang.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        if debugging():
            signal.setitimer(signal.ITIMER_REAL, seconds)
            return
        raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)


def check_label(traceback: TracebackType | None) -> str | None:
    """The label of the check that was running, e.g. ``update_follows_rule``.

    Every check of the suite keeps its label in a local ``check`` beside its ``case`` (or,
    in ``Case`` methods, ``self``); the innermost frame that has both names the check.
    """
    frames = []
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    for frame in reversed(frames):
        local = frame.f_locals
        label = local.get("check")
        if isinstance(label, str) and any(
            isinstance(local.get(name), Case) for name in ("case", "self")
        ):
            return label
    return None


def _verdict(case: Case, check: str, message: str) -> ConformanceFailure:
    try:
        case.fail(check, message)
    except ConformanceFailure as failure:
        return failure


class TimeLimit:
    """Registered once implementations are selected: limits each twolayer test's call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds  # 0: no limit

    def pytest_report_header(self) -> str:
        if not self.seconds:
            return f"twolayer: per-check time limit: off ({TIMEOUT.flag} 0)"
        reason = unavailable_reason()
        if reason is not None:
            return (
                f"twolayer: per-check time limit: none, {reason}; a hung implementation hangs "
                "the run (see the README: When an implementation misbehaves)"
            )
        return f"twolayer: per-check time limit: {self.seconds:g} s ({TIMEOUT.flag})"

    def applies(self, item: pytest.Item) -> bool:
        """A twolayer test, a limit to enforce, a timer to do it, and no other timer running
        (pytest-timeout's signal method arms its own; then that one governs)."""
        return (
            bool(self.seconds)
            and collected_case(item) is not None
            and unavailable_reason() is None
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        )

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if not self.applies(item):
            return (yield)
        try:
            with alarm(self.seconds):
                return (yield)
        except TimeLimitExceeded as exc:
            raise self.failure(item, exc) from None

    def failure(self, item: pytest.Item, exc: TimeLimitExceeded) -> ConformanceFailure:
        """The verdict: the check that ran over, named as the suite names it."""
        message = f"exceeded the per-check time limit of {self.seconds:g} s ({TIMEOUT.flag})"
        test = getattr(item, "originalname", item.name)
        collected = collected_case(item)
        case = collected.case() if collected else None
        if case is not None:
            return _verdict(case, check_label(exc.__traceback__) or test, message)
        name = collected.impl if collected else item.name
        return ConformanceFailure(f"[{test}] impl={name}: {message}")
