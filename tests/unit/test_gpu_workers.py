"""scripts/gpu_workers.py, which scripts/gpu_check.sh runs on a GPU machine's parallel report:
here on made-up reports, since this machine has no GPU."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.support.modules import module_from_file

gpu_workers = module_from_file(
    Path(__file__).parents[2] / "scripts" / "gpu_workers.py", "twolayer_gpu_workers"
)


def check(impl: str, device: str, worker: str, outcome: str = "passed") -> dict[str, Any]:
    return {"impl": impl, "device": device, "worker": worker, "outcome": outcome,
            "nodeid": f"test_x.py::test_x[{impl}-{device}]"}  # fmt: skip


def two_gpus_three_workers() -> dict[str, Any]:
    shares = {"gw0": {"gpu": "0"}, "gw1": {"gpu": "1"}, "gw2": {"gpu": None}}
    return {
        "environment": {"hosts": {"localhost": {"gpus": 2, "workers": shares}}},
        "checks": [
            check("tensor", "cuda", "gw0"),
            check("tf-static", "cuda", "gw1"),
            check("numpy", "cpu", "gw2"),
            check("tensor", "cpu", "gw2"),
        ],
        "summary": {"verdict": "passed"},
    }


def test_one_worker_per_gpu_with_the_cuda_checks_on_them_is_proven() -> None:
    assert gpu_workers.problems(two_gpus_three_workers(), ["tensor", "tf-static"]) == []


def broken(change: str) -> dict[str, Any]:
    report = copy.deepcopy(two_gpus_three_workers())
    shares = report["environment"]["hosts"]["localhost"]["workers"]
    if change == "cuda on the worker without a GPU":
        report["checks"].append(check("nn", "cuda", "gw2"))
    elif change == "two workers on one GPU":
        shares["gw1"]["gpu"] = "0"
    elif change == "a GPU left unused":
        shares["gw1"]["gpu"] = None
    elif change == "TensorFlow never ran on cuda":
        report["checks"] = [c for c in report["checks"] if c["impl"] != "tf-static"]
    elif change == "a check failed":
        report["summary"]["verdict"] = "failed"
    return report


@pytest.mark.parametrize(
    "change",
    [
        "cuda on the worker without a GPU",
        "two workers on one GPU",
        "a GPU left unused",
        "TensorFlow never ran on cuda",
        "a check failed",
    ],
)
def test_each_broken_rule_is_a_problem(change: str) -> None:
    assert gpu_workers.problems(broken(change), ["tensor", "tf-static"]), change


def test_a_run_without_cuda_proves_nothing() -> None:
    report = two_gpus_three_workers()
    report["checks"] = [c for c in report["checks"] if c["device"] == "cpu"]
    assert "no cuda check ran" in gpu_workers.problems(report, [])
