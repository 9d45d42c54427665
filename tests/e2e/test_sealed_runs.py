"""A run with ``--twolayer-isolation process`` gives the verdicts, word for word, that the same
run gives in one process: for correct nets, for broken ones, and for nets that change
process-global state (judged in the host, where they run), the benchmark's (timed across the
boundary) included. ``--twolayer-list`` and the dry run learn the declarations from hosts too:
the judging process never imports the module."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.sessions import run_as_user

EXHIBITS = """
import os

import numpy as np

from pytest_twolayer.implementations.numpy_net import NumpyNet



class Correct(NumpyNet):
    pass


class SilencesNumpyErrors(NumpyNet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        np.seterr(all="ignore")


class SetsAVariableInStep(NumpyNet):
    def step(self, x, y):
        os.environ["SEALED_RUNS_FLAG"] = "1"
        return super().step(x, y)


class ForwardUpcasts(NumpyNet):
    def forward(self, x):
        return super().forward(x).astype(np.float64)


class ParamsAreViews(NumpyNet):
    def params(self):
        return {"w1": self.w1, "w2": self.w2}


class RaisesInItsThirtiethStep(NumpyNet):
    def step(self, x, y):
        self.taken = getattr(self, "taken", 0) + 1
        if self.taken == 30:
            raise FloatingPointError("the thirtieth step overflowed")
        return super().step(x, y)


class MutatesItsInput(NumpyNet):
    def to_device(self, a):
        out = super().to_device(a)
        if a.flags.writeable:
            a[...] = a * 1.0 + 0.0
            a.flat[0] += 1.0
        return out
"""
NAMES = {
    "correct": "Correct",
    "silences": "SilencesNumpyErrors",
    "setsenv": "SetsAVariableInStep",
    "upcasts": "ForwardUpcasts",
    "views": "ParamsAreViews",
    "mutates": "MutatesItsInput",
    "raises30": "RaisesInItsThirtiethStep",
}
BUILT_IN = {"dynamic": "pytest_twolayer.implementations.dynamic_net:DynamicNetImpl"}
"""Registered by path beside the exhibits: a sealed run times a dynamic net's steps in rounds
and replays the depths it drew within them."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sealed-runs")
    (folder / "sealed_runs_exhibits.py").write_text(EXHIBITS)
    targets = {name: f"sealed_runs_exhibits:{cls}" for name, cls in NAMES.items()} | BUILT_IN
    registrations = "\n".join(
        f'    registry.add("{name}", "{target}")' for name, target in targets.items()
    )
    (folder / "conftest.py").write_text(
        "import atexit, os, sys\n\n\n"
        "@atexit.register  # whether the judging process imported the module, at its end\n"
        "def imported():\n"
        "    if os.environ.get('SEALED_JUDGE'):\n"
        "        with open(os.environ['SEALED_JUDGE'], 'w') as judge:\n"
        "            judge.write(str('sealed_runs_exhibits' in sys.modules))\n\n\n"
        f"def pytest_twolayer_register(registry):\n{registrations}\n"
    )
    (folder / "pytest.ini").write_text("[pytest]\n")
    return folder


def environment(folder: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(folder), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
        ).rstrip(os.pathsep),
        **extra,
    }


@pytest.fixture(scope="module")
def reports(folder: Path) -> dict[str, dict[str, Any]]:
    env = environment(folder)
    found = {}
    for isolation in ("none", "process"):
        report = folder / f"{isolation}.json"
        result = run_as_user(
            [
                "pytest", "-p", "twolayer", "--impl", ",".join([*NAMES, *BUILT_IN]), "-n", "0",
                "-p", "no:cacheprovider", "--twolayer-isolation", isolation,
                "--twolayer-timeout", "600", "--twolayer-report-json", str(report), "-q",
            ],
            folder,
            env=env,
        )  # fmt: skip
        output = result.stdout[-3000:] + result.stderr[-3000:]
        assert result.returncode == 1, output
        assert report.is_file(), output
        found[isolation] = json.loads(report.read_text())
    return found


def verdicts(report: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["nodeid"]: (c["outcome"], c["message"]) for c in report["checks"]}


def test_every_verdict_and_message_is_the_one_of_a_run_in_one_process(
    reports: dict[str, dict[str, Any]],
):
    one_process, sealed = verdicts(reports["none"]), verdicts(reports["process"])
    assert one_process.keys() == sealed.keys()
    differ = {k: (one_process[k], sealed[k]) for k in one_process if one_process[k] != sealed[k]}
    assert differ == {}


def runs_of(report: dict[str, Any]) -> list[str]:
    """The implementations in the order their checks ran, one entry per unbroken run."""
    order = [c["impl"] for c in report["checks"]]
    return [impl for i, impl in enumerate(order) if i == 0 or order[i - 1] != impl]


def test_in_one_process_an_implementations_checks_run_together(
    reports: dict[str, dict[str, Any]],
):
    """Sealed, each implementation's host starts once for its checks (the suite's order took
    each check across every implementation in turn, restarting hosts beyond the live few);
    in one process the suite's order is kept."""
    sealed = runs_of(reports["process"])
    assert len(sealed) == len(set(sealed)) == len(NAMES) + len(BUILT_IN), sealed
    assert len(runs_of(reports["none"])) > len(NAMES)


def benchmarks(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(b["impl"], b["dtype"]): b for b in report["benchmarks"]}


def test_sealed_steps_are_timed_in_rounds_and_a_dynamic_nets_depths_are_replayed(
    reports: dict[str, dict[str, Any]],
):
    """Sealed, the host makes 20 steps per timed request; the depths a dynamic net drew within
    a round are replayed from the round's first parameters, and come out as the ones a run in
    one process reads from a copy before every step (the same seed draws the same depths)."""
    one_process, sealed = benchmarks(reports["none"]), benchmarks(reports["process"])
    assert {b["steps_per_round"] for b in one_process.values()} == {1}
    assert {b["steps_per_round"] for b in sealed.values()} == {20}
    dynamic = [key for key in sealed if key[0] == "dynamic"]
    assert dynamic
    for key in dynamic:
        assert 0 < one_process[key]["depth_mean"] < 3
        assert sealed[key]["depth_mean"] == one_process[key]["depth_mean"]


@pytest.mark.parametrize(
    ("impl", "label"),
    [
        ("raises30", "[benchmark_step.steps]"),
        ("silences", "[global_state_untouched]"),
        ("setsenv", "[global_state_untouched]"),
        ("upcasts", "[forward_shapes]"),
        ("views", "[params_are_copies]"),
        ("mutates", "[inputs_not_mutated]"),
    ],
)
def test_each_broken_net_is_caught_in_its_own_process(
    reports: dict[str, dict[str, Any]], impl: str, label: str
):
    messages = [c["message"] or "" for c in reports["process"]["checks"] if c["impl"] == impl]
    assert any(m.startswith(label) for m in messages), messages


def test_the_correct_net_passes_and_the_matrix_agrees(reports: dict[str, dict[str, Any]]):
    sealed = reports["process"]
    assert not [c for c in sealed["checks"] if c["impl"] == "correct" and c["outcome"] != "passed"]
    assert sealed["matrix"]["rows"] == reports["none"]["matrix"]["rows"]


@pytest.mark.parametrize(
    "command", [["--twolayer-list"], ["--impl", "correct,views", "--twolayer-dry-run"]]
)
def test_the_list_and_the_dry_run_learn_the_declarations_from_hosts(
    folder: Path, command: list[str]
):
    judge = folder / "judge.txt"
    judge.unlink(missing_ok=True)
    env = environment(folder, SEALED_JUDGE=str(judge))
    result = run_as_user(
        ["pytest", "-p", "twolayer", "-p", "no:cacheprovider", "--twolayer-isolation", "process",
         *command],
        folder,
        env=env,
    )  # fmt: skip
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "FAILED TO LOAD" not in result.stdout, output
    assert "SGD(lr=1e-06" in result.stdout, output  # the declarations, as a host described them
    assert judge.read_text() == "False"  # the judging process never imported the module
