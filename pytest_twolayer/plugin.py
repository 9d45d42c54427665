"""The pytest plugin (entry point ``pytest11: twolayer``): hook functions only, each wiring or
delegating; no module imports this one. Without ``--impl`` it adds its options, markers and
fixtures and does nothing else.

Once implementations are selected, ``pytest_configure`` registers the run's objects, each
owning one concern: collection, verdicts, the state guard (a test leaves the process as it
found it), the per-check time limit, expected failures, and,
where tests are reported (the xdist controller or the only process), the collector with what
is rendered from it; on an xdist controller, the distribution; on a worker, its side of it.
"""

from __future__ import annotations

import pytest

from pytest_twolayer import fixtures, hookspecs, parallel
from pytest_twolayer.host import framework_logs, heap
from pytest_twolayer.host.clock import ImportTime
from pytest_twolayer.host.workspace import WorkingFolder
from pytest_twolayer.hygiene.guard import StateGuard
from pytest_twolayer.option_table import IMPL
from pytest_twolayer.outcomes.expectations import ExpectedFailures
from pytest_twolayer.outcomes.ratchet import Ratchet, read_counts
from pytest_twolayer.outcomes.reproduction import Reproduction
from pytest_twolayer.outcomes.timeouts import TimeLimit
from pytest_twolayer.outcomes.verdicts import Verdicts
from pytest_twolayer.parallel import auto, discovery, worker
from pytest_twolayer.parallel.benchmarks import WorkerBenchmarks
from pytest_twolayer.parallel.controller import Distribution, allow_worker_restarts
from pytest_twolayer.plotting.writer import Plots, ensure_writable, load_matplotlib
from pytest_twolayer.report.collector import Collector
from pytest_twolayer.report.lost_hosts import LostHostsFail
from pytest_twolayer.report.pytest_benchmark import MergedBenchmarks
from pytest_twolayer.report.reporting import Reporting
from pytest_twolayer.report.run_failures import RunFailures
from pytest_twolayer.run import dryrun, listing, options
from pytest_twolayer.run.collection import DTYPES_MARKER_HELP, Collection, add_suite_to_args
from pytest_twolayer.run.selection import Loaded, Selection
from pytest_twolayer.run.session import TwoLayerSession, session_of
from pytest_twolayer.sealed.sealing import Sealing, header_line, isolation_of

SELECTION_KEY = pytest.StashKey[Selection]()
DISTRIBUTION = "twolayer-distribution"
SEALING = "twolayer-sealing"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    pluginmanager.register(auto.DefaultWorkers(count_selected), "twolayer-default-workers")


def count_selected(config: pytest.Config) -> int:
    """How many implementations ``--impl`` selects, counted without importing any."""
    return len(session_of(config).names())


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    run = session_of(config)
    if run.settings.active or run.settings.listing:  # before any framework is imported
        config.add_cleanup(framework_logs.quiet_by_default())
    if run.settings.active:  # now, before any plugin's pytest_configure makes a folder
        config.pluginmanager.register(WorkingFolder.before_configure(config), "twolayer-folder")
    if not run.settings.listing:
        return None
    if run.settings.isolation == "process":  # each described by a host of its own
        sealing = Sealing()
        try:
            lines = listing.registered(run.registry, sealing.load)
        finally:
            sealing.close()
    else:
        lines = listing.registered(run.registry)
    for line in lines:
        print(line)
    return 0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", DTYPES_MARKER_HELP)
    config.pluginmanager.register(fixtures, "twolayer-fixtures")
    run = session_of(config)
    if not run.settings.active:
        return
    config.add_cleanup(framework_logs.quiet_by_default())  # a worker started elsewhere (--tx)
    heap.freeze_heap_at_exit()
    if run.settings.dry_run:
        dryrun.keep_in_process(config)
    if run.settings.isolation == "process":  # before anything is loaded: nothing is imported here
        sealing = Sealing()
        config.pluginmanager.register(sealing, SEALING)
        run.load = sealing.load
    selection = select(config, run)
    if run.load is not Loaded.load:  # described by another process: loaded in a host too
        for loaded in selection.implementations:
            loaded.load_elsewhere = run.load
    config.stash[SELECTION_KEY] = selection
    benchmark = run.benchmark_settings()  # a gate naming an unknown reference: a usage error now
    register = config.pluginmanager.register
    register(Collection(selection), "twolayer-collection")
    reproduction = Reproduction(run.settings, run.registry, benchmark)
    register(Verdicts(reproduction, worker.host_label(config)), "twolayer-verdicts")
    register(StateGuard(), "twolayer-state-guard")
    register(TimeLimit(run.settings.timeout_s), "twolayer-time-limit")
    warns = parallel.worker_id(config) in ("master", "gw0")  # one warning per run
    register(ExpectedFailures(selection, warns=warns), "twolayer-expectations")
    if parallel.is_worker(config):
        register(WorkerBenchmarks(config), "twolayer-worker-benchmarks")
        register(worker.WorkerCleanup(), "twolayer-worker-cleanup")
    else:
        register_reporting(config, run, selection)
    if not run.settings.no_suite:
        add_suite_to_args(config)
    allow_worker_restarts(config, len(selection.implementations))


def select(config: pytest.Config, run: TwoLayerSession) -> Selection:
    """The selection, as this process learns it: a worker describes its share with the others
    (see :mod:`.parallel.discovery`); a controller leaves that to its workers; a single
    process loads every implementation."""
    if parallel.is_worker(config):
        run.selected()  # registers the command line's import paths, as the controller did
        return discovery.selection_on_worker(config, run.registry, run.load)
    if not parallel.is_controller(config):
        return run.select_here()
    selection = run.undescribed()
    distribution = Distribution(config, selection, list(run.settings.devices))
    if distribution.all_local():
        # Its workers import and see what this process can: a bad import path, or a device
        # asked for that is absent, is a usage error now. Workers on other hosts may have
        # what this one lacks: they report it.
        run.verify_targets()
        run.check_requested_devices()
    config.pluginmanager.register(distribution, DISTRIBUTION)
    return selection


def register_reporting(config: pytest.Config, run: TwoLayerSession, selection: Selection) -> None:
    """Where reports arrive (the controller, or the only process): the collector, and what is
    rendered from it."""
    settings = run.settings
    if settings.dry_run:
        config.pluginmanager.register(dryrun.DryRun(selection), "twolayer-dry-run")
        return  # nothing runs: nothing to collect, count or draw
    if run.loading_s is not None:  # imported here, before pytest's clock: say so at the end
        config.pluginmanager.register(ImportTime(run.loading_s), "twolayer-import-time")
    names = [i.spec.name for i in selection.implementations]
    distribution = config.pluginmanager.get_plugin(DISTRIBUTION)
    where = distribution if isinstance(distribution, Distribution) else None
    collector = Collector(names, selection.seed, where.worker_hosts if where else None)
    failures = RunFailures()  # the ratchet's, beside the checks' verdicts
    register = config.pluginmanager.register
    register(collector, "twolayer-collector")
    reporting = Reporting(
        selection,
        settings,
        collector,
        failures,
        workers=len(where.specs) if where else 0,
        hosts=where.host_facts if where else dict,
        shard=run.shard_info(),
        isolation=lambda: isolation_of(config.pluginmanager.get_plugin(SEALING)),
    )
    register(reporting, "twolayer-report")
    if where is not None and settings.lost_host_fails:
        register(LostHostsFail(where.host_facts, failures), "twolayer-lost-hosts-fail")
    if parallel.is_controller(config):
        register(MergedBenchmarks(config, collector), "twolayer-merged-benchmarks")
    if settings.plots is not None:
        load_matplotlib()  # a usage error now, not a surprise at the end
        ensure_writable(settings.plots.path)
        register(Plots(selection, settings.plots.path, collector), "twolayer-plots")
    if settings.ratchet is not None and not config.option.collectonly:
        recorded = read_counts(settings.ratchet.path, settings.ratchet.given)
        update = settings.ratchet_update
        ratchet = Ratchet(selection, settings.ratchet, recorded, update, collector, failures)
        register(ratchet, "twolayer-ratchet")


@pytest.hookimpl(trylast=True)  # after the header named the hosts' protections
def pytest_sessionstart(session: pytest.Session) -> None:
    """An xdist controller's hosts only described their implementations (the workers check
    them, each with hosts of its own): ended now, not left idling through the run."""
    sealing = session.config.pluginmanager.get_plugin(SEALING)
    if isinstance(sealing, Sealing) and parallel.is_controller(session.config):
        sealing.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    selection = config.stash.get(SELECTION_KEY, None)
    if selection is None:
        return []
    lines = listing.header(selection)
    lines.append(header_line(config.pluginmanager.get_plugin(SEALING)))
    shard = session_of(config).shard_info()
    if shard is not None:
        lines.append(
            f"twolayer: shard {shard['index']}/{shard['count']}: "
            f"{len(selection.implementations)} of {len(shard['selected'])} selected "
            "implementations (merge the shards' JSON reports: python -m pytest_twolayer.merge)"
        )
    distribution = config.pluginmanager.get_plugin(DISTRIBUTION)
    if isinstance(distribution, Distribution):
        default = f" (the default for {IMPL.flag}; -n 0 runs in this process)"
        chosen = default if auto.chosen_by_default(config) else ""
        lines.append(f"twolayer: {distribution.spread()}{chosen}")
    return lines
