"""The plugin's option table: every command-line option and ini key, one row each.

Everything else reads this table: ``addoption`` and ``addini`` (so ``--help``), reading the
settings (:mod:`pytest_twolayer.run.options`), the messages that name an option, the
reproduce lines, and the test that keeps the README's options table in agreement. A flag is
spelled once, here (pytest-timeout shares its help texts between option and ini key the same
way; Hypothesis keeps its option names as constants).
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_twolayer.spec.dims import TUTORIAL_STEPS

INI_RELATIVE = " (in the ini file: relative to the ini file's folder)"


@dataclass(frozen=True)
class Option:
    """One option: its flag, what ``--help`` says, and how it is given and read.

    ``metavar`` None makes a switch (``store_true``); ``repeatable`` options collect every
    value (``action="append"``, an ini ``linelist``); ``ini_default`` None means no ini key.
    ``path`` options name a file or folder, which an ini file names relative to its own
    folder. ``integer`` values are parsed by argparse (``type=int``).
    """

    flag: str
    help: str
    metavar: str | None = None
    repeatable: bool = False
    ini_default: str | None = None
    path: bool = False
    integer: bool = False

    @property
    def dest(self) -> str:
        """The attribute argparse stores it under, which is also its ini key."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def ini_key(self) -> str | None:
        return self.dest if self.ini_default is not None else None

    @property
    def ini_help(self) -> str:
        return self.help + (INI_RELATIVE if self.path else "")

    @property
    def shown(self) -> str:
        """The flag as ``--help`` and the README show it: ``--twolayer-budget [IMPL=]MS``."""
        return f"{self.flag} {self.metavar}" if self.metavar else self.flag


DEFAULT_TIMEOUT = "60"

IMPL = Option(
    "--impl",
    "implementations to check: comma-separated registered names, 'all', or "
    "package.module:Class (optionally name=package.module:Class); may be repeated. "
    "Without it the plugin does nothing.",
    metavar="IMPLS",
    repeatable=True,
)
DEVICE = Option(
    "--device",
    "devices to run on, comma-separated from cpu,cuda (default: cpu, plus cuda when "
    "available). A device asked for here that is not present is an error.",
    metavar="DEVICES",
    repeatable=True,
)
SEED = Option(
    "--twolayer-seed",
    "seed of the suite's data and of every implementation (default: 0)",
    metavar="SEED",
    ini_default="0",
    integer=True,
)
LIST = Option(
    "--twolayer-list",
    "list the registered implementations with their devices, dtypes and optimizer, then exit",
)
NO_SUITE = Option(
    "--twolayer-no-suite",
    "select implementations but do not add the shipped conformance suite (run only your own tests)",
)
TIMEOUT = Option(
    "--twolayer-timeout",
    "per-check time limit in seconds: a twolayer test still running after it fails with a "
    f"verdict naming the implementation (default: {DEFAULT_TIMEOUT}; 0 disables)",
    metavar="SECONDS",
    ini_default=DEFAULT_TIMEOUT,
)
BENCHMARK_STEPS = Option(
    "--twolayer-benchmark-steps",
    "training steps the benchmark concern times, one by one, from a fresh instance "
    f"(default: {TUTORIAL_STEPS}, the tutorial's run)",
    metavar="N",
    ini_default=str(TUTORIAL_STEPS),
)
BUDGET = Option(
    "--twolayer-budget",
    "benchmark gate: the median training step may take at most this many milliseconds; "
    "[IMPL=]MS, comma-separated or repeated (no IMPL: every implementation)",
    metavar="[IMPL=]MS",
    repeatable=True,
    ini_default="",
)
MAX_RATIO = Option(
    "--twolayer-max-ratio",
    "benchmark gate: IMPL's median step may be at most X times REF's, both timed in "
    "alternation in the same test; IMPL:REF=X, comma-separated or repeated",
    metavar="IMPL:REF=X",
    repeatable=True,
    ini_default="",
)
MAX_MEMORY_GROWTH = Option(
    "--twolayer-max-memory-growth",
    "benchmark gate: over the second half of the benchmark's run, the memory the allocators "
    "hold may grow by at most this many KiB per step, else it does not level off; "
    "[IMPL=]KIB or [IMPL=]off, comma-separated or repeated (no IMPL: every implementation; "
    "default: 1 KiB per step where the host allocator can be read)",
    metavar="[IMPL=]KIB",
    repeatable=True,
    ini_default="",
)
MATRIX = Option(
    "--twolayer-matrix",
    "print the conformance matrix (implementation x device x concern) at the end of the run: "
    "yes or no (default: yes)",
    metavar="yes|no",
    ini_default="yes",
)
REPORT_JSON = Option(
    "--twolayer-report-json",
    "write a versioned JSON report (run, environment, matrix, every check, benchmarks) to "
    "this file, also when checks fail",
    metavar="PATH",
    ini_default="",
    path=True,
)
REPORT_MD = Option(
    "--twolayer-report-md",
    "write a Markdown summary (verdict, matrix, failures, skips, benchmarks) to this file; "
    "it appends when the file is the one $GITHUB_STEP_SUMMARY names",
    metavar="PATH",
    ini_default="",
    path=True,
)
PLOTS = Option(
    "--twolayer-plots",
    "write figures of the run into this folder (created if missing): loss_curves.png (every "
    "implementation's training loss, log scale) and benchmarks.png (GFLOP/s per training "
    "step against the in-run peak, when benchmarks ran). Needs matplotlib: "
    'pip install "pytest-twolayer[plots]"',
    metavar="DIR",
    ini_default="",
    path=True,
)
RATCHET = Option(
    "--twolayer-ratchet",
    "coverage ratchet: a JSON file {implementation: checks executed}; the run fails when an "
    "implementation executes fewer checks (passed, failed, xfailed, xpassed) than recorded, "
    "and the file is raised (never lowered) when counts rise or a new implementation appears; "
    "written when missing",
    metavar="PATH",
    ini_default="",
    path=True,
)
RATCHET_UPDATE = Option(
    "--twolayer-ratchet-update",
    f"rewrite the {RATCHET.flag} file to this run's counts, lowering them if need be, "
    "instead of failing on a drop",
)
DRY_RUN = Option(
    "--twolayer-dry-run",
    "list the selected implementations (devices, dtypes, optimizer, source) and, per "
    "implementation x device x dtype, the checks that would run, skip (with the reason) or "
    "run as expected failures, without running any; under -n no worker is started",
)
SHARD_DURATIONS_FLAG = "--twolayer-shard-durations"  # SHARD's help names it first
SHARD = Option(
    "--twolayer-shard",
    "check only shard K of N of the selected implementations (K/N, e.g. 2/3), for a CI "
    "matrix of N runners; the split is deterministic, balanced on "
    f"{SHARD_DURATIONS_FLAG}; "
    "merge the shards' JSON reports with python -m pytest_twolayer.merge",
    metavar="K/N",
)
SHARD_DURATIONS = Option(
    SHARD_DURATIONS_FLAG,
    f"a previous run's JSON report ({REPORT_JSON.flag}, or a merged one): the shards are "
    "balanced on how long each implementation took there",
    metavar="PATH",
    ini_default="",
    path=True,
)
LOST_HOST_FAILS = Option(
    "--twolayer-lost-host-fails",
    "a host lost during the run (killed, unreachable, silent) fails it with exit status 1, "
    "even when every check it held got its verdict on another host; without it the loss "
    "is reported and the checks' verdicts decide",
)

ISOLATION_VALUES = ("process", "none")
ISOLATION = Option(
    "--twolayer-isolation",
    "where an implementation's code runs: 'process' (each implementation in a process of its "
    "own; the judging process never imports it, and a hang or crash is that implementation's "
    "failure; see docs/trust.md; the default) or 'none' (in the judging process: faster, "
    "and the implementation's code can change its own verdicts)",
    metavar="process|none",
    ini_default="process",
)

OPTIONS: tuple[Option, ...] = (
    IMPL,
    DEVICE,
    SEED,
    LIST,
    NO_SUITE,
    TIMEOUT,
    BENCHMARK_STEPS,
    BUDGET,
    MAX_RATIO,
    MAX_MEMORY_GROWTH,
    MATRIX,
    REPORT_JSON,
    REPORT_MD,
    PLOTS,
    RATCHET,
    RATCHET_UPDATE,
    DRY_RUN,
    SHARD,
    SHARD_DURATIONS,
    LOST_HOST_FAILS,
    ISOLATION,
)
"""Every option, in the order ``--help`` lists them."""

NEEDS_IMPL: tuple[Option, ...] = (DRY_RUN, RATCHET)
"""Options that mean nothing without ``--impl`` (a usage error, not a silent no-op)."""

GROUP = ("twolayer", "pytest-twolayer conformance suite")
"""The ``--help`` group every option is listed in (its name and its title)."""
