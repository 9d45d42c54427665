"""Runs across hosts, on xdist's own engine: workers on execnet socket gateways in private
mount namespaces (their own /tmp) run the whole suite through proxy gateways, with no shared
folder, and give the verdicts of a local run; ``--tx`` alone distributes; work lost to a
crash is reported as not run. tests/sessions/test_hosts.py plans a host's GPUs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.hosts import across, two_hosts

QUICK = ("--twolayer-benchmark-steps", "20", "-p", "no:cacheprovider")


def verdicts(report: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    return {
        (c["impl"], c["device"], c["dtype"], c["check"]): c["outcome"] for c in report["checks"]
    }


def test_the_suite_across_two_hosts_gives_the_local_verdicts(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
):
    with two_hosts(tmp_path_factory.mktemp("hosts")) as hosts:
        remote = pytester.runpytest_subprocess(
            "-p", "twolayer", "--impl", "all", *QUICK, *across(hosts),
            "--twolayer-report-json", "remote.json", timeout=600,
        )  # fmt: skip
        left = {host.name: host.tmp_entries() for host in hosts}
        isolated = all(host.isolated for host in hosts)
    text = remote.stdout.str()
    assert remote.ret == 0, text[-3000:]
    remote.stdout.fnmatch_lines(
        ["twolayer: 4 xdist workers on 2 hosts (h1: 2, h2: 2), one implementation per worker*"]
    )
    report = json.loads((pytester.path / "remote.json").read_text())
    ran_on = {c["host"] for c in report["checks"] if c["outcome"] != "skipped"}
    assert ran_on == {"h1", "h2"}, ran_on  # both hosts ran implementations
    assert set(report["environment"]["hosts"]) == {"h1", "h2"}
    assert report["environment"]["xdist_workers"] == 4
    assert report["summary"]["not run"] == 0
    collected = int(re.search(r"4 workers \[(\d+) items\]", text)[1])  # type: ignore[index]
    assert report["summary"]["total"] == collected  # every collected check has a verdict
    assert text.count("twolayer conformance matrix") == 1
    assert text.count("twolayer benchmarks") == 1
    assert left == {"h1": [], "h2": []}, f"files left in the hosts' /tmp: {left}"
    print("hosts with a private /tmp each" if isolated else "namespaces unavailable: folders")

    local = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "all", "-n", "0", *QUICK,
        "--twolayer-report-json", "local.json", timeout=600,
    )  # fmt: skip
    assert local.ret == 0
    expected = json.loads((pytester.path / "local.json").read_text())
    assert verdicts(report) == verdicts(expected)


def test_tx_alone_distributes(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,tensor", "--tx", "2*popen", "-k",
        "implementation_loads", "--twolayer-report-json", "r.json", *QUICK,
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["twolayer: 2 xdist workers on 1 host (localhost: 2), one implementation per worker*"]
    )
    report = json.loads((pytester.path / "r.json").read_text())
    assert {c["worker"] for c in report["checks"]} == {"gw0", "gw1"}
    assert {c["host"] for c in report["checks"]} == {"localhost"}


@pytest.mark.parametrize(
    ("dist", "scheduler"),
    [("load", "one implementation per worker at a time"), ("loadfile", "xdist's --dist loadfile")],
)
def test_an_explicit_dist_chooses_the_scheduler(
    pytester: pytest.Pytester, dist: str, scheduler: str
):
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,tensor", "--tx", "2*popen", "--dist", dist,
        "-k", "implementation_loads", *QUICK,
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [f"twolayer: 2 xdist workers on 1 host (localhost: 2), {scheduler}*"]
    )


ABORTS = """
from pytest_twolayer.zoo.numpy_bugs import CrashesOnBatchOfOne


def pytest_twolayer_register(registry):
    registry.add("abort", CrashesOnBatchOfOne)
"""


def test_checks_lost_to_a_crash_are_reported_as_not_run(pytester: pytest.Pytester):
    pytester.makeconftest(ABORTS)
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "abort,numpy", "-n", "1", "--max-worker-restart", "0",
        "--twolayer-report-json", "r.json", *QUICK,
        "--twolayer-isolation", "none",  # a crash takes the worker down only in its process
    )  # fmt: skip
    assert result.ret != 0
    report = json.loads((pytester.path / "r.json").read_text())
    summary = report["summary"]
    collected = int(re.search(r"1 worker \[(\d+) items\]", result.stdout.str())[1])  # type: ignore[index]
    assert summary["total"] == collected
    assert summary["not run"] > 0
    assert summary["verdict"] == "failed"
    result.stdout.fnmatch_lines(["*NOT RUN*", "*checks collected but never run*"])
