"""What the benchmark needs of an implementation whose calls run in another process.

With sealed verdicts (docs/trust.md) the checks call a stand-in whose every call crosses to
the implementation's host. The timer stays on the judging side, so a timed step also carries
one crossing (the request there and the losses back); the benchmark measures that crossing on
the same clock, between two timed rounds, and does not charge it to the implementation. The
crossing taken off is capped by round trips timed before the implementation was imported
(its code can slow its own round trips down, never those). Steps are timed in rounds of
several, made back to back there: a step that follows a crossing finds its CPU woken from idle
and its caches cold, which no empty round trip measures, and a round pays that once. The
device is synced where the work runs, and the memory and page faults are the host's.
"""

from __future__ import annotations

import abc
import statistics
import time
from typing import Any


class Remote(abc.ABC):
    """An instance whose contract calls are made in another process.

    The methods are named so that no implementation's own method can be mistaken for them;
    only the sealed layer's stand-ins derive from this class.
    """

    @abc.abstractmethod
    def _twolayer_round_trip(self, *args: Any) -> None:
        """One crossing carrying ``args`` there and nothing back, calling nothing of the
        implementation: what a timed step costs beyond the step itself."""

    @abc.abstractmethod
    def _twolayer_steps(
        self, device: str, count: int, *args: Any
    ) -> tuple[list[Any], Exception | None]:
        """A timed round: ``count`` steps made there back to back, each followed by a sync of
        ``device``; returns the losses, and what the step after the last loss raised (None if
        none raised)."""

    @abc.abstractmethod
    def _twolayer_crossing_bound(self) -> float:
        """The most a round trip may be taken to cost, in seconds: measured before the
        implementation was imported, so that its code cannot have made it slower."""

    @abc.abstractmethod
    def _twolayer_memory(self, device: str) -> list[int]:
        """The memory sources of :func:`.memory.sources` read in the other process."""

    @abc.abstractmethod
    def _twolayer_minor_faults(self) -> int:
        """The other process's minor page faults so far."""


class CrossingClock:
    """Round trips of one remote instance, timed on this process's clock."""

    def __init__(self, remote: Remote, *args: Any) -> None:
        self.remote, self.args = remote, args
        self.samples: list[float] = []
        # Bound now: a module the judging process imports later cannot swap the clock.
        self._clock = time.perf_counter

    def sample(self) -> None:
        start = self._clock()
        self.remote._twolayer_round_trip(*self.args)
        self.samples.append(self._clock() - start)

    def median(self) -> float:
        """The median round trip, never above the bound the host's trusted start measured:
        a host that answers round trips slowly would otherwise have more taken off its
        steps than a round trip costs."""
        if not self.samples:
            return 0.0
        return min(statistics.median(self.samples), self.remote._twolayer_crossing_bound())
