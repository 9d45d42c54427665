"""Hosts fail, the run goes on: a host killed mid-run (as a preempted machine goes) loses no
verdict, its checks are rerun on the surviving host and the run says so in one line; with
every host killed, each check left without a verdict is an error naming the lost hosts; a
worker that will not end its session cannot stall the controller. The hosts are execnet
socket servers on loopback in private mount namespaces (tests/support/hosts.py)."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_twolayer.report.json_report import schema
from tests.support.hosts import Host, across, namespaces_available, two_hosts

QUICK = ("--twolayer-benchmark-steps", "20", "-p", "no:cacheprovider")
IMPLS = "numpy,autograd"  # one framework-free, one torch: a host each
FIRST_VERDICT_ON_H1 = re.compile(r"\[gw0\].* (PASSED|FAILED|SKIPPED|ERROR|XFAIL)")
"""gw0 is h1's worker (the first --tx): once it has judged a check, h1 is mid-run."""
RUN_SECONDS = 600
PRIVATE_HOSTS = pytest.mark.skipif(
    not namespaces_available(),
    reason="hosts that share nothing need private mount namespaces (root with util-linux's "
    "unshare and nsenter), which this machine does not give",
)


@dataclass
class Finished:
    ret: int
    text: str
    seconds: float


def run_killing(
    pytester: pytest.Pytester,
    args: list[str],
    kill: Callable[[str], list[Host]],
    how: Callable[[Host], None] = Host.kill,
) -> Finished:
    """Run pytest in a subprocess; each output line is shown to ``kill``, and the hosts it
    names are killed (or whatever ``how`` does to them) there and then, each at most once."""
    started = time.monotonic()
    process = pytester.popen(
        [sys.executable, "-u", "-m", "pytest", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    text: list[str] = []
    killed: set[str] = set()
    deadline = started + RUN_SECONDS
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            pytest.fail(f"the run did not end within {RUN_SECONDS} s:\n{''.join(text)}")
        if line is None:
            break
        text.append(line)
        for host in kill(line):
            if host.name not in killed:
                killed.add(host.name)
                how(host)
    ret = process.wait()
    assert process.stdout is not None
    process.stdout.close()
    return Finished(ret, "".join(text), time.monotonic() - started)


def verdicts(report: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    return {
        (c["impl"], c["device"], c["dtype"], c["check"]): c["outcome"] for c in report["checks"]
    }


def collected(text: str) -> int:
    return int(re.search(r"workers? \[(\d+) items?\]", text)[1])  # type: ignore[index]


def junit_results(path: Path) -> dict[str, str]:
    """Each test case of a junit report and its result: passed, skipped, failure or error.
    (A check cut off mid-way leaves a nameless ``<testcase>`` of its setup's duration:
    pytest's junitxml opens a case's element only at its call or teardown.)"""
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("name") is None:
            continue
        kinds = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
        results[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return results


def junit_name(nodeid: str) -> str:
    """A node id as :func:`junit_results` names its test case: ``dir.file::name``."""
    path, _, name = nodeid.partition("::")
    return f"{path.removesuffix('.py').replace('/', '.')}::{name}"


@PRIVATE_HOSTS
def test_a_host_killed_mid_run_loses_no_verdict(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
):
    with two_hosts(tmp_path_factory.mktemp("hosts")) as hosts:
        h1 = hosts[0]
        run = run_killing(
            pytester,
            ["-p", "twolayer", "--impl", IMPLS, "-v", *QUICK, *across(hosts, 1),
             "--twolayer-report-json", "remote.json", "--junitxml", "remote.xml"],
            lambda line: [h1] if FIRST_VERDICT_ON_H1.search(line) else [],
        )  # fmt: skip
    print(f"killed h1 mid-run; the run took {run.seconds:.0f} s")
    (pytester.path / "run.log").write_text(run.text)  # the whole run, for a failure's reader
    assert (pytester.path / "remote.json").exists(), run.text[-5000:]
    report = json.loads((pytester.path / "remote.json").read_text())
    assert "INTERNALERROR" not in run.text, run.text[-3000:]
    jsonschema.Draft202012Validator(schema()).validate(report)
    lost_lines = [line for line in run.text.splitlines() if "host h1 lost" in line]
    assert len(lost_lines) == 1, run.text[-3000:]  # said once, in one line
    assert report["summary"]["total"] == collected(run.text)
    assert report["summary"]["not run"] == 0
    h1_facts = report["environment"]["hosts"]["h1"]
    assert h1_facts["lost"] is not None
    assert h1_facts["lost"]["workers"] == ["gw0"]
    assert h1_facts["rescheduled"], "h1 was killed with nothing left to run: not mid-run"
    assert report["environment"]["hosts"]["h2"]["lost"] is None
    rescheduled = set(h1_facts["rescheduled"])
    assert {c["host"] for c in report["checks"] if c["nodeid"] in rescheduled} == {"h2"}
    junit = junit_results(pytester.path / "remote.xml")
    assert len(junit) == collected(run.text)

    local = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", IMPLS, "-n", "0", *QUICK,
        "--twolayer-report-json", "local.json", timeout=RUN_SECONDS,
    )  # fmt: skip
    assert run.ret == local.ret, run.text[-3000:]
    assert verdicts(report) == verdicts(json.loads((pytester.path / "local.json").read_text()))


@PRIVATE_HOSTS
def test_every_host_killed_leaves_errors_naming_them(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
):
    with two_hosts(tmp_path_factory.mktemp("hosts")) as hosts:
        run = run_killing(
            pytester,
            ["-p", "twolayer", "--impl", IMPLS, "-v", *QUICK, *across(hosts, 1),
             "--twolayer-report-json", "r.json", "--junitxml", "r.xml"],
            lambda line: hosts if FIRST_VERDICT_ON_H1.search(line) else [],
        )  # fmt: skip
    (pytester.path / "run.log").write_text(run.text)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert "INTERNALERROR" not in run.text, run.text[-3000:]
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["summary"]["total"] == collected(run.text)
    errors = [c for c in report["checks"] if c["outcome"] == "error"]
    assert errors, "every host was killed, yet every check has a verdict"
    assert all(re.match(r"hosts? h\d .*lost before this check ran", c["message"]) for c in errors)
    assert report["summary"]["not run"] == 0  # an error that says why, not a silent gap
    junit = junit_results(pytester.path / "r.xml")
    assert len(junit) == collected(run.text)
    junit_errors = {name for name, result in junit.items() if result == "error"}
    json_errors = {junit_name(c["nodeid"]) for c in errors}
    outcomes = {junit_name(c["nodeid"]): c["outcome"] for c in report["checks"]}
    assert junit_errors == json_errors, (
        {n: outcomes.get(n) for n in junit_errors ^ json_errors},
        run.text[-3000:],
    )
    # the terminal: each error's section, and in it why
    assert run.text.count("ERROR at setup of") == len(errors), run.text[-3000:]
    said = re.findall(r"^E?\s*hosts? h\d .*lost before this check ran", run.text, re.MULTILINE)
    assert len(said) >= len(errors), run.text[-3000:]


@PRIVATE_HOSTS
def test_a_frozen_host_is_lost_once_its_worker_falls_silent(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
):
    """No reset, no refusal: a host that stops answering (SIGSTOP, as a machine whose network
    is gone) is noticed by its worker's missing heartbeat; with --twolayer-lost-host-fails
    the loss fails the run though every check got its verdict on the other host."""
    with two_hosts(tmp_path_factory.mktemp("hosts")) as hosts:
        h1 = hosts[0]
        try:
            run = run_killing(
                pytester,
                ["-p", "twolayer", "--impl", IMPLS, "-v", *QUICK, *across(hosts, 1),
                 "--twolayer-lost-host-fails", "--twolayer-report-json", "r.json"],
                lambda line: [h1] if FIRST_VERDICT_ON_H1.search(line) else [],
                how=Host.freeze,
            )  # fmt: skip
        finally:
            h1.kill()  # SIGKILL ends stopped processes too
    print(f"froze h1 mid-run; the run took {run.seconds:.0f} s")
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.text[-3000:]
    assert re.search(r"run FAILED: host h1 lost .* \(no heartbeat for 60 s\)", run.text)
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["summary"]["total"] == collected(run.text)
    assert report["summary"]["not run"] == 0
    assert {c["outcome"] for c in report["checks"]} <= {"passed", "skipped"}
    assert report["summary"]["run_failures"] == [
        line.removeprefix("run FAILED: ") for line in run.text.splitlines() if "run FAILED" in line
    ]


ENDS_BADLY = """
import os, threading, time
from pathlib import Path


def pytest_sessionfinish(session):
    config = session.config
    if getattr(config, "workerinput", {}).get("workerid") == "gw0":
        Path("went-wrong-at").write_text(str(time.time()))
        if os.environ["TWOLAYER_TEST_END"] == "hangs":
            threading.Event().wait(600)  # a session end that never comes (killed before)
        os._exit(3)  # the worker goes down after its last check
"""


@pytest.mark.parametrize("end", ["hangs", "goes down"])
def test_a_worker_that_fails_at_its_sessions_end_cannot_stall_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, end: str
):
    pytester.makeconftest(ENDS_BADLY)
    monkeypatch.setenv("TWOLAYER_TEST_END", end)
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,tensor", "--tx", "2*popen", *QUICK,
        "-k", "implementation_loads or gradients", "--twolayer-report-json", "r.json",
        timeout=RUN_SECONDS,
    )  # fmt: skip
    ended = time.time()
    went_wrong = float((pytester.path / "went-wrong-at").read_text())
    print(f"the run ended {ended - went_wrong:.0f} s after gw0's session end {end}")
    assert ended - went_wrong < 60
    text = result.stdout.str()
    assert result.ret == 0, text[-3000:]
    assert "replacing crashed worker" not in text  # nothing was left for a replacement
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["summary"]["not run"] == 0
    assert report["summary"]["total"] == collected(text)


@PRIVATE_HOSTS
@pytest.mark.parametrize(
    ("isolation", "aborted"),
    [
        # in one process the abort takes the xdist worker down with it: "crashed"
        ("none", "crashed"),
        # sealed, it kills the implementation's own process; the worker judges it failed
        ("process", "failed"),
    ],
)
def test_a_crash_on_a_host_is_still_its_implementations_failure(
    pytester: pytest.Pytester,
    tmp_path_factory: pytest.TempPathFactory,
    isolation: str,
    aborted: str,
):
    """An implementation that aborts leaves its host up: the crash is that implementation's
    failure, its other checks and the other implementations run on, and no host is taken for
    lost; sealed or not, only the outcome's name differs."""
    aborts = "abort=pytest_twolayer.zoo.numpy_bugs:CrashesOnBatchOfOne"
    with two_hosts(tmp_path_factory.mktemp("hosts")) as hosts:
        result = pytester.runpytest_subprocess(
            "-p", "twolayer", "--impl", f"{aborts},numpy", *QUICK, *across(hosts, 1),
            "-k", "forward_shapes or implementation_loads or gradients_match",
            "--twolayer-isolation", isolation,
            "--twolayer-report-json", "r.json", timeout=RUN_SECONDS,
        )  # fmt: skip
    text = result.stdout.str()
    assert "INTERNALERROR" not in text, text[-3000:]
    assert result.ret == 1, text[-3000:]
    assert "lost" not in " ".join(line for line in text.splitlines() if "host" in line)
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["summary"]["total"] == collected(text)
    checks = {(c["impl"], c["check"], c["dtype"]): c for c in report["checks"]}
    abort = checks[("abort", "forward_shapes", "float64")]
    assert abort["outcome"] == aborted
    if isolation == "process":
        assert "killed by SIGABRT during forward()" in abort["message"]
    outcomes = {key: c["outcome"] for key, c in checks.items()}
    assert {o for (impl, check, _), o in outcomes.items() if impl == "numpy"} == {"passed"}
    assert outcomes[("abort", "gradients_match_reference", "float64")] == "passed"
    assert all(facts["lost"] is None for facts in report["environment"]["hosts"].values())
