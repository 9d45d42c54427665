"""The pytest plugin: options, hooks and fixtures wired together; inert without ``--impl``."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Generator
from fnmatch import fnmatch
from pathlib import Path

import pytest

from pytest_twolayer import (
    distributed,
    expectations,
    fixtures,
    hookspecs,
    parallel,
    plots,
    report,
    reproduction,
    shutdown,
    workers,
)
from pytest_twolayer.benchmarking import relay, settings
from pytest_twolayer.benchmarking.table import BenchmarkTable
from pytest_twolayer.case import ConformanceFailure
from pytest_twolayer.options import (
    DEFAULT_TIMEOUT,
    DEVICE_HELP,
    IMPL_HELP,
    LIST_HELP,
    NO_SUITE_HELP,
    SEED_HELP,
    TIMEOUT_HELP,
    parse_devices,
    parse_impl,
    parse_timeout,
)
from pytest_twolayer.published import DATA_KEY, PROPERTY_PREFIX, REPORT_ATTRIBUTE
from pytest_twolayer.registry import RegistrationError, Registry, installed_entry_points
from pytest_twolayer.selection import (
    CaseParam,
    Loaded,
    Selection,
    chosen_names,
    resolve_devices,
    select,
)
from pytest_twolayer.timeouts import TimeLimit

SELECTION_KEY = pytest.StashKey[Selection]()
FEATURES = (report, expectations, plots)
"""Modules that add options and, once implementations are selected, register their plugin:
each has ``add_options(group, parser)`` and ``configure(config, selection)``."""
DTYPES_MARKER = "twolayer_dtypes"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    pluginmanager.register(parallel.DefaultParallelism(count_selected), "twolayer-parallel")


def count_selected(config: pytest.Config) -> int:
    """How many implementations ``--impl`` selects, counted without importing any; 0 when
    the selection is wrong (``pytest_configure`` then reports it)."""
    try:
        tokens = parse_impl(config.getoption("impl"))
        return len(chosen_names(build_registry(config), tokens, verify=False))
    except (pytest.UsageError, RegistrationError, ValueError):
        return 0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("twolayer", "pytest-twolayer conformance suite")
    group.addoption("--impl", action="append", default=[], metavar="IMPLS", help=IMPL_HELP)
    group.addoption("--device", action="append", default=[], metavar="DEVICES", help=DEVICE_HELP)
    group.addoption("--twolayer-seed", type=int, default=None, metavar="SEED", help=SEED_HELP)
    group.addoption("--twolayer-list", action="store_true", default=False, help=LIST_HELP)
    group.addoption("--twolayer-no-suite", action="store_true", default=False, help=NO_SUITE_HELP)
    group.addoption("--twolayer-timeout", default=None, metavar="SECONDS", help=TIMEOUT_HELP)
    parser.addini("twolayer_seed", SEED_HELP, default="0")
    parser.addini("twolayer_timeout", TIMEOUT_HELP, default=DEFAULT_TIMEOUT)
    settings.add_options(group, parser)
    for feature in FEATURES:
        feature.add_options(group, parser)


def build_registry(config: pytest.Config) -> Registry:
    """Entry points first, then every ``pytest_twolayer_register`` hook."""
    registry = Registry()
    registry.add_entry_points(installed_entry_points())
    try:
        config.hook.pytest_twolayer_register(registry=registry)
    except RegistrationError as exc:
        raise pytest.UsageError(f"pytest_twolayer_register: {exc}") from None
    return registry


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption("twolayer_list"):
        return None
    registry = build_registry(config)
    rows = [("name", "devices", "dtypes", "optimizer", "depths", "source")]
    for name in registry.names():
        spec = registry.get(name)
        try:
            cls = spec.load()
        except RegistrationError as exc:
            rows.append((name, "-", "-", f"ERROR: {exc}", "-", spec.source))
            continue
        rows.append(
            (
                name,
                ",".join(cls.devices),  # type: ignore[attr-defined]
                ",".join(cls.dtypes),  # type: ignore[attr-defined]
                repr(cls.optimizer),  # type: ignore[attr-defined]
                ",".join(map(str, cls.depths)),  # type: ignore[attr-defined]
                f"{spec.source} {spec.target}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1])
    return 0


def suite_dir() -> Path:
    """The shipped conformance package's folder, wherever the package is installed."""
    spec = importlib.util.find_spec("pytest_twolayer.conformance")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{DTYPES_MARKER}(which): 'all' (default) runs a twolayer test in every declared "
        "dtype, 'training' only in the implementation's first (training) dtype",
    )
    config.pluginmanager.register(fixtures, "twolayer-fixtures")
    impl_values = config.getoption("impl")
    if not impl_values:
        for flag, dest in (
            ("--twolayer-dry-run", "twolayer_dry_run"),
            ("--twolayer-ratchet", "twolayer_ratchet"),
        ):
            if config.getoption(dest, None):
                raise pytest.UsageError(f"{flag} needs --impl (which implementations?)")
        return
    tokens = parse_impl(impl_values)
    if not tokens:
        raise pytest.UsageError("--impl was given no implementation name")
    shutdown.freeze_heap_at_exit()
    try:
        requested_devices = parse_devices(config.getoption("device"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    seed = config.getoption("twolayer_seed")
    if seed is None:
        seed = int(config.getini("twolayer_seed"))
    timeout = config.getoption("twolayer_timeout")
    try:
        seconds = parse_timeout(config.getini("twolayer_timeout") if timeout is None else timeout)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    # `--impl mymodule:MyNet` should work from the folder holding mymodule.py, as it would
    # under `python -m pytest`; the pytest console script does not put that folder on sys.path.
    invocation_dir = str(config.invocation_params.dir)
    if any(t.target for t in tokens) and invocation_dir not in sys.path:
        sys.path.append(invocation_dir)
    registry = build_registry(config)
    pending: distributed.PendingSelection | None = None
    if distributed.is_worker(config):
        # This worker imports its share of the implementations and describes them; the
        # other workers describe the rest (see distributed.Discovery). Collecting needs no
        # other import: a framework is imported when one of its checks runs here.
        workers.pin_this_process()
        chosen_names(registry, tokens, verify=False)
        selection = distributed.selection_on_worker(config, registry)
    elif distributed.distributes(config):
        # The workers import and describe the implementations (see distributed.Discovery).
        names = chosen_names(registry, tokens)
        selection = Selection([Loaded(registry.get(n), None) for n in names], {}, seed)
        if requested_devices:  # asked for by name: absent is a usage error, raised now
            resolve_devices(requested_devices, [])
        pending = distributed.PendingSelection(selection, requested_devices)
    else:
        implementations = select(registry, tokens)
        devices = resolve_devices(requested_devices, implementations)
        selection = Selection(implementations, devices, seed)
    config.stash[SELECTION_KEY] = selection
    config.stash[fixtures.BENCHMARK_SETTINGS_KEY] = settings.from_config(config, registry)
    config.pluginmanager.register(TwoLayerRun(config, selection), "twolayer-run")
    if distributed.is_worker(config):
        config.pluginmanager.register(relay.WorkerRelay(config), "twolayer-benchmark-relay")
    elif pending is not None:
        config.pluginmanager.register(
            distributed.Distribution(config, pending, suite_dir()), "twolayer-distribution"
        )
        config.pluginmanager.register(relay.ControllerRelay(config), "twolayer-benchmark-relay")
    if not distributed.is_worker(config):
        config.pluginmanager.register(BenchmarkTable(), "twolayer-benchmark-table")
    config.pluginmanager.register(TimeLimit(seconds), "twolayer-time-limit")
    if not config.getoption("twolayer_no_suite"):
        add_suite_to_args(config)
    allow_worker_restarts(config, len(selection.implementations))
    for feature in FEATURES:
        feature.configure(config, selection)


CRASHES_ALLOWED_PER_IMPLEMENTATION = 50
"""Under xdist a crashed worker is replaced at most ``4 x -n`` times by default, which one
implementation that aborts in every check exhausts, stopping the others' checks. Unless the
user sets ``--max-worker-restart``, each selected implementation may crash this often."""


def allow_worker_restarts(config: pytest.Config, implementations: int) -> None:
    """Raise xdist's worker-restart cap (before xdist's own trylast configure reads it)."""
    if getattr(config.option, "numprocesses", None) and config.option.maxworkerrestart is None:
        config.option.maxworkerrestart = str(CRASHES_ALLOWED_PER_IMPLEMENTATION * implementations)


def add_suite_to_args(config: pytest.Config) -> None:
    """Collect the shipped suite's folder (``pytest_collect_file`` below keeps the user's
    ``python_files`` patterns from hiding its modules).

    Without explicit paths on the command line the run is the suite alone (the user's
    ``testpaths`` are not collected); named paths run beside the suite.
    """
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args.clear()
    folder = suite_dir()
    if all(Path(arg).resolve() != folder for arg in config.args):
        config.args.append(str(folder))


class TwoLayerRun:
    """Per-run behaviour once implementations are selected: parametrization and reporting."""

    def __init__(self, config: pytest.Config, selection: Selection) -> None:
        self.config = config
        self.selection = selection
        self.suite = suite_dir()

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Module | None:
        """Collect the suite's ``test_*.py`` even when ``python_files`` would not match them."""
        if file_path.parent != self.suite or not fnmatch(file_path.name, "test_*.py"):
            return None
        patterns = parent.config.getini("python_files")
        if any(fnmatch(file_path.name, pattern) for pattern in patterns):
            return None  # pytest's python plugin collects it already
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module

    def pytest_report_header(self) -> list[str]:
        selection = self.selection
        names = ", ".join(_described(i) for i in selection.implementations)
        devices = (
            ", ".join(
                device if reason is None else f"{device} (absent: {reason})"
                for device, reason in selection.devices.items()
            )
            or "resolved while the xdist workers start (see the matrix)"
        )
        versions = ", ".join(
            f"{label} {_version(*dists)}"
            for label, dists in (
                ("numpy", ("numpy",)),
                ("torch", ("torch",)),
                ("tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-macos")),
            )
        )
        return [
            f"twolayer: implementations: {names}",
            f"twolayer: devices: {devices}; seed: {selection.seed}",
            f"twolayer: {versions}",
            *parallel.header(self.config),
        ]

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Label every conformance test with its case, for --junitxml and the reports."""
        for item in items:
            callspec = getattr(item, "callspec", None)
            param = callspec.params.get("twolayer_case") if callspec else None
            loaded = callspec.params.get("twolayer_loaded") if callspec else None
            if isinstance(param, CaseParam):
                labels = {
                    "impl": param.loaded.spec.name,
                    "device": param.device,
                    "dtype": param.dtype,
                    "seed": str(param.seed),
                }
            elif isinstance(loaded, Loaded):
                labels = {"impl": loaded.spec.name, "seed": str(self.selection.seed)}
            else:
                continue
            in_suite = item.path.parent == self.suite
            labels["concern"] = item.path.stem.removeprefix("test_") if in_suite else "other"
            labels["check"] = check_id(item)
            item.user_properties.extend((PROPERTY_PREFIX + k, v) for k, v in labels.items())

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "twolayer_loaded" in metafunc.fixturenames:
            loaded = self.selection.implementations
            metafunc.parametrize("twolayer_loaded", loaded, ids=[i.spec.name for i in loaded])
        if "twolayer_case" in metafunc.fixturenames:
            marker = metafunc.definition.get_closest_marker(DTYPES_MARKER)
            which = marker.args[0] if marker and marker.args else "all"
            if which not in ("all", "training"):
                raise pytest.UsageError(
                    f"{metafunc.definition.nodeid}: {DTYPES_MARKER} takes 'all' or 'training', "
                    f"got {which!r}"
                )
            metafunc.parametrize("twolayer_case", self.selection.cases(which), indirect=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "call" and DATA_KEY in item.stash:
            setattr(report, REPORT_ATTRIBUTE, item.stash[DATA_KEY])
        # A conformance verdict is a complete message; a traceback into the suite hides it.
        if call.excinfo is not None and call.excinfo.errisinstance(ConformanceFailure):
            report.longrepr = str(call.excinfo.value)
        reproduction.annotate(item, call, report)
        return report


def _described(loaded: Loaded) -> str:
    """``numpy (float64, float32)``; ``x (BROKEN)``; a bare name before the classes load."""
    if loaded.error:
        return f"{loaded.spec.name} (BROKEN)"
    if loaded.declared is None:
        return loaded.spec.name
    return f"{loaded.spec.name} ({', '.join(loaded.declared.dtypes)})"


def check_id(item: pytest.Item) -> str:
    """A check's stable id: its test function's name without ``test_`` (``training``)."""
    return str(getattr(item, "originalname", item.name)).removeprefix("test_")


def _version(*distributions: str) -> str:
    """The version of the first of ``distributions`` that is installed (they are aliases)."""
    for distribution in distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"
