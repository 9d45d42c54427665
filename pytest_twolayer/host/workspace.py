"""The folder a run starts in: left as it was found, unless the user asked for files there.

pytest-benchmark makes its storage folder (``.benchmarks/``) in every session it is active
in, though it writes there only when asked to save or compare results; so at the end of the
run the plugin removes that folder if the run made it, nothing was asked of it and it is
still empty. (Hypothesis's ``.hypothesis/`` is kept out of the folder where it would be
made: see :func:`pytest_twolayer.checking.strategies.private_storage`.) pytest's own cache,
``.pytest_cache/``, is left alone: ``--lf`` and ``--ff`` need it, and ``-p
no:cacheprovider`` turns it off.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

DEFAULT_BENCHMARK_STORAGE = "file://./.benchmarks"
BENCHMARK_STORAGE_USES = (
    "benchmark_save",
    "benchmark_autosave",
    "benchmark_compare",
    "benchmark_compare_fail",
)
"""pytest-benchmark's options that read or write its storage: a user who gives one asked for it."""


def unasked_benchmark_storage(config: pytest.Config) -> Path | None:
    """pytest-benchmark's storage folder if it is active and nothing the user asked for uses
    or names that folder (None otherwise, or when it stores elsewhere than in a folder)."""
    storage = getattr(config.option, "benchmark_storage", None)
    if storage != DEFAULT_BENCHMARK_STORAGE:  # not installed, or named by the user
        return None
    if any(getattr(config.option, dest, None) for dest in BENCHMARK_STORAGE_USES):
        return None
    return Path(config.invocation_params.dir, storage.removeprefix("file://"))


class WorkingFolder:
    """Made before any plugin configures (pytest-benchmark makes its folder then), in the
    process where the run starts; at the end it removes what the run made and left empty."""

    def __init__(self, candidates: list[Path]) -> None:
        self.made_here = [path for path in candidates if not path.exists()]

    @classmethod
    def before_configure(cls, config: pytest.Config) -> WorkingFolder:
        storage = unasked_benchmark_storage(config)
        return cls([] if storage is None else [storage])

    def pytest_unconfigure(self) -> None:
        """After the xdist workers have stopped: they made the same folder in the same place."""
        for path in self.made_here:
            with contextlib.suppress(OSError):  # not empty after all, or gone: leave it be
                path.rmdir()
