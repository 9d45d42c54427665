"""A net that changes process-global state fails its own checks while the correct nets that
share its process keep every verdict, in any order, under ``-n 0`` and ``-n 2``; users' own
tests are judged the same way (``monkeypatch`` is not a culprit)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_twolayer.checking.suite import suite_dir
from pytest_twolayer.outcomes.reproduction import HEADER
from pytest_twolayer.zoo import catalog
from pytest_twolayer.zoo.runner import parse_junit
from tests.support.readme import example_files

pytest.importorskip("torch")  # the correct neighbours are torch's nets too


# --- neighbours: the culprit fails, every correct net beside it passes, in any order ---------

NEIGHBOURS = ("numpy", "autograd", "nn")
POLLUTERS = {name: cls.changes for name, cls in catalog().items() if getattr(cls, "changes", ())}
"""The zoo's nets that leave process-global state changed, and what their verdicts name."""

ZOO_CONFTEST = """
from pytest_twolayer.zoo import catalog


def pytest_twolayer_register(registry):
    for name, cls in catalog().items():
        if getattr(cls, "changes", ()):
            registry.add(name, cls)
"""

ORDERS = {
    "polluters first": [*sorted(POLLUTERS), *NEIGHBOURS],
    "polluters last": [*NEIGHBOURS, *sorted(POLLUTERS, reverse=True)],
}
RUNS = [(order, workers) for order in ORDERS for workers in ("0", "2")]


def run_selection(folder: Path, impls: list[str], workers: str) -> Path:
    """The suite (all but the benchmark) on ``impls`` in that order, in a subprocess with a
    hermetic configuration; its junit report."""
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "conftest.py").write_text(ZOO_CONFTEST)
    report = folder / "junit.xml"
    command = [
        sys.executable, "-m", "pytest", "-c", str(folder / "pytest.ini"),
        str(folder), str(suite_dir()),  # both named: the conftest.py files above them load
        "-p", "twolayer", "--impl", ",".join(impls), "--device", "cpu", "-n", workers,
        "-k", "not benchmark", "-p", "no:cacheprovider", f"--junitxml={report}",
        "--twolayer-matrix=no", "-q",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    # one BLAS thread each: two oversubscribed pools on a small machine are ~10x slower
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 1, (done.stdout + done.stderr)[-4000:]
    return report


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Verdicts]:
    """The same selection, polluters first and polluters last, each under -n 0 and -n 2."""
    base = tmp_path_factory.mktemp("selection")
    return {
        (order, workers): verdicts(
            run_selection(base / f"{order.replace(' ', '-')}-n{workers}", ORDERS[order], workers)
        )
        for order, workers in RUNS
    }


Verdicts = dict[tuple[str, str, str | None], tuple[str, str]]


def verdicts(report: Path) -> Verdicts:
    """``{(implementation, check, dtype): (outcome, first line)}``."""
    outcomes, unparsed = parse_junit(report)
    assert not unparsed, unparsed
    return {
        (impl, o.check if o.call is None else f"{o.check}[{o.call}]", o.dtype): (
            o.status,
            o.message.strip().split("\n")[0],
        )
        for impl, found in outcomes.items()
        for o in found
    }


@pytest.mark.parametrize(("order", "workers"), RUNS, ids=[f"{o}, -n {w}" for o, w in RUNS])
def test_neighbours_keep_every_verdict_and_polluters_fail_naming_the_state(
    runs: dict[tuple[str, str], Verdicts], order: str, workers: str
):
    table = runs[order, workers]
    impls = {impl for impl, _, _ in table}
    assert impls == {*NEIGHBOURS, *POLLUTERS}, impls
    named: dict[str, set[str]] = {polluter: set() for polluter in POLLUTERS}
    zoo = catalog()
    for (impl, check, dtype), (status, line) in table.items():
        own = check.startswith("global_state_untouched[")
        if impl in POLLUTERS and own and status == "failure":
            assert line.startswith("[global_state_untouched] "), line
            found = {s for s in POLLUTERS[impl] if s in line}
            assert found, (POLLUTERS[impl], line)
            named[impl] |= found
        elif impl in POLLUTERS and check in zoo[impl].failing_checks:
            # its own later calls broken by the state it left (grad mode off): its verdict
            assert status == "failure", f"{impl} {check}[{dtype}]: {status}: {line}"
        else:
            assert status == "passed", f"{impl} {check}[{dtype}]: {status}: {line}"
    assert named == {polluter: set(settings) for polluter, settings in POLLUTERS.items()}


def test_verdicts_do_not_depend_on_the_order_nor_on_the_workers(
    runs: dict[tuple[str, str], Verdicts],
):
    """Outcome and verdict label per (implementation, check, dtype), in all four runs."""

    def labelled(table: Verdicts) -> dict[tuple[str, str, str | None], tuple[str, str]]:
        return {key: (status, line.split(" ", 1)[0]) for key, (status, line) in table.items()}

    first, *others = (labelled(runs[run]) for run in RUNS)
    for run, table in zip(RUNS[1:], others, strict=True):
        differ = {k: (first.get(k), table.get(k)) for k in first.keys() | table.keys()
                  if first.get(k) != table.get(k)}  # fmt: skip
        assert not differ, f"{RUNS[0]} vs {run}: {differ}"


# --- users' own tests, and the impl fixture ---------------------------------------------------

OWN_TESTS = """
import os

import numpy as np


def test_sets_a_variable(impl):
    os.environ["TWOLAYER_OWN"] = "1"


def test_monkeypatches(impl, monkeypatch, tmp_path):
    monkeypatch.setenv("TWOLAYER_OWN", "2")  # undone at teardown: no culprit
    monkeypatch.chdir(tmp_path)


def test_changes_numpy_errors(impl):
    np.seterr(over="raise")


def test_sees_the_process_as_it_was(impl):
    assert "TWOLAYER_OWN" not in os.environ
    assert np.geterr()["over"] == "warn"
"""

DIRTY = """
import os

from mynet import MyNet


class Dirty(MyNet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        os.environ["TWOLAYER_DIRTY"] = "1"
"""

WHERE = "device=cpu dtype=float64 seed=0"


def test_own_tests_are_judged_and_monkeypatch_is_no_culprit(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=example_files()["mynet.py"], dirty=DIRTY, test_mine=OWN_TESTS)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "mine=mynet:MyNet,dirty=dirty:Dirty", "--twolayer-no-suite",
        "test_mine.py", "-p", "no:randomly", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=2, errors=4)
    result.stdout.fnmatch_lines(
        [
            f"[[]global_state_untouched[]] impl=dirty {WHERE}: __init__() left "
            "process-global state changed: environment variable TWOLAYER_DIRTY unset -> '1'",
            f"[[]global_state_untouched[]] impl=mine {WHERE}: test_sets_a_variable left "
            "process-global state changed: environment variable TWOLAYER_OWN unset -> '1'",
            f"[[]global_state_untouched[]] impl=mine {WHERE}: test_changes_numpy_errors left "
            "process-global state changed: numpy error state (np.seterr) * over=warn * -> "
            "* over=raise *",
        ]
    )
    text = result.stdout.str()
    assert "test_monkeypatches[mine" not in text.split("short test summary info")[1]
    assert text.count("ERROR at setup of") == 4  # every test of dirty: its construction


def test_the_snippet_of_a_verdict_on_state_reproduces_it(pytester: pytest.Pytester):
    pytester.makeconftest(ZOO_CONFTEST)
    name = "zoo-changes-working-directory"
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", name, "-k", "params_canonical", "-p", "no:cacheprovider",
        "--twolayer-isolation", "none",  # the snippet runs in one process: the same folders
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    lines = result.outlines
    verdict = next(line for line in lines if line.startswith("[global_state_untouched]"))
    assert verdict == (
        f"[global_state_untouched] impl={name} device=cpu dtype=float64 seed=0: __init__() left "
        f"process-global state changed: working directory '{pytester.path}' -> "
        f"'{Path(os.environ.get('TMPDIR', '/tmp')).resolve()}'"
    )
    command = shlex.split(lines[lines.index(f"  {HEADER}") + 1])
    assert "left_as_found(check, Case(" in command[2]
    rerun = subprocess.run(
        [sys.executable, *command[1:]], cwd=pytester.path, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert rerun.returncode == 1, rerun.stderr[-2000:]
    # The traceback's exception line is the verdict, as the plugin printed it.
    raised = f"pytest_twolayer.hygiene.state.StateLeftChanged: {verdict}"
    assert raised in rerun.stderr.splitlines(), rerun.stderr[-2000:]
