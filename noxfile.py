"""The project's checks, one nox session each, every session in a fresh virtual environment.

``nox -l`` lists them; ``nox -s NAME`` runs one; plain ``nox`` runs the everyday set (lint,
types, the fast tests, docs, record); ``bash .ci/run`` runs what CI runs. docs/development.md
says what each session is for, and what the compatibility session can and cannot run.

On a CPU-only machine PyTorch's CPU build is installed before anything pulls torch
(``TWOLAYER_TORCH``, default ``torch==2.13.0``; elsewhere point pip at PyTorch's CPU index,
e.g. ``PIP_EXTRA_INDEX_URL``), or pip fetches a multi-GB CUDA build.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
TORCH = os.environ.get("TWOLAYER_TORCH", "torch==2.13.0")
HOSTS_TEST = "tests/e2e/test_hosts.py::test_the_suite_across_two_hosts_gives_the_local_verdicts"
LOST_HOSTS_TESTS = "tests/e2e/test_lost_hosts.py"  # hosts killed mid-run; a stalled worker
FRAMEWORK_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d{2}:)")

nox.options.sessions = ["lint", "types", "tests", "docs", "record"]
nox.options.download_python = "never"  # use the machine's interpreters; fetch none
nox.options.error_on_external_run = True


def _pyenv_pythons() -> None:
    """Make pyenv's interpreters findable: their ``bin`` folders go to the end of PATH (pyenv's
    shims, earlier on PATH, answer only for the versions its ``global`` names)."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return
    try:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return
    folders = sorted(str(path) for path in Path(root.stdout.strip(), "versions").glob("3.*/bin"))
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *folders])


_pyenv_pythons()


def install_torch(session: nox.Session) -> None:
    session.install(TORCH)


def empty_folder(session: nox.Session) -> Path:
    """A new empty folder outside the checkout, removed when nox exits."""
    folder = Path(tempfile.mkdtemp(prefix="twolayer-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    session.log(f"empty folder: {folder}")
    return folder


# ---------------------------------------------------------------------------------------------
# Lint, types, record


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) over every Python file; import-linter's layers."""
    session.install("ruff", "import-linter")
    session.install("-e", ".", "--no-deps")  # importable for lint-imports, nothing more
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def types(session: nox.Session) -> None:
    """mypy, strict, on pytest_twolayer/ and conformance/, for the oldest claimed Python
    (``python_version`` in pyproject.toml). Neither torch nor TensorFlow is needed: mypy treats
    them as untyped (``ignore_missing_imports``) whether or not they are installed."""
    session.install("-e", ".[plots]", "mypy")
    session.run("mypy")


@nox.session
def record(session: nox.Session) -> None:
    """api-record.json equals the code, and each section that changed since the last release
    has a news fragment; the fragments render (towncrier's draft of the next entry)."""
    session.install(".", "towncrier")
    session.run("python", "scripts/api_record.py", "--check")
    session.run("python", "scripts/api_record.py", "--fragments")
    session.run("towncrier", "build", "--draft", "--version", "next")


# ---------------------------------------------------------------------------------------------
# The plugin's own tests


def install_tests(session: nox.Session) -> None:
    """CPU torch, then the package with its test extra, editable: the own tests read the
    checkout's files (the README, the suite's sources) through the package's location."""
    install_torch(session)
    session.install("-e", ".[all,test]")


@nox.session
def tests(session: nox.Session) -> None:
    """The inner loop: the own tests without the slow ones (those that start processes)."""
    install_tests(session)
    session.run(
        "pytest", "-n", "auto", "-p", "no:cacheprovider", "-m", "not slow", *session.posargs
    )


@nox.session(name="tests-full")
def tests_full(session: nox.Session) -> None:
    """The README's command, every own test, then CI's run of the test across two hosts with
    its output shown. TF_CPP_MIN_LOG_LEVEL only here: the user's command sets none. .ci/run
    runs these two commands itself, in this session's environment (``--install-only``)."""
    install_tests(session)
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    session.run("pytest", "-n", "auto", "-p", "no:cacheprovider", "--durations=25", env=env)
    session.run("pytest", "-p", "no:cacheprovider", "-s", "-q", HOSTS_TEST)
    session.run("pytest", "-p", "no:cacheprovider", "-s", "-q", LOST_HOSTS_TESTS)


# ---------------------------------------------------------------------------------------------
# Documentation


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, strictly: any warning fails it (a broken link or anchor, a
    reference that does not resolve, a docstring that does not parse). Output: docs/_build."""
    session.install(".[docs]")
    out = ROOT / "docs" / "_build" / "html"
    shutil.rmtree(out, ignore_errors=True)
    session.run("sphinx-build", "-W", "--keep-going", "-n", "-q", "-b", "html", "docs", str(out))
    session.log(f"site: {out / 'index.html'}")


# ---------------------------------------------------------------------------------------------
# As a user runs it


def run_logged(session: nox.Session, log: Path, *args: str) -> None:
    """Run a command, showing its output and keeping a copy in ``log``."""
    session.log(" ".join(args))
    with log.open("w") as out:
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=os.getcwd()
        )
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            out.write(line)
    if process.wait() != 0:
        session.error(f"{args[0]} exited with status {process.returncode}")


def as_a_user(
    session: nox.Session, bin_dir: Path, work: Path, then: Callable[[], None] = lambda: None
) -> None:
    """What .ci/run checks of the README's main command, run with the ``pytest`` and
    ``python`` of ``bin_dir`` from an empty folder: by default (xdist workers), leaving the
    folder empty and printing no framework's log line; in one process (-n 0) writing every
    report and figure, the JSON valid against its schema; as three CI shards whose merged
    report equals the unsharded run's. ``then`` runs between the first run and the others."""
    pytest, python = str(bin_dir / "pytest"), str(bin_dir / "python")
    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    session.chdir(empty)
    common = ["-p", "no:cacheprovider"]

    session.log("the conformance suite, in parallel by default, from an empty folder")
    run_logged(session, work / "main.out", pytest, "-p", "twolayer", "--impl", "all", *common)
    left = sorted(path.name for path in empty.iterdir())
    if left:
        session.error(f"the run left files in an empty folder: {left}")
    if any(FRAMEWORK_LOG_LINE.match(line) for line in (work / "main.out").read_text().splitlines()):
        session.error("framework log lines in the default output")
    then()

    session.log("the same in one process (-n 0), with the reports and figures a CI keeps")
    reports = work / "reports"
    session.run(
        pytest, "-p", "twolayer", "--impl", "all", "-n", "0", *common, "--twolayer-matrix=no",
        "--twolayer-report-json", str(reports / "twolayer.json"),
        "--twolayer-report-md", str(reports / "twolayer.md"),
        "--junitxml", str(reports / "junit.xml"),
        "--twolayer-plots", str(reports / "plots"),
        external=True,
    )  # fmt: skip
    check_reports = str(ROOT / ".ci" / "check_reports.py")
    session.run(python, check_reports, "whole", str(reports), external=True)

    session.log("three CI shards of --impl all, merged into one verdict")
    shards = [work / "shards" / f"shard-{k}.json" for k in (1, 2, 3)]
    for k, shard in enumerate(shards, 1):
        session.run(
            pytest, "-p", "twolayer", "--impl", "all", "--twolayer-shard", f"{k}/3", *common,
            "-q", "--twolayer-report-json", str(shard), external=True,
        )  # fmt: skip
    merged = work / "shards" / "merged.json"
    session.run(
        python, "-m", "pytest_twolayer.merge", *map(str, shards), "--json", str(merged),
        external=True,
    )  # fmt: skip
    whole = str(reports / "twolayer.json")
    session.run(python, check_reports, "merged", str(merged), whole, external=True)


@nox.session
def user(session: nox.Session) -> None:
    """The README's main command as a user installs the package from a checkout
    (``pip install ".[all]"``), from an empty folder (:func:`as_a_user`)."""
    install_torch(session)
    session.install(".[all]", "jsonschema")
    as_a_user(session, Path(session.bin), empty_folder(session))


@nox.session
def package(session: nox.Session) -> None:
    """The sdist and the wheel as a release makes them (``python -m build``), their metadata
    checked (``twine check --strict``); the wheel alone then installed into a fresh virtual
    environment outside the checkout, where ``--twolayer-list`` and the main command run from
    an empty folder; then, with jsonschema added, the rest of :func:`as_a_user`."""
    session.install("build", "twine")
    work = empty_folder(session)
    dist = work / "dist"
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    built = sorted(path.name for path in dist.iterdir())
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1 or len(list(dist.glob("*.tar.gz"))) != 1:
        session.error(f"expected one wheel and one sdist, got {built}")
    session.run("twine", "check", "--strict", *(str(dist / name) for name in built))

    venv = work / "venv"
    session.run(sys.executable, "-m", "venv", str(venv), external=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q"]
    session.run(*pip, TORCH, external=True)
    session.run(*pip, f"{wheels[0]}[all]", external=True)
    empty = work / "empty"
    empty.mkdir()
    session.chdir(empty)
    session.run(
        str(bin_dir / "python"), "-c",
        "import pytest_twolayer as tl; print('installed pytest-twolayer', tl.__version__, "
        "'from', tl.__file__)",
        external=True,
    )  # fmt: skip
    session.run(
        str(bin_dir / "pytest"), "-p", "twolayer", "--twolayer-list", "-p", "no:cacheprovider",
        external=True,
    )  # fmt: skip
    as_a_user(session, bin_dir, work, then=lambda: session.run(*pip, "jsonschema", external=True))


# ---------------------------------------------------------------------------------------------
# The versions we claim


def claimed_floors() -> dict[str, str]:
    """``{distribution: oldest version}`` from pyproject.toml's ``>=`` dependencies."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - nox itself on 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", requirement)
        if match:
            floors[match[1]] = match[2]
    return floors


OLDEST_NUMPY = {"3.10": "1.24.0", "3.11": "1.24.0", "3.12": "1.26.0", "3.13": "2.1.0"}
"""The oldest numpy with wheels for each Python (numpy 1.24 predates 3.12, 1.26 3.13):
the claim ``numpy>=1.24`` is tested where it can be installed."""

COMPAT_TESTS = ["tests/unit"]
"""What of the own tests runs there: the unit tests (a few seconds), less those parametrized
over a built-in that needs a framework (``.ci/without_frameworks.py`` deselects them). The
pytester sessions need torch for most of their runs and take minutes: the ``tests`` sessions
run them, on the newest versions."""


@nox.session(python=PYTHONS)
@nox.parametrize("versions", ["oldest", "newest"], ids=["oldest", "newest"])
def compat(session: nox.Session, versions: str) -> None:
    """The oldest claimed and the newest pytest, pytest-xdist, pytest-benchmark, hypothesis,
    threadpoolctl and numpy, on each Python the machine has. numpy-only: torch's CPU build
    is not installed here (it comes quickly only for some Pythons), so the suite runs on the
    numpy built-in (``--impl numpy``: parallel by default, in one process, the listing, the
    dry run, three shards merged) and the own tests that need no framework run."""
    python = str(session.python)
    if versions == "oldest":
        floors = claimed_floors()
        floors["numpy"] = OLDEST_NUMPY[python]
        pins = [f"{name}=={version}" for name, version in floors.items()]
    else:
        pins = ["--upgrade", *claimed_floors()]
    # Editable: the own tests read the checkout's files through the package's location.
    session.install("-e", ".", *pins, "jsonschema")
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    work = empty_folder(session)
    empty = work / "empty"
    empty.mkdir()
    session.chdir(empty)
    common = ["-p", "twolayer", "-p", "no:cacheprovider", "--impl", "numpy"]
    session.run("pytest", "-p", "twolayer", "--twolayer-list")
    session.run("pytest", *common)
    session.run("pytest", *common, "-n", "0", "--twolayer-report-json", str(work / "whole.json"))
    session.run("pytest", *common, "--twolayer-dry-run")
    for k in (1, 2):
        session.run(
            "pytest", *common, "--twolayer-shard", f"{k}/2",
            "--twolayer-report-json", str(work / f"shard-{k}.json"),
        )  # fmt: skip
    session.run(
        "python", "-m", "pytest_twolayer.merge", str(work / "shard-1.json"),
        str(work / "shard-2.json"), "--json", str(work / "merged.json"),
    )  # fmt: skip
    session.chdir(ROOT)
    session.run(
        "pytest", "-p", "no:cacheprovider", "-p", "without_frameworks", "-m", "not slow",
        *COMPAT_TESTS, *session.posargs, env={"PYTHONPATH": str(ROOT / ".ci")},
    )  # fmt: skip
