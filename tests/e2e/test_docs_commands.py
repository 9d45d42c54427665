"""Every shell command of the documentation is exercised.

The README and ``docs/*.md`` show commands in fenced ``bash`` blocks (one command per line;
a line ending in ``\\`` continues on the next; ``#`` starts a comment) and in the ``run:``
steps of ``yaml`` workflows. :func:`documented_commands` extracts them all and splits each
line on ``&&`` into simple commands. :data:`COMMANDS` says how each one is exercised:

- :class:`Run`: for real, in a fresh folder holding the example files it needs; its exit
  status and a line of its output are asserted. Where a real run would cost more than about
  30 s it is cut down without dropping any of its options: ``--impl all`` then selects only
  the ``numpy`` entry point (``pytest_twolayer.run.registry.installed_entry_points`` is patched,
  in this process and in the xdist workers a command starts), or arguments that shrink the
  work are appended (``extra``).
- :class:`NotRun`: a command that cannot run here (installing the project itself, the
  plugin's own test run, a GPU check, a multi-minute measurement), with the reason and the
  tests or scripts that cover its effect.

``test_every_documented_command_is_listed`` fails when the docs gain a command that
:data:`COMMANDS` does not list (or lose one it lists), and
``test_no_command_hides_in_prose`` when a command shown inline in the text is not also in a
block, so no documented command goes unexercised.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest
from _pytest.assertion.rewrite import AssertionRewritingHook  # what pytest puts on sys.meta_path

from tests.support.readme import DOCS, ROOT, example_files

EXAMPLES = example_files()

# ---------------------------------------------------------------------------------------------
# Extraction


FENCE = re.compile(r"^\s*```(?P<lang>[\w+-]*)\s*$")
YAML_RUN = re.compile(r"^(?P<indent>\s*)(?:- )?run:\s*(?P<value>.*)$")


def fenced_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """``(language, line number of the block's first line, lines)`` of every fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if FENCE.match(lines[j])), len(lines))
        yield opening["lang"], i + 2, lines[i + 1 : end]
        i = end + 1


def outside_quotes(text: str) -> Iterator[tuple[int, str]]:
    """``(index, character)`` of every character of a shell line outside quotes."""
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        else:
            yield index, char


def strip_comment(line: str) -> str:
    """The line without its ``# comment`` (a ``#`` outside quotes, after a space)."""
    for index, char in outside_quotes(line):
        if char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def simple_commands(line: str) -> list[str]:
    """A command line split on ``&&`` (outside quotes) into its simple commands."""
    cuts = [i for i, char in outside_quotes(line) if line.startswith("&&", i) and char == "&"]
    parts, start = [], 0
    for cut in cuts:
        if cut >= start:
            parts.append(line[start:cut])
            start = cut + 2
    parts.append(line[start:])
    return [part.strip() for part in parts if part.strip()]


def bash_lines(first: int, body: list[str]) -> Iterator[tuple[int, str]]:
    """``(line number, command line)`` of a bash block, continuation lines joined."""
    pending, start = "", first
    for offset, raw in enumerate(body):
        if not pending:
            start = first + offset
        line = raw.strip() if pending else raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        command = strip_comment(pending + line).strip()
        pending = ""
        if command:
            yield start, command


def yaml_run_lines(first: int, body: list[str]) -> Iterator[tuple[int, str]]:
    """``(line number, command line)`` of every ``run:`` step of a workflow: a folded
    (``>``) value is one command line, a literal (``|``) value one per line."""
    i = 0
    while i < len(body):
        match = YAML_RUN.match(body[i])
        if match is None:
            i += 1
            continue
        value = strip_comment(match["value"]).strip()
        if value[:1] not in (">", "|"):
            yield first + i, value
            i += 1
            continue
        j = i + 1
        block: list[str] = []
        while j < len(body) and (
            not body[j].strip() or len(body[j]) - len(body[j].lstrip()) > len(match["indent"])
        ):
            if body[j].strip():
                block.append(strip_comment(body[j]).strip())
            j += 1
        if value.startswith(">"):
            yield first + i, " ".join(block)
        else:
            yield from ((first + i, line) for line in block)
        i = j


def documented_commands() -> dict[str, list[str]]:
    """``{simple command: ["page:line", ...]}`` for every command of the documentation."""
    found: dict[str, list[str]] = {}
    for page in DOCS:
        name = page.relative_to(ROOT).as_posix()
        for language, first, body in fenced_blocks(page.read_text(encoding="utf-8")):
            if language == "bash":
                lines = bash_lines(first, body)
            elif language == "yaml":
                lines = yaml_run_lines(first, body)
            else:
                continue
            for number, line in lines:
                for command in simple_commands(line):
                    found.setdefault(command, []).append(f"{name}:{number}")
    return found


INLINE_COMMAND = re.compile(
    r"(?<!`)`(?P<code>(?:pytest|python|python3|pip|bash|jq|ruff|mypy) [^`]+)`(?!`)"
)


def inline_commands() -> dict[str, list[str]]:
    """Commands quoted inline in the text, outside fenced blocks: ``{command: [where]}``."""
    found: dict[str, list[str]] = {}
    for page in DOCS:
        name = page.relative_to(ROOT).as_posix()
        inside = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if FENCE.match(line):
                inside = not inside
                continue
            if not inside:
                for match in INLINE_COMMAND.finditer(line):
                    found.setdefault(match["code"], []).append(f"{name}:{number}")
    return found


# ---------------------------------------------------------------------------------------------
# How each command is exercised


@dataclass(frozen=True)
class Run:
    """Run the command for real and assert its exit status and one line of its output."""

    expect: str | None  # an fnmatch pattern some output line must match (None: status only)
    files: tuple[str, ...] = ()  # the documentation's example files to put in the folder
    status: tuple[int, ...] = (0,)
    numpy_only: bool = False  # `--impl all` selects the numpy entry point alone
    extra: tuple[str, ...] = ()  # appended arguments that shrink the work, not the options
    after: str | None = None  # a documented command that must have run in the folder first
    creates: tuple[str, ...] = ()  # files the command must write, relative to its folder
    in_repository: bool = False  # run from the repository's root instead of a fresh folder
    prepare: Callable[[pytest.MonkeyPatch], None] | None = None  # patches for an in-process run
    gate: str | None = None  # a speed gate's verdict: exit status 1 with it is a pass too
    subprocess: bool = False  # a pytest command in its own process even without -n
    why: str = ""  # why the run differs from the documented command, when it does


@dataclass(frozen=True)
class NotRun:
    """A command that cannot run here; ``covered_by`` names what covers its effect."""

    reason: str
    covered_by: tuple[str, ...] = field(default_factory=tuple)


MYNET = ("mynet.py",)
MINE = ("mynet.py", "conftest.py")  # MyNet registered as `mine` by the README's hook
ALL_COSTS = "a real run checks all nine built-ins"
INSTALL = "installs a package into the running environment"


def small_zoo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The zoo CLI on one exhibit and one control instead of all 62."""
    from pytest_twolayer.zoo import runner

    subset = {
        name: cls
        for name, cls in runner.exhibits().items()
        if name in ("zoo-lr-doubled", "zoo-numpy-control")
    }
    monkeypatch.setattr(runner, "exhibits", lambda: subset)


COMMANDS: dict[str, Run | NotRun] = {
    # README.md: quick start
    "pip install torch==2.13.0": NotRun(INSTALL, (".ci/run",)),
    'pip install ".[all]"': NotRun(
        INSTALL + "; .ci/run installs it with the test extra into a fresh environment",
        (".ci/run",),
    ),
    'pip install ".[all,test]"': NotRun(INSTALL, (".ci/run",)),
    "pytest -p twolayer --impl all": Run(
        "*twolayer conformance matrix*", numpy_only=True, why=ALL_COSTS
    ),
    "pytest -n auto": NotRun(
        "the plugin's own tests, this file among them (minutes, and it would recurse)",
        (".ci/run",),
    ),
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p twolayer -p benchmark -p xdist --impl all": Run(
        "*plugins: twolayer-*", numpy_only=True, why=ALL_COSTS
    ),
    # README.md: registration
    "pytest -p twolayer --impl mine=mynet:MyNet": Run(
        "twolayer: implementations: mine (float64)", files=MYNET
    ),
    "pytest -p twolayer --impl mine": Run("twolayer: implementations: mine (float64)", MINE),
    # docs/trust.md
    "pytest -p twolayer --impl mine=mynet:MyNet --twolayer-isolation none": Run(
        "twolayer: isolation none: *", files=MYNET
    ),
    "pip install .": NotRun(
        INSTALL,
        (
            "tests/sessions/test_readme_examples.py::test_entry_point_registration_of_an_installed_package",
        ),
    ),
    "pytest -p twolayer --twolayer-list": Run(
        "numpy *cpu *float64,float32 *SGD(lr=1e-06, momentum=0.0) *0 *entry point *"
    ),
    # docs/benchmarks.md
    "pytest -p twolayer --impl mine,numpy --twolayer-max-ratio mine:numpy=2": Run(
        "*mine *cpu *float64*",
        MINE,
        gate="[[]benchmark_step.ratio[]] impl=mine device=cpu dtype=float64 seed=0: median step *",
    ),
    "pytest -p twolayer --impl mine --twolayer-budget mine=5": Run(
        "*passed*",
        MINE,
        gate="[[]benchmark_step.budget[]] impl=mine device=cpu dtype=float64 seed=0: median step *",
    ),
    "pytest -p twolayer --impl mine --benchmark-save baseline": Run(
        "Saved benchmark data in: *", MINE, creates=(".benchmarks",)
    ),
    "pytest -p twolayer --impl mine --benchmark-compare --benchmark-compare-fail median:50%": Run(
        "*Comparing against benchmarks from: *",
        MINE,
        after="pytest -p twolayer --impl mine --benchmark-save baseline",
        gate="*Performance has regressed*",
        # pytest-benchmark raises out of pytest on a regression: exit status 1 in a process
        # of its own, an internal error inside this one
        subprocess=True,
    ),
    "python benchmarks/timer_agreement.py": NotRun(
        "a measurement, so no test covers it: it exits 1 when two timers disagree by more"
        " than 10%, which a busy machine causes now and then"
    ),
    # docs/checks.md
    "python -m pytest_twolayer.zoo --markdown": Run(
        "| zoo-lr-doubled | *| update_follows_rule | caught |",
        prepare=small_zoo,
        why="one exhibit and one control instead of the whole zoo;"
        " tests/e2e/test_zoo_verdicts.py runs the whole zoo",
    ),
    # docs/ci.md
    "pip install torch --index-url https://download.pytorch.org/whl/cpu": NotRun(
        INSTALL + " (a workflow step, from the network)", (".ci/run",)
    ),
    "pip install pytest-twolayer -e .": NotRun(
        INSTALL + " (a workflow step for the user's own package)",
        (
            "tests/sessions/test_readme_examples.py::test_entry_point_registration_of_an_installed_package",
        ),
    ),
    (
        'pytest -p twolayer --impl mine -n 2 --twolayer-report-md "$GITHUB_STEP_SUMMARY" '
        "--twolayer-report-json twolayer.json --junitxml junit.xml "
        "--twolayer-ratchet twolayer-ratchet.json"
    ): Run(
        "ratchet: wrote twolayer-ratchet.json*",
        MINE,
        creates=("twolayer.json", "junit.xml", "twolayer-ratchet.json", "summary.md"),
    ),
    "pip install torch pytest-twolayer -e .": NotRun(
        INSTALL + " (a GPU workflow step for the user's own package)",
        (
            "tests/sessions/test_readme_examples.py::test_entry_point_registration_of_an_installed_package",
        ),
    ),
    (
        'pytest -p twolayer --impl mine --device cuda --twolayer-report-md "$GITHUB_STEP_SUMMARY" '
        "--twolayer-report-json twolayer.json --junitxml junit.xml"
    ): Run(
        "ERROR: --device cuda was asked for but *",
        MINE,
        status=(4,),  # the workflow's promise: a runner without its GPU fails, exit code 4
    ),
    "pytest -p twolayer --impl mine --twolayer-ratchet twolayer-ratchet.json": Run(
        "ratchet: wrote twolayer-ratchet.json*", MINE, creates=("twolayer-ratchet.json",)
    ),
    "pytest -p twolayer --impl all --twolayer-dry-run": Run("*twolayer dry run: nothing is run*"),
    # docs/development.md
    "ruff check .": Run("All checks passed!", in_repository=True),
    "ruff format --check .": Run("* files already formatted", in_repository=True),
    "mypy": NotRun("strict typing of the package takes a minute", (".ci/run",)),
    'pytest -m "not slow"': NotRun(
        "the plugin's own tests that start no process: .ci/run runs them with the rest",
        (".ci/run",),
    ),
    "lint-imports": Run("Contracts: * kept, 0 broken.", in_repository=True),
    "bash .ci/run": NotRun(
        "CI itself: a fresh virtual environment, installs, the plugin's own tests",
        (".ci/run",),
    ),
    "python scripts/seed_sweep.py --seeds 200": Run(
        "numpy      1 seeds, 0 failures*",
        extra=("--seeds", "1", "--impl", "numpy"),
        in_repository=True,
        why="one seed of numpy instead of 200 seeds of the nine built-ins (hours)",
    ),
    "bash scripts/gpu_check.sh": NotRun(
        "needs a GPU and PyTorch with cuda; it is the test of the cuda paths itself"
    ),
    # docs/misbehaving.md
    "pytest -p twolayer --impl all -n 1 --twolayer-isolation none": Run(
        "created: 1/1 worker*", numpy_only=True, why=ALL_COSTS
    ),
    # docs/own-tests.md
    "pytest -p twolayer --impl mine=mynet:MyNet test_mine.py": Run(
        "test_mine.py .. *", ("mynet.py", "test_mine.py")
    ),
    "pytest -p twolayer --impl mine=mynet:MyNet --twolayer-no-suite test_mine.py": Run(
        "*2 passed*", ("mynet.py", "test_mine.py")
    ),
    # docs/trust.md
    "python benchmarks/sealed_medians.py --repeats 3": NotRun(
        "a measurement, so no test covers it: six runs of the benchmark concern of --impl all "
        "(minutes); .ci/run prints its figures on every run",
        (".ci/run",),
    ),
    # docs/grading.md
    (
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p twolayer -p benchmark -p xdist --impl all "
        "--twolayer-isolation process --twolayer-report-json verdicts.json "
        "--twolayer-report-md verdicts.md"
    ): Run(
        "twolayer: sealed verdicts: each implementation in a process of its own; *",
        numpy_only=True,
        creates=("verdicts.json", "verdicts.md"),
        why=ALL_COSTS,
    ),
    "python benchmarks/scale_probe.py --sizes 25,50,100,200": NotRun(
        "a measurement (minutes); tests/e2e/test_scale_probe.py runs the script on 2 and 4 "
        "implementations, and .ci/run prints its 25 and 200 figures on every run",
        ("tests/e2e/test_scale_probe.py", ".ci/run"),
    ),
    # docs/parallel.md
    "pytest -p twolayer --impl all -n 0": Run("*passed*", numpy_only=True, why=ALL_COSTS),
    "python benchmarks/suite_speed.py --repeats 3": NotRun(
        "a measurement, so no test covers it: fifteen runs of the whole suite (minutes)"
    ),
    # docs/plots.md
    'pip install ".[plots]"': NotRun(INSTALL, ("tests/sessions/test_plots.py",)),
    "pytest -p twolayer --impl all --twolayer-plots plots": Run(
        "twolayer plots: wrote *",
        numpy_only=True,
        creates=("plots/loss_curves.png", "plots/benchmarks.png"),
        why=ALL_COSTS,
    ),
    # docs/reports.md
    (
        "pytest -p twolayer --impl all --twolayer-report-json reports/twolayer.json "
        "--twolayer-report-md reports/twolayer.md"
    ): Run(
        "*passed*",
        numpy_only=True,
        creates=("reports/twolayer.json", "reports/twolayer.md"),
        why=ALL_COSTS,
    ),
    # docs/distributed.md
    "python -m execnet.script.socketserver 0.0.0.0:8888": NotRun(
        "a server that runs what it is sent until it is killed"
        " (tests/support/hosts.py starts it so)",
        ("tests/support/hosts.py",),
    ),
    (
        "pytest -p twolayer --impl all --px id=h1//socket=10.0.0.11:8888 "
        "--px id=h2//socket=10.0.0.12:8888 --tx 2*popen//via=h1 --tx 2*popen//via=h2"
    ): NotRun(
        "needs two hosts serving at those addresses (the test runs these options against two"
        " socket servers on loopback, in private namespaces)",
        ("tests/e2e/test_hosts.py::test_the_suite_across_two_hosts_gives_the_local_verdicts",),
    ),
    "pytest -p twolayer --impl all --twolayer-shard 1/3 --twolayer-report-json shard-1.json": Run(
        "twolayer: shard 1/3: *", numpy_only=True, creates=("shard-1.json",), why=ALL_COSTS
    ),
    (
        "python -m pytest_twolayer.merge shard-1.json shard-2.json shard-3.json --json "
        "merged.json --md merged.md --plots figures"
    ): NotRun(
        "needs the three shards' reports",
        ("tests/e2e/test_shards.py::test_three_shards_merge_into_the_unsharded_verdict",),
    ),
    (
        "pytest -p twolayer --impl all --twolayer-shard 2/3 --twolayer-shard-durations "
        "merged.json --twolayer-report-json shard-2.json"
    ): NotRun(
        "needs a previous run's report",
        ("tests/e2e/test_shards.py::test_three_shards_merge_into_the_unsharded_verdict",),
    ),
    (
        "pytest -p twolayer --impl all --twolayer-shard ${{ matrix.shard }}/3 "
        "--twolayer-report-json shard-${{ matrix.shard }}.json"
    ): NotRun(
        "a workflow step: GitHub fills in the shard",
        ("tests/e2e/test_shards.py::test_three_shards_merge_into_the_unsharded_verdict",),
    ),
    'pip install "pytest-twolayer[plots]"': NotRun(
        INSTALL + " (a workflow step, from the network)", ("tests/sessions/test_plots.py",)
    ),
    (
        "python -m pytest_twolayer.merge shard-*.json --json merged.json "
        '--md "$GITHUB_STEP_SUMMARY" --plots figures'
    ): NotRun(
        "a workflow step on the shards' artifacts",
        ("tests/e2e/test_shards.py::test_three_shards_merge_into_the_unsharded_verdict",),
    ),
}

REPORT = (
    "pytest -p twolayer --impl all --twolayer-report-json reports/twolayer.json "
    "--twolayer-report-md reports/twolayer.md"
)
COMMANDS.update(
    {
        (
            'jq -r \'.checks[] | select(.outcome != "passed") | '
            '"\\(.outcome) \\(.nodeid): \\(.line)"\' reports/twolayer.json'
        ): Run(None, after=REPORT),
        "jq '.matrix.rows[] | select(.impl == \"numpy\") | .cells' reports/twolayer.json": Run(
            '*"contract": "pass"*', after=REPORT
        ),
        (
            'jq -r \'.benchmarks[] | select(.what == "step") | '
            '"\\(.impl) \\(.device) \\(.median_s * 1000) ms"\' reports/twolayer.json'
        ): Run("numpy cpu * ms", after=REPORT),
    }
)


# ---------------------------------------------------------------------------------------------
# Running a command


WORKER_PLUGIN = '''\
"""Loaded through PYTEST_PLUGINS by tests/e2e/test_docs_commands.py: in every process but the
test's own (a pytest subprocess, its xdist workers), --impl all sees the numpy entry point
alone."""

import os
import sys

if str(os.getpid()) != os.environ.get("TWOLAYER_DOCS_TEST_PID"):
    from pytest_twolayer.run import registry

    original = registry.installed_entry_points

    def numpy_entry_point():
        return [point for point in original() if point.name == "numpy"][:1]

    for module in list(sys.modules.values()):
        package = getattr(module, "__name__", "").partition(".")[0]
        if package != "pytest_twolayer":
            continue
        if getattr(module, "installed_entry_points", None) is original:
            module.installed_entry_points = numpy_entry_point
'''


def only_the_numpy_entry_point(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``--impl all`` select the ``numpy`` entry point alone: here, by patching every
    module of the package that holds ``installed_entry_points`` (it is imported by name),
    and in pytest subprocesses and xdist workers, through a ``PYTEST_PLUGINS`` module."""
    from pytest_twolayer.run import registry

    original = registry.installed_entry_points

    def numpy_entry_point() -> list[object]:
        return [point for point in original() if point.name == "numpy"][:1]

    for module in list(sys.modules.values()):
        package = getattr(module, "__name__", "").partition(".")[0]
        if package == "pytest_twolayer" and getattr(module, "installed_entry_points", None) is (
            original
        ):
            monkeypatch.setattr(module, "installed_entry_points", numpy_entry_point)
    (folder / "twolayer_numpy_only.py").write_text(WORKER_PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), _pythonpath()])))
    monkeypatch.setenv("PYTEST_PLUGINS", "twolayer_numpy_only")
    monkeypatch.setenv("TWOLAYER_DOCS_TEST_PID", str(os.getpid()))


def _pythonpath() -> str:
    return os.environ.get("PYTHONPATH", "")


@dataclass
class Outcome:
    status: int
    output: str


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """Leading ``NAME=value`` assignments, and the arguments with ``$NAME`` expanded."""
    words = shlex.split(command)
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    expanded = [
        os.environ.get(word.strip("${}"), word) if re.fullmatch(r"\$\{?\w+\}?", word) else word
        for word in words
    ]
    return env, expanded


def execute(
    command: str,
    spec: Run,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Outcome:
    """Run ``command`` as its spec says, in ``pytester.path`` (or the repository's root)."""
    env, argv = split_command(command)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv += spec.extra
    program, args = argv[0], argv[1:]
    if program == "pytest":
        workers = args[args.index("-n") + 1] if "-n" in args else "0"
        if workers != "0" or spec.subprocess:  # in a process of its own, as a user's
            result = pytester.runpytest_subprocess(*args)
        else:
            result = pytester.runpytest_inprocess(*args)
        return Outcome(int(result.ret), "\n".join(result.outlines + result.errlines))
    if program == "python" and args[:1] == ["-m"]:
        if spec.prepare is not None:
            spec.prepare(monkeypatch)
        monkeypatch.setattr(sys, "argv", [args[1], *args[2:]])
        # Installed as a wheel, the package is marked for pytest's assertion rewriting (it is
        # an entry-point plugin), so pytest's import hook finds its modules; runpy then asks
        # that hook for a module's code, which it cannot give. `python -m` has no such hook.
        finders = [f for f in sys.meta_path if not isinstance(f, AssertionRewritingHook)]
        monkeypatch.setattr(sys, "meta_path", finders)
        capsys = request.getfixturevalue("capsys")
        try:
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
            status = 0
        except SystemExit as exit_:
            code = exit_.code
            status = code if isinstance(code, int) else 0 if code is None else 1
        captured = capsys.readouterr()
        return Outcome(status, captured.out + captured.err)
    if program == "python":
        argv = [sys.executable, *args]
    elif shutil.which(program) is None:  # a tool of this environment without its script
        if program in RUN_AS_MODULE:
            argv = [sys.executable, "-c", RUN_AS_MODULE[program], *args]
        else:
            pytest.skip(f"{program} is not installed here")
    cwd = ROOT if spec.in_repository else pytester.path
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    return Outcome(done.returncode, done.stdout + done.stderr)


def imports_frameworks(command: str, spec: Run) -> bool:
    """Whether running ``command`` here may import torch or TensorFlow: it loads every
    built-in (``--impl all`` unpatched, ``--twolayer-list``), asks whether cuda is present,
    or loads the zoo."""
    _, argv = split_command(command)
    every_builtin = "all" in ",".join(argv).split(",") and not spec.numpy_only
    return (
        every_builtin
        or "--twolayer-list" in argv
        or "--device" in argv
        or "pytest_twolayer.zoo" in argv
    )


@pytest.fixture(scope="session")
def frameworks() -> None:
    """torch and TensorFlow, imported for the whole session before a test's ``pytester``
    exists: pytester unloads at teardown every module imported during its test, and
    importing torch's C extension a second time into one process crashes it."""
    import importlib.util

    for framework in ("torch", "tensorflow"):
        if importlib.util.find_spec(framework) is not None:
            __import__(framework)


RUN_AS_MODULE = {
    "ruff": "import runpy; runpy.run_module('ruff', run_name='__main__')",
    "lint-imports": "import sys, importlinter.cli as c; sys.exit(c.lint_imports_command())",
}
"""How to run a tool whose console script is not on ``PATH``, from its installed package."""


def cuda_is_present() -> bool:
    """Whether the plugin finds cuda: torch decides when it is installed, else TensorFlow
    (the ``frameworks`` fixture imported them)."""
    torch, tf = sys.modules.get("torch"), sys.modules.get("tensorflow")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return bool(tf is not None and tf.config.list_physical_devices("GPU"))


RAN: dict[str, tuple[Path, Outcome]] = {}
"""Commands that already ran in this session: their folder and outcome. A command another
one needs first (``after``) runs once, and its own test judges that run."""


def run_documented(
    command: str,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Outcome:
    spec = COMMANDS[command]
    assert isinstance(spec, Run)
    if command in RAN:
        earlier, outcome = RAN[command]
        shutil.copytree(earlier, pytester.path, dirs_exist_ok=True)
        return outcome
    for name in spec.files:
        (pytester.path / name).write_text(EXAMPLES[name])
    if spec.files:
        pytester.syspathinsert()  # what the conftest imports, as `python -m pytest` would
    if spec.numpy_only:
        only_the_numpy_entry_point(monkeypatch, pytester.path)
    if spec.after is not None:
        first = run_documented(spec.after, pytester, monkeypatch, request)
        assert first.status == 0, f"{spec.after} exited {first.status}:\n{first.output}"
    outcome = execute(command, spec, pytester, monkeypatch, request)
    if not spec.in_repository:
        RAN[command] = (pytester.path, outcome)
    return outcome


# ---------------------------------------------------------------------------------------------
# The tests


def test_every_documented_command_is_listed():
    """A command added to the docs must be exercised here; one removed must go from here."""
    documented = documented_commands()
    unlisted = {c: where for c, where in documented.items() if c not in COMMANDS}
    stale = sorted(set(COMMANDS) - set(documented))
    assert not unlisted, "documented commands no test exercises (add them to COMMANDS):\n" + (
        "\n".join(f"  {', '.join(where)}: {command}" for command, where in unlisted.items())
    )
    assert not stale, f"COMMANDS lists commands the docs no longer show: {stale}"


def test_no_command_hides_in_prose():
    """A command quoted inline must also be in a block (so it is exercised): the inline text
    is a documented command or the start of one."""
    documented = documented_commands()
    hidden = {
        code: where
        for code, where in inline_commands().items()
        if not any(command.startswith(code) for command in documented)
    }
    assert not hidden, "commands shown only inline; put them in a bash block:\n" + "\n".join(
        f"  {', '.join(where)}: {code}" for code, where in hidden.items()
    )


def test_extraction_reads_blocks_as_a_shell_would():
    """Continuation lines join, comments go, ``&&`` splits, quotes are respected, and a
    workflow's folded ``run: >`` is one command."""
    bash = [
        "# a comment",
        "pytest -p twolayer --impl all \\",
        "    --twolayer-seed 1  # trailing comment",
        "pip install \".[all]\" && jq '.a && .b # not a comment' r.json",
    ]
    lines = list(bash_lines(10, bash))
    assert lines == [
        (11, "pytest -p twolayer --impl all --twolayer-seed 1"),
        (13, "pip install \".[all]\" && jq '.a && .b # not a comment' r.json"),
    ]
    assert simple_commands(lines[1][1]) == [
        'pip install ".[all]"',
        "jq '.a && .b # not a comment' r.json",
    ]
    yaml = [
        "    steps:",
        "      - run: pip install x  # why",
        "      - name: gate",
        "        run: >",
        "          pytest -p twolayer",
        "          --impl mine",
        "      - uses: actions/upload-artifact@v4",
    ]
    assert list(yaml_run_lines(1, yaml)) == [
        (2, "pip install x"),
        (4, "pytest -p twolayer --impl mine"),
    ]


def command_id(command: str) -> str:
    """A test id that ``-k`` can select: the command, quotes and shell syntax made ``_``."""
    return re.sub(r"[^\w .=:,/%@+-]", "_", command)


@pytest.mark.parametrize(
    "command", sorted(c for c, s in COMMANDS.items() if isinstance(s, Run)), ids=command_id
)
def test_documented_command_runs(
    command: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
):
    spec = COMMANDS[command]
    assert isinstance(spec, Run)
    if imports_frameworks(command, spec):
        request.getfixturevalue("frameworks")  # before pytester takes its snapshot
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    if "--device cuda" in command and cuda_is_present():
        pytest.skip("cuda is present: scripts/gpu_check.sh checks the cuda runs")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary.md"))
    outcome = run_documented(command, pytester, monkeypatch, request)
    how = f" ({spec.why})" if spec.why else ""
    shown = f"{command}{how}\nexited {outcome.status}:\n{outcome.output[-6000:]}"
    lines = outcome.output.splitlines()
    if spec.gate is not None and outcome.status == 1:
        # A speed gate tripped: the machine was busy. That is the gate working.
        assert any(fnmatch(line, spec.gate) for line in lines), f"not the gate's failure: {shown}"
        return
    assert outcome.status in spec.status, shown
    if spec.expect is not None:
        assert any(fnmatch(line, spec.expect) for line in lines), (
            f"no line matches {spec.expect!r}: {shown}"
        )
    folder = ROOT if spec.in_repository else pytester.path
    missing = [name for name in spec.creates if not (folder / name).exists()]
    assert not missing, f"{command} did not write {missing}"


@pytest.mark.parametrize(
    "command", sorted(c for c, s in COMMANDS.items() if isinstance(s, NotRun)), ids=command_id
)
def test_commands_not_run_name_what_covers_them(command: str):
    """Each command that cannot run says why, and names tests or scripts that exist."""
    spec = COMMANDS[command]
    assert isinstance(spec, NotRun)
    assert spec.reason
    for cover in spec.covered_by:
        path, _, test = cover.partition("::")
        assert (ROOT / path).exists(), f"{command}: {path} does not exist"
        if test:
            source = (ROOT / path).read_text(encoding="utf-8")
            assert f"def {test}(" in source, f"{command}: {cover} does not exist"
