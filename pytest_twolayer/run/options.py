"""Every command-line option and ini key of the plugin, and the one frozen settings object
they are read into, once per process.

Help texts are constants shared by the option and its ini key (as pytest-timeout does);
:func:`settings_of` reads and checks everything on first use and keeps the result in the
config's stash, so a bad value is one usage error naming the option, raised before anything
runs, and no feature reads an option of its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_twolayer.checking.tutorial_run import STEPS
from pytest_twolayer.run.selection import ImplToken, parse_devices, parse_impl
from pytest_twolayer.run.shards import Shard, parse_shard

IMPL_HELP = (
    "implementations to check: comma-separated registered names, 'all', or "
    "package.module:Class (optionally name=package.module:Class); may be repeated. "
    "Without it the plugin does nothing."
)
DEVICE_HELP = (
    "devices to run on, comma-separated from cpu,cuda (default: cpu, plus cuda when "
    "available). A device asked for here that is not present is an error."
)
SEED_HELP = "seed of the suite's data and of every implementation (default: 0)"
LIST_HELP = (
    "list the registered implementations with their devices, dtypes and optimizer, then exit"
)
NO_SUITE_HELP = (
    "select implementations but do not add the shipped conformance suite (run only your own tests)"
)
DEFAULT_TIMEOUT = "60"
TIMEOUT_HELP = (
    "per-check time limit in seconds: a twolayer test still running after it fails with a "
    f"verdict naming the implementation (default: {DEFAULT_TIMEOUT}; 0 disables)"
)
DEFAULT_BENCHMARK_STEPS = str(STEPS)  # the tutorial's loop
BENCHMARK_STEPS_HELP = (
    "training steps the benchmark concern times, one by one, from a fresh instance "
    f"(default: {DEFAULT_BENCHMARK_STEPS}, the tutorial's run)"
)
BUDGET_HELP = (
    "benchmark gate: the median training step may take at most this many milliseconds; "
    "[IMPL=]MS, comma-separated or repeated (no IMPL: every implementation)"
)
MAX_RATIO_HELP = (
    "benchmark gate: IMPL's median step may be at most X times REF's, both timed in "
    "alternation in the same test; IMPL:REF=X, comma-separated or repeated"
)
MAX_MEMORY_GROWTH_HELP = (
    "benchmark gate: over the second half of the benchmark's run, the memory the allocators "
    "hold may grow by at most this many KiB per step, else it does not level off; "
    "[IMPL=]KIB or [IMPL=]off, comma-separated or repeated (no IMPL: every implementation; "
    "default: 1 KiB per step where the host allocator can be read)"
)
MATRIX_HELP = (
    "print the conformance matrix (implementation x device x concern) at the end of the run: "
    "yes or no (default: yes)"
)
JSON_HELP = (
    "write a versioned JSON report (run, environment, matrix, every check, benchmarks) to "
    "this file, also when checks fail"
)
MARKDOWN_HELP = (
    "write a Markdown summary (verdict, matrix, failures, skips, benchmarks) to this file; "
    "it appends when the file is the one $GITHUB_STEP_SUMMARY names"
)
PLOTS_HELP = (
    "write figures of the run into this folder (created if missing): loss_curves.png (every "
    "implementation's training loss, log scale) and benchmarks.png (GFLOP/s per training "
    "step against the in-run peak, when benchmarks ran). Needs matplotlib: "
    'pip install "pytest-twolayer[plots]"'
)
RATCHET_HELP = (
    "coverage ratchet: a JSON file {implementation: checks executed}; the run fails when an "
    "implementation executes fewer checks (passed, failed, xfailed, xpassed) than recorded, "
    "and the file is raised (never lowered) when counts rise or a new implementation appears; "
    "written when missing"
)
RATCHET_UPDATE_HELP = (
    "rewrite the --twolayer-ratchet file to this run's counts, lowering them if need be, "
    "instead of failing on a drop"
)
DRY_RUN_HELP = (
    "list the selected implementations (devices, dtypes, optimizer, source) and, per "
    "implementation x device x dtype, the checks that would run, skip (with the reason) or "
    "run as expected failures, without running any; under -n no worker is started"
)
SHARD_HELP = (
    "check only shard K of N of the selected implementations (K/N, e.g. 2/3), for a CI "
    "matrix of N runners; the split is deterministic, balanced on --twolayer-shard-durations; "
    "merge the shards' JSON reports with python -m pytest_twolayer.merge"
)
SHARD_DURATIONS_HELP = (
    "a previous run's JSON report (--twolayer-report-json, or a merged one): the shards are "
    "balanced on how long each implementation took there"
)
INI_RELATIVE = " (in the ini file: relative to the ini file's folder)"

YES = ("yes", "true", "on", "1")
NO = ("no", "false", "off", "0")

NEEDS_IMPL = (
    ("--twolayer-dry-run", "twolayer_dry_run"),
    ("--twolayer-ratchet", "twolayer_ratchet"),
)
"""Options that mean nothing without ``--impl`` (a usage error, not a silent no-op)."""


def add_options(parser: pytest.Parser) -> None:
    """Every option of the plugin, in one group, with its ini equivalent where it has one."""
    group = parser.getgroup("twolayer", "pytest-twolayer conformance suite")
    group.addoption("--impl", action="append", default=[], metavar="IMPLS", help=IMPL_HELP)
    group.addoption("--device", action="append", default=[], metavar="DEVICES", help=DEVICE_HELP)
    group.addoption("--twolayer-seed", type=int, default=None, metavar="SEED", help=SEED_HELP)
    group.addoption("--twolayer-list", action="store_true", default=False, help=LIST_HELP)
    group.addoption("--twolayer-no-suite", action="store_true", default=False, help=NO_SUITE_HELP)
    group.addoption("--twolayer-timeout", default=None, metavar="SECONDS", help=TIMEOUT_HELP)
    group.addoption(
        "--twolayer-benchmark-steps", default=None, metavar="N", help=BENCHMARK_STEPS_HELP
    )
    group.addoption(
        "--twolayer-budget", action="append", default=[], metavar="[IMPL=]MS", help=BUDGET_HELP
    )
    group.addoption(
        "--twolayer-max-ratio",
        action="append",
        default=[],
        metavar="IMPL:REF=X",
        help=MAX_RATIO_HELP,
    )
    group.addoption(
        "--twolayer-max-memory-growth",
        action="append",
        default=[],
        metavar="[IMPL=]KIB",
        help=MAX_MEMORY_GROWTH_HELP,
    )
    group.addoption("--twolayer-matrix", default=None, metavar="yes|no", help=MATRIX_HELP)
    group.addoption("--twolayer-report-json", default=None, metavar="PATH", help=JSON_HELP)
    group.addoption("--twolayer-report-md", default=None, metavar="PATH", help=MARKDOWN_HELP)
    group.addoption("--twolayer-plots", default=None, metavar="DIR", help=PLOTS_HELP)
    group.addoption("--twolayer-ratchet", default=None, metavar="PATH", help=RATCHET_HELP)
    group.addoption(
        "--twolayer-ratchet-update", action="store_true", default=False, help=RATCHET_UPDATE_HELP
    )
    group.addoption("--twolayer-dry-run", action="store_true", default=False, help=DRY_RUN_HELP)
    group.addoption("--twolayer-shard", default=None, metavar="K/N", help=SHARD_HELP)
    group.addoption(
        "--twolayer-shard-durations", default=None, metavar="PATH", help=SHARD_DURATIONS_HELP
    )
    parser.addini("twolayer_seed", SEED_HELP, default="0")
    parser.addini("twolayer_timeout", TIMEOUT_HELP, default=DEFAULT_TIMEOUT)
    parser.addini("twolayer_benchmark_steps", BENCHMARK_STEPS_HELP, default=DEFAULT_BENCHMARK_STEPS)
    parser.addini("twolayer_budget", BUDGET_HELP, type="linelist", default=[])
    parser.addini("twolayer_max_ratio", MAX_RATIO_HELP, type="linelist", default=[])
    parser.addini("twolayer_max_memory_growth", MAX_MEMORY_GROWTH_HELP, type="linelist", default=[])
    parser.addini("twolayer_matrix", MATRIX_HELP, default="yes")
    parser.addini("twolayer_report_json", JSON_HELP + INI_RELATIVE, default="")
    parser.addini("twolayer_report_md", MARKDOWN_HELP + INI_RELATIVE, default="")
    parser.addini("twolayer_plots", PLOTS_HELP + INI_RELATIVE, default="")
    parser.addini("twolayer_ratchet", RATCHET_HELP + INI_RELATIVE, default="")
    parser.addini("twolayer_shard_durations", SHARD_DURATIONS_HELP + INI_RELATIVE, default="")


@dataclass(frozen=True)
class Destination:
    """A file or folder the user named, and how to name it back in a message."""

    path: Path
    given: str  # the text the user wrote: ``r.json``
    shown: str  # ``--twolayer-ratchet r.json`` or ``twolayer_ratchet = r.json (ini)``


@dataclass(frozen=True)
class Settings:
    """Everything the options say, checked; one per process (see :func:`settings_of`)."""

    impl: tuple[ImplToken, ...]
    devices: tuple[str, ...]  # asked for by name; empty: the defaults
    seed: int
    timeout_s: float  # 0: no per-check limit
    listing: bool
    no_suite: bool
    dry_run: bool
    benchmark_steps: int
    budgets: dict[str, float] = field(default_factory=dict)  # impl or "*" -> seconds/step
    ratios: dict[str, tuple[str, float]] = field(default_factory=dict)  # impl -> (ref, max)
    memory_growth: dict[str, float] = field(default_factory=dict)  # impl or "*" -> bytes/step
    matrix: bool = True
    report_json: Destination | None = None
    report_md: Destination | None = None
    plots: Destination | None = None
    ratchet: Destination | None = None
    ratchet_update: bool = False
    shard: Shard | None = None
    shard_durations: Destination | None = None

    @property
    def active(self) -> bool:
        """Whether implementations were selected: without ``--impl`` the plugin is inert."""
        return bool(self.impl)


SETTINGS_KEY = pytest.StashKey[Settings]()


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings, read and checked on first use; a bad value is a usage error."""
    if SETTINGS_KEY not in config.stash:
        config.stash[SETTINGS_KEY] = read(config)
    return config.stash[SETTINGS_KEY]


def read(config: pytest.Config) -> Settings:
    """Read every option (the command line first, then the ini key) and check it."""
    tokens = tuple(parse_impl(config.getoption("impl")))
    if config.getoption("impl") and not tokens:
        raise pytest.UsageError("--impl was given no implementation name")
    if not tokens:
        for flag, dest in NEEDS_IMPL:
            if config.getoption(dest):
                raise pytest.UsageError(f"{flag} needs --impl (which implementations?)")
        if config.getoption("twolayer_ratchet_update"):
            raise pytest.UsageError("--twolayer-ratchet-update needs --twolayer-ratchet PATH")
        # Inert: nothing else is read, so a stray ini key cannot fail a plain pytest run.
        return Settings((), (), 0, 0.0, bool(config.getoption("twolayer_list")), False, False, 0)
    try:
        devices = tuple(parse_devices(config.getoption("device")))
        timeout_s = parse_timeout(_value(config, "twolayer_timeout"))
        budgets = parse_budgets(_values(config, "twolayer_budget"))
        ratios = parse_ratios(_values(config, "twolayer_max_ratio"))
        shard_value = config.getoption("twolayer_shard")
        shard = parse_shard(shard_value) if shard_value else None
        memory_growth = parse_memory_growth(_values(config, "twolayer_max_memory_growth"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    seed = config.getoption("twolayer_seed")
    report_json = destination(config, "twolayer_report_json", "--twolayer-report-json")
    report_md = destination(config, "twolayer_report_md", "--twolayer-report-md")
    for report in (report_json, report_md):
        problem = unwritable(report.path) if report else None
        if report and problem:
            raise pytest.UsageError(f"{report.shown}: {problem}")
    if report_json and report_md and report_json.path == report_md.path:
        raise pytest.UsageError(
            f"--twolayer-report-md {report_md.path}: the same file as --twolayer-report-json"
        )
    ratchet = destination(config, "twolayer_ratchet", "--twolayer-ratchet")
    if config.getoption("twolayer_ratchet_update") and ratchet is None:
        raise pytest.UsageError("--twolayer-ratchet-update needs --twolayer-ratchet PATH")
    return Settings(
        impl=tokens,
        devices=devices,
        seed=int(config.getini("twolayer_seed")) if seed is None else seed,
        timeout_s=timeout_s,
        listing=bool(config.getoption("twolayer_list")),
        no_suite=bool(config.getoption("twolayer_no_suite")),
        dry_run=bool(config.getoption("twolayer_dry_run")),
        benchmark_steps=parse_steps(_value(config, "twolayer_benchmark_steps")),
        budgets=budgets,
        ratios=ratios,
        memory_growth=memory_growth,
        matrix=parse_yes_no(config, "twolayer_matrix", "--twolayer-matrix"),
        report_json=report_json,
        report_md=report_md,
        plots=destination(config, "twolayer_plots", "--twolayer-plots"),
        ratchet=ratchet,
        ratchet_update=bool(config.getoption("twolayer_ratchet_update")),
        shard=shard,
        shard_durations=destination(
            config, "twolayer_shard_durations", "--twolayer-shard-durations"
        ),
    )


def _value(config: pytest.Config, dest: str) -> str:
    """The option's value if given, else its ini key's."""
    value = config.getoption(dest)
    return str(config.getini(dest) if value is None else value)


def _values(config: pytest.Config, dest: str) -> list[str]:
    """A repeatable option's values if given, else its ini key's lines."""
    given: list[str] = config.getoption(dest)
    return given or list(config.getini(dest))


def _shown(config: pytest.Config, dest: str, flag: str) -> tuple[str, bool]:
    """The raw value and whether it came from the command line (else from the ini file)."""
    value = config.getoption(dest)
    if value is not None:
        return str(value), True
    return str(config.getini(dest)), False


def parse_yes_no(config: pytest.Config, dest: str, flag: str) -> bool:
    value, on_command_line = _shown(config, dest, flag)
    word = value.strip().lower()
    if word not in YES + NO:
        where = f"{flag} {value}" if on_command_line else f"{dest} = {value} (ini)"
        raise pytest.UsageError(f"{where}: expected yes or no, got {value!r}")
    return word in YES


def destination(config: pytest.Config, dest: str, flag: str) -> Destination | None:
    """A file or folder named on the command line (relative to where pytest was invoked) or
    in the ini file (relative to that file's folder, as a CI config names it); ``~`` and
    ``$VARS`` expand. None when neither names one."""
    value, on_command_line = _shown(config, dest, flag)
    if not value.strip():
        return None
    raw = os.path.expanduser(os.path.expandvars(value.strip()))
    if on_command_line:
        base = config.invocation_params.dir
        shown = f"{flag} {value}"
    else:
        base = config.inipath.parent if config.inipath else config.rootpath
        shown = f"{dest} = {value} (ini)"
    return Destination(Path(base, raw).absolute(), value.strip(), shown)


def unwritable(path: Path) -> str | None:
    """Why ``path`` cannot become a report file (None when it can). Missing folders are
    created when the report is written, so the nearest existing ancestor must be a
    writable folder."""
    if path.is_dir():
        return f"{path} is a directory, not a file"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot create {path}: {ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot create {path}: {ancestor} is not writable"
    return None


def parse_timeout(value: str | float) -> float:
    """The per-check time limit in seconds (0: none); ValueError for anything else."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"--twolayer-timeout: {value!r} is not a number of seconds") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(
            f"--twolayer-timeout: {value!r} must be a finite number of seconds, or 0 for no limit"
        )
    return seconds


def parse_steps(value: str) -> int:
    """The benchmark's number of timed steps; a usage error for anything but a positive int."""
    steps = int(value) if value.strip().isdigit() else 0
    if steps < 1:
        raise pytest.UsageError(
            f"--twolayer-benchmark-steps: {value!r} is not a positive whole number of steps"
        )
    return steps


_BUDGET = re.compile(r"^(?:(?P<impl>[^=]+)=)?(?P<ms>[0-9.eE+-]+)$")
_RATIO = re.compile(r"^(?P<impl>[^:=]+):(?P<ref>[^=]+)=(?P<factor>[0-9.eE+-]+)$")


def parse_budgets(values: list[str]) -> dict[str, float]:
    """``[IMPL=]MS`` items (comma-separated or repeated) -> seconds; ValueError names one."""
    budgets: dict[str, float] = {}
    for item in _items(values):
        match = _BUDGET.match(item)
        ms = _positive(match["ms"]) if match else None
        if match is None or ms is None:
            raise ValueError(
                f"--twolayer-budget: {item!r} is not [IMPL=]MILLISECONDS (e.g. tensor=5 or 20)"
            )
        budgets[(match["impl"] or "*").strip()] = ms / 1e3
    return budgets


def parse_ratios(values: list[str]) -> dict[str, tuple[str, float]]:
    """``IMPL:REF=FACTOR`` items -> {impl: (ref, factor)}; ValueError names a bad one."""
    ratios: dict[str, tuple[str, float]] = {}
    for item in _items(values):
        match = _RATIO.match(item)
        factor = _positive(match["factor"]) if match else None
        if match is None or factor is None:
            raise ValueError(
                f"--twolayer-max-ratio: {item!r} is not IMPL:REF=X (e.g. mine:tensor=1.5)"
            )
        ratios[match["impl"].strip()] = (match["ref"].strip(), factor)
    return ratios


_GROWTH = re.compile(r"^(?:(?P<impl>[^=]+)=)?(?P<kib>[0-9.eE+-]+|off)$")


def parse_memory_growth(values: list[str]) -> dict[str, float]:
    """``[IMPL=]KIB`` or ``[IMPL=]off`` items -> bytes per step (``off``: infinity, not
    judged); ValueError names a bad one. 0 is allowed: no growth at all."""
    limits: dict[str, float] = {}
    for item in _items(values):
        match = _GROWTH.match(item)
        kib = None if match is None else _growth_kib(match["kib"])
        if match is None or kib is None:
            raise ValueError(
                f"--twolayer-max-memory-growth: {item!r} is not [IMPL=]KIB or [IMPL=]off "
                "(e.g. mine=4 or 1)"
            )
        limits[(match["impl"] or "*").strip()] = kib * 1024
    return limits


def _growth_kib(text: str) -> float | None:
    if text == "off":
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def _items(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and value != float("inf") else None
