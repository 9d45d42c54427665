"""The run's state, one per process: its settings, its registry and what ``--impl`` selects.

Like pytest-benchmark's ``BenchmarkSession``, it is made once (on first use, kept in the
config's stash) and handed to whatever needs it: the registry is built once per process,
entry points first, then every ``pytest_twolayer_register`` hook.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_twolayer.benchmarking.gates import BenchmarkPlan
from pytest_twolayer.option_table import MAX_RATIO
from pytest_twolayer.run.options import Settings, settings_of
from pytest_twolayer.run.registry import (
    RegistrationError,
    Registry,
    Spec,
    installed_entry_points,
)
from pytest_twolayer.run.selection import (
    Loaded,
    Selection,
    chosen_names,
    resolve_devices,
    verify_targets,
)
from pytest_twolayer.run.shards import durations_from_report, split
from pytest_twolayer.spec.contract import TwoLayerImplementation


class TwoLayerSession:
    """What a run selects, read from its settings and registry (each made once)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings: Settings = settings_of(config)
        self._registry: Registry | None = None
        self._selected: list[str] | None = None
        self._names: list[str] | None = None
        self._benchmark: BenchmarkPlan | None = None
        self.loading_s: float | None = None  # importing the implementations, in this process
        self.load: Callable[[Spec], Loaded] = Loaded.load
        """How an implementation is loaded: imported here, or into a host of its own (the
        plugin sets it for ``--twolayer-isolation process``)."""

    @property
    def registry(self) -> Registry:
        """Entry points first, then every ``pytest_twolayer_register`` hook; built once."""
        if self._registry is None:
            registry = Registry()
            registry.add_entry_points(installed_entry_points())
            try:
                self.config.hook.pytest_twolayer_register(registry=registry)
            except RegistrationError as exc:
                raise pytest.UsageError(f"pytest_twolayer_register: {exc}") from None
            self._registry = registry
        return self._registry

    def selected(self) -> list[str]:
        """The registered names ``--impl`` selects, in order, before any sharding (command-
        line import paths are registered on the way; nothing is imported)."""
        if self._selected is None:
            if any(token.target for token in self.settings.impl):
                # `--impl mymodule:MyNet` should work from the folder holding mymodule.py, as
                # under `python -m pytest`; the pytest console script does not put it on
                # sys.path.
                invocation_dir = str(self.config.invocation_params.dir)
                if invocation_dir not in sys.path:
                    sys.path.append(invocation_dir)
            self._selected = chosen_names(self.registry, list(self.settings.impl))
        return self._selected

    def names(self) -> list[str]:
        """What this run checks: the selection, or this shard's part of it."""
        if self._names is None:
            selected = self.selected()
            shard = self.settings.shard
            if shard is None:
                self._names = selected
            else:
                durations = None
                if self.settings.shard_durations is not None:
                    try:
                        durations = durations_from_report(self.settings.shard_durations.path)
                    except ValueError as exc:
                        raise pytest.UsageError(str(exc)) from None
                self._names = split(selected, shard.count, durations)[shard.index - 1]
        return self._names

    def shard_info(self) -> dict[str, Any] | None:
        """What the JSON report says of the shard (None when the run is not sharded)."""
        shard = self.settings.shard
        if shard is None:
            return None
        return {
            "index": shard.index,
            "count": shard.count,
            "selected": self.selected(),
            "implementations": self.names(),
        }

    def verify_targets(self) -> None:
        """Import every ``--impl package.module:Class`` now: one that does not import is a
        usage error naming it (a registered implementation that fails to load fails its own
        check instead, and the others run)."""
        verify_targets(self.registry, self.selected(), self.load)

    def select_here(self) -> Selection:
        """Import the command line's import paths (a usage error for one that does not
        import), load every selected implementation in this process and resolve the devices;
        ``loading_s`` says how long that took."""
        start = time.perf_counter()
        self.verify_targets()
        implementations = [self.load(self.registry.get(name)) for name in self.names()]
        devices = resolve_devices(list(self.settings.devices), implementations)
        self.loading_s = time.perf_counter() - start
        return Selection(implementations, devices, self.settings.seed)

    def undescribed(self) -> Selection:
        """The selection by name only: xdist workers describe the implementations."""
        implementations = [Loaded(self.registry.get(name), None) for name in self.names()]
        return Selection(implementations, {}, self.settings.seed)

    def check_requested_devices(self) -> None:
        """A device asked for by name must be present here: a usage error now otherwise."""
        if self.settings.devices:
            resolve_devices(list(self.settings.devices), [])

    def benchmark_settings(self) -> BenchmarkPlan:
        """What the benchmark concern is told: steps, budgets, and the ratio gates (whose
        references must be registered)."""
        if self._benchmark is None:
            self._benchmark = self._read_benchmark_settings()
        return self._benchmark

    def _read_benchmark_settings(self) -> BenchmarkPlan:
        ratios = self.settings.ratios
        for impl, (reference, _) in ratios.items():
            if reference not in self.registry:
                raise pytest.UsageError(
                    f"{MAX_RATIO.flag} {impl}:{reference}: unknown reference {reference!r}; "
                    f"available: {', '.join(self.registry.names())}"
                )

        def load(name: str) -> type[TwoLayerImplementation]:
            # As every other implementation is loaded: in a host of its own when sealed.
            loaded = self.load(self.registry.get(name))
            if loaded.error is not None or loaded.cls is None:
                raise RegistrationError(loaded.error or f"{name!r} did not load")
            return loaded.cls

        return BenchmarkPlan(
            self.settings.benchmark_steps,
            self.settings.budgets,
            ratios,
            load,
            memory_growth=self.settings.memory_growth,
        )


SESSION_KEY = pytest.StashKey[TwoLayerSession]()


def session_of(config: pytest.Config) -> TwoLayerSession:
    """The run's :class:`TwoLayerSession`, made on first use."""
    if SESSION_KEY not in config.stash:
        config.stash[SESSION_KEY] = TwoLayerSession(config)
    return config.stash[SESSION_KEY]
