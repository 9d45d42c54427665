"""A run with ``--twolayer-isolation process`` gives the verdicts, word for word, that the same
run gives in one process: for correct nets, for broken ones, and for nets that change
process-global state (judged in the host, where they run). The benchmark concern is left out:
timing in a host is not done yet (docs/trust.md, "Not yet")."""

from __future__ import annotations

import json
import os
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
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("sealed-runs")
    (folder / "sealed_runs_exhibits.py").write_text(EXHIBITS)
    registrations = "\n".join(
        f'    registry.add("{name}", "sealed_runs_exhibits:{cls}")' for name, cls in NAMES.items()
    )
    (folder / "conftest.py").write_text(
        f"def pytest_twolayer_register(registry):\n{registrations}\n"
    )
    (folder / "pytest.ini").write_text("[pytest]\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(folder), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
        ).rstrip(os.pathsep),
    }
    found = {}
    for isolation in ("none", "process"):
        report = folder / f"{isolation}.json"
        result = run_as_user(
            [
                "pytest", "-p", "twolayer", "--impl", ",".join(NAMES), "-n", "0",
                "-p", "no:cacheprovider", "--twolayer-isolation", isolation,
                "-k", "not test_benchmark_step", "--twolayer-report-json", str(report), "-q",
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


@pytest.mark.parametrize(
    ("impl", "label"),
    [
        ("silences", "[hygiene.global_state]"),
        ("setsenv", "[hygiene.global_state]"),
        ("upcasts", "[shapes.forward]"),
        ("views", "[contract.copies]"),
        ("mutates", "[hygiene.inputs]"),
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
