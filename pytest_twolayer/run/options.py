"""The run's settings: every option of the table (:mod:`pytest_twolayer.option_table`) read into one
frozen object, once per process.

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

from pytest_twolayer.option_table import (
    BENCHMARK_STEPS,
    BUDGET,
    DEVICE,
    DRY_RUN,
    GROUP,
    IMPL,
    ISOLATION,
    ISOLATION_VALUES,
    LIST,
    LOST_HOST_FAILS,
    MATRIX,
    MAX_MEMORY_GROWTH,
    MAX_RATIO,
    NEEDS_IMPL,
    NO_SUITE,
    OPTIONS,
    PLOTS,
    RATCHET,
    RATCHET_UPDATE,
    REPORT_JSON,
    REPORT_MD,
    SEED,
    SHARD,
    SHARD_DURATIONS,
    TIMEOUT,
    Option,
)
from pytest_twolayer.run.selection import ImplToken, parse_devices, parse_impl
from pytest_twolayer.run.shards import Shard, parse_shard

YES = ("yes", "true", "on", "1")
NO = ("no", "false", "off", "0")


def add_options(parser: pytest.Parser) -> None:
    """Every row of the option table, in one group, with its ini key where it has one."""
    group = parser.getgroup(*GROUP)
    for option in OPTIONS:
        if option.metavar is None:
            group.addoption(option.flag, action="store_true", default=False, help=option.help)
        elif option.repeatable:
            group.addoption(
                option.flag, action="append", default=[], metavar=option.metavar, help=option.help
            )
        else:
            group.addoption(
                option.flag,
                default=None,
                metavar=option.metavar,
                help=option.help,
                **({"type": int} if option.integer else {}),
            )
    for option in OPTIONS:
        if option.ini_key is None:
            continue
        if option.repeatable:
            parser.addini(option.ini_key, option.ini_help, type="linelist", default=[])
        else:
            parser.addini(option.ini_key, option.ini_help, default=option.ini_default)


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
    lost_host_fails: bool = False  # a lost host fails the run, whatever its checks say
    isolation: str = "none"  # "process": every implementation in a host of its own

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
    tokens = tuple(parse_impl(config.getoption(IMPL.dest)))
    if config.getoption(IMPL.dest) and not tokens:
        raise pytest.UsageError(f"{IMPL.flag} was given no implementation name")
    if not tokens:
        for option in NEEDS_IMPL:
            if config.getoption(option.dest):
                raise pytest.UsageError(f"{option.flag} needs {IMPL.flag} (which implementations?)")
        if config.getoption(RATCHET_UPDATE.dest):
            raise pytest.UsageError(f"{RATCHET_UPDATE.flag} needs {RATCHET.flag} PATH")
        # Inert: nothing else is read, so a stray ini key cannot fail a plain pytest run;
        # the list reads the isolation too (a sealed run's list is described by hosts).
        listing = bool(config.getoption(LIST.dest))
        isolation = parse_isolation(config) if listing else "none"
        return Settings((), (), 0, 0.0, listing, False, False, 0, isolation=isolation)
    try:
        devices = tuple(parse_devices(config.getoption(DEVICE.dest)))
        timeout_s = parse_timeout(_value(config, TIMEOUT))
        budgets = parse_budgets(_values(config, BUDGET))
        ratios = parse_ratios(_values(config, MAX_RATIO))
        shard_value = config.getoption(SHARD.dest)
        shard = parse_shard(shard_value) if shard_value else None
        memory_growth = parse_memory_growth(_values(config, MAX_MEMORY_GROWTH))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    seed = config.getoption(SEED.dest)
    report_json = destination(config, REPORT_JSON)
    report_md = destination(config, REPORT_MD)
    for report in (report_json, report_md):
        problem = unwritable(report.path) if report else None
        if report and problem:
            raise pytest.UsageError(f"{report.shown}: {problem}")
    if report_json and report_md and report_json.path == report_md.path:
        raise pytest.UsageError(
            f"{REPORT_MD.flag} {report_md.path}: the same file as {REPORT_JSON.flag}"
        )
    ratchet = destination(config, RATCHET)
    if config.getoption(RATCHET_UPDATE.dest) and ratchet is None:
        raise pytest.UsageError(f"{RATCHET_UPDATE.flag} needs {RATCHET.flag} PATH")
    return Settings(
        impl=tokens,
        devices=devices,
        seed=int(config.getini(SEED.dest)) if seed is None else seed,
        timeout_s=timeout_s,
        listing=bool(config.getoption(LIST.dest)),
        no_suite=bool(config.getoption(NO_SUITE.dest)),
        dry_run=bool(config.getoption(DRY_RUN.dest)),
        benchmark_steps=parse_steps(_value(config, BENCHMARK_STEPS)),
        budgets=budgets,
        ratios=ratios,
        memory_growth=memory_growth,
        matrix=parse_yes_no(config, MATRIX),
        report_json=report_json,
        report_md=report_md,
        plots=destination(config, PLOTS),
        ratchet=ratchet,
        ratchet_update=bool(config.getoption(RATCHET_UPDATE.dest)),
        shard=shard,
        shard_durations=destination(config, SHARD_DURATIONS),
        lost_host_fails=bool(config.getoption(LOST_HOST_FAILS.dest)),
        isolation=parse_isolation(config),
    )


def _value(config: pytest.Config, option: Option) -> str:
    """The option's value if given, else its ini key's."""
    value = config.getoption(option.dest)
    return str(config.getini(option.dest) if value is None else value)


def _values(config: pytest.Config, option: Option) -> list[str]:
    """A repeatable option's values if given, else its ini key's lines."""
    given: list[str] = config.getoption(option.dest)
    return given or list(config.getini(option.dest))


def _shown(config: pytest.Config, option: Option) -> tuple[str, bool]:
    """The raw value and whether it came from the command line (else from the ini file)."""
    value = config.getoption(option.dest)
    if value is not None:
        return str(value), True
    return str(config.getini(option.dest)), False


def parse_yes_no(config: pytest.Config, option: Option) -> bool:
    value, on_command_line = _shown(config, option)
    word = value.strip().lower()
    if word not in YES + NO:
        where = f"{option.flag} {value}" if on_command_line else f"{option.dest} = {value} (ini)"
        raise pytest.UsageError(f"{where}: expected yes or no, got {value!r}")
    return word in YES


def parse_isolation(config: pytest.Config) -> str:
    value, on_command_line = _shown(config, ISOLATION)
    word = value.strip().lower()
    if word not in ISOLATION_VALUES:
        where = (
            f"{ISOLATION.flag} {value}" if on_command_line else f"{ISOLATION.dest} = {value} (ini)"
        )
        raise pytest.UsageError(f"{where}: expected one of {', '.join(ISOLATION_VALUES)}")
    return word


def destination(config: pytest.Config, option: Option) -> Destination | None:
    """A file or folder named on the command line (relative to where pytest was invoked) or
    in the ini file (relative to that file's folder, as a CI config names it); ``~`` and
    ``$VARS`` expand. None when neither names one."""
    value, on_command_line = _shown(config, option)
    if not value.strip():
        return None
    raw = os.path.expanduser(os.path.expandvars(value.strip()))
    if on_command_line:
        base = config.invocation_params.dir
        shown = f"{option.flag} {value}"
    else:
        base = config.inipath.parent if config.inipath else config.rootpath
        shown = f"{option.dest} = {value} (ini)"
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
        raise ValueError(f"{TIMEOUT.flag}: {value!r} is not a number of seconds") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(
            f"{TIMEOUT.flag}: {value!r} must be a finite number of seconds, or 0 for no limit"
        )
    return seconds


def parse_steps(value: str) -> int:
    """The benchmark's number of timed steps; a usage error for anything but a positive int."""
    steps = int(value) if value.strip().isdigit() else 0
    if steps < 1:
        raise pytest.UsageError(
            f"{BENCHMARK_STEPS.flag}: {value!r} is not a positive whole number of steps"
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
                f"{BUDGET.flag}: {item!r} is not [IMPL=]MILLISECONDS (e.g. tensor=5 or 20)"
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
            raise ValueError(f"{MAX_RATIO.flag}: {item!r} is not IMPL:REF=X (e.g. mine:tensor=1.5)")
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
                f"{MAX_MEMORY_GROWTH.flag}: {item!r} is not [IMPL=]KIB or [IMPL=]off "
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
