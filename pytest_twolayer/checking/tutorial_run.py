"""The tutorial's run, recorded once per case: judged by the training check, timed by the
benchmark.

Both concerns look at the same thing: a fresh instance trained for the tutorial's 500 steps
on standard normal data. When the benchmark runs first in a process (it does: its module
sorts first, and every check of an implementation runs on one worker), the loss curve of
the run it timed is kept here, and the training check judges that curve instead of paying
for the same 500 steps again. The curve is the one the training check would have recorded
itself: the same seed, the same data stream, the same number of steps; per-step timing and
device syncs do not change a loss. Anything else (a benchmark that was skipped, disabled,
failed midway, or timed a different number of steps; a reordered session) leaves no record,
and the training check trains on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.spec.dims import TUTORIAL_STEPS

STEPS = TUTORIAL_STEPS
"""The run's length: the tutorial's training loop."""

DATA_STREAM = "training"
"""The random stream (see :meth:`Case.rng`) the run's ``x`` and ``y`` are drawn from."""


class TutorialRuns:
    """Completed tutorial runs' loss curves by case; each is handed out once."""

    def __init__(self) -> None:
        self._curves: dict[Case, tuple[float, ...]] = {}

    def record(self, case: Case, losses: Sequence[float]) -> None:
        """Keep ``losses`` if they are a whole tutorial run (``STEPS`` losses)."""
        if len(losses) == STEPS:
            self._curves[case] = tuple(losses)

    def take(self, case: Case) -> list[float] | None:
        """The recorded curve of ``case``'s run, removed from the record; ``None`` if none."""
        curve = self._curves.pop(case, None)
        return None if curve is None else list(curve)


RUNS_KEY = pytest.StashKey[TutorialRuns]()


def runs_of(config: pytest.Config) -> TutorialRuns:
    """The session's record of tutorial runs (one per process: an xdist worker has its own)."""
    if RUNS_KEY not in config.stash:
        config.stash[RUNS_KEY] = TutorialRuns()
    return config.stash[RUNS_KEY]
