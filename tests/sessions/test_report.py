"""Reports of a run: the terminal matrix, the JSON report (validated against its schema), the
Markdown summary and the junit properties agree, under xdist and when a worker crashes."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_twolayer.report.json_report import schema
from pytest_twolayer.report.matrix import LEGEND, build, cell
from pytest_twolayer.report.records import Outcome, Record

CONFTEST = """
def pytest_twolayer_register(registry):
    registry.add("lr2", "pytest_twolayer.zoo.numpy_bugs:LrDoubled")
    registry.add("abort", "pytest_twolayer.zoo.numpy_bugs:CrashesOnBatchOfOne")
    registry.add("missing", "pytest_twolayer.zoo.numpy_bugs:MissingMethod")
"""
SECTION = "twolayer conformance matrix"
CORE = ["contract", "shapes", "gradients", "update", "training", "hygiene"]
QUICK_BENCHMARK = ("--twolayer-benchmark-steps", "20")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    # One BLAS thread per worker: two oversubscribed pools on a small machine are ~10x slower.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return pytester


def terminal_matrix(result: pytest.RunResult) -> list[list[str]]:
    """The printed matrix, header first, cut into cells at the header's column starts."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if f" {SECTION} " in line)
    header = lines[start + 1]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    table = []
    for line in lines[start + 1 :]:
        if line == LEGEND:
            return table
        bounds = [*starts[1:], None]
        table.append([line[a:b].strip() for a, b in zip(starts, bounds, strict=True)])
    raise AssertionError("the matrix has no legend line")


def markdown_matrix(text: str) -> list[list[str]]:
    """The first Markdown table (the matrix), header first, cells unescaped."""
    table: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("| "):
            if table:
                break  # the table ended; the next one is another
            continue
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        if all(set(c.strip()) <= {"-"} and c.strip() for c in cells):
            continue  # the separator row
        table.append([re.sub(r"\\(.)", r"\1", c.strip()) for c in cells])
    return table


def json_matrix(report: dict[str, Any]) -> list[list[str]]:
    matrix = report["matrix"]
    split = any(row["dtype"] for row in matrix["rows"])
    header = ["impl", "device"] + (["dtype"] if split else []) + matrix["concerns"]
    body = [
        [row["impl"], row["device"] or "any"]
        + ([row["dtype"] or "all"] if split else [])
        + [row["cells"][c] for c in matrix["concerns"]]
        for row in matrix["rows"]
    ]
    return [header, *body]


def valid_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema()).validate(report)
    return report


def junit_properties(path: Path, name: str) -> dict[str, str]:
    case = next(c for c in ET.parse(path).iter("testcase") if c.get("name") == name)
    return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}


def counts(result: pytest.RunResult) -> dict[str, int]:
    return {k: v for k, v in result.parseoutcomes().items() if k != "deselected"}


@pytest.mark.slow
def test_reports_match_the_terminal_matrix_under_xdist(project: pytest.Pytester):
    result = project.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,lr2", "-n", "2", "-p", "no:cacheprovider",
        *QUICK_BENCHMARK,
        "--twolayer-report-json", "out/r.json", "--twolayer-report-md", "r.md",
        "--junitxml", "junit.xml",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    terminal = terminal_matrix(result)
    report = valid_report(project.path / "out" / "r.json")
    markdown = (project.path / "r.md").read_text(encoding="utf-8")
    assert json_matrix(report) == terminal
    assert markdown_matrix(markdown) == terminal
    assert terminal == [
        ["impl", "device", *CORE, "benchmark"],
        ["numpy", "cpu"] + ["pass"] * 7,
        ["lr2", "cpu", "pass", "pass", "pass", "FAIL 1", "pass", "pass", "pass"],
    ]
    start = result.outlines.index(next(x for x in result.outlines if f" {SECTION} " in x))
    assert max(len(line) for line in result.outlines[start + 1 : start + 5]) <= 100
    failed = [c for c in report["checks"] if c["outcome"] != "passed"]
    assert [(c["impl"], c["check"], c["outcome"]) for c in failed] == [
        ("lr2", "update_follows_rule", "failed")
    ]
    assert failed[0]["line"].startswith(
        "[update_follows_rule] impl=lr2 device=cpu dtype=float64 seed=0"
    )
    assert f"`{failed[0]['nodeid']}`: `{failed[0]['line']}`" in markdown
    assert report["summary"]["passed"] == counts(result)["passed"]
    assert report["summary"]["total"] == sum(counts(result).values())
    assert report["run"]["exit_status"] == 1
    assert report["environment"]["xdist_workers"] == 2
    assert {c["worker"] for c in report["checks"]} <= {"gw0", "gw1"}
    training = next(c for c in report["checks"] if c["check"] == "training")
    assert training["losses"]["steps"] == len(training["losses"]["values"]) == 500
    assert training["losses"]["last"] < 1e-3 * training["losses"]["first"]
    steps = {(b["impl"], b["what"]) for b in report["benchmarks"]}
    assert steps == {("numpy", "step"), ("lr2", "step")}
    assert re.search(
        r"\| numpy \| cpu \| float64 \| step \| \d+\.\d{3} \| \d+\.\d{3}!? \| \d+\.\d \| "
        r"\d+\.\d% \| \d+(\\\*)? \| \d+/\d+ \|",  # 27\*: the step outran the GEMM (escaped)
        markdown,
    )
    numpy = next(i for i in report["run"]["implementations"] if i["name"] == "numpy")
    assert numpy["dtypes"] == ["float64", "float32"]
    assert numpy["status"] == "passed"
    props = junit_properties(
        project.path / "junit.xml", "test_update_follows_rule[lr2-cpu-float64]"
    )
    assert props["twolayer.impl"] == "lr2"
    assert props["twolayer.device"] == "cpu"
    assert props["twolayer.dtype"] == "float64"
    assert props["twolayer.concern"] == "update"


@pytest.mark.slow
def test_a_crashed_worker_leaves_a_complete_report(project: pytest.Pytester):
    result = project.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,abort", "-n", "2", "-p", "no:cacheprovider", "-rA",
        "-k", "not benchmark", "--twolayer-report-json", "r.json",
        "--twolayer-isolation", "none",  # the worker crashes only where the abort runs in it
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = valid_report(project.path / "r.json")
    assert json_matrix(report) == terminal_matrix(result)
    rows = {row["impl"]: row["cells"] for row in report["matrix"]["rows"]}
    assert rows["numpy"] == dict.fromkeys(CORE, "pass")
    assert rows["abort"] == {**dict.fromkeys(CORE, "pass"), "shapes": "CRASH"}
    by_impl: dict[str, dict[str, str]] = {"numpy": {}, "abort": {}}
    for check in report["checks"]:
        by_impl[check["impl"]][check["nodeid"]] = check["outcome"]
    ran = re.findall(r"^(PASSED|FAILED) (\S+\[(numpy|abort)[-\]]\S*)", result.stdout.str(), re.M)
    assert len(ran) == report["summary"]["total"]
    assert {nodeid for _, nodeid, impl in ran if impl == "numpy"} == set(by_impl["numpy"])
    assert set(by_impl["numpy"].values()) == {"passed"}
    crashed = {n for n, outcome in by_impl["abort"].items() if outcome == "crashed"}
    assert any("test_forward_shapes[abort-cpu-float64]" in n for n in crashed)
    assert set(by_impl["abort"].values()) == {"passed", "crashed"}
    status = {i["name"]: i["status"] for i in report["run"]["implementations"]}
    assert status == {"numpy": "passed", "abort": "crashed"}
    result.stdout.fnmatch_lines(
        ["crash: abort: forward_shapes (cpu float64) killed its worker gw*"]
    )


def test_report_is_written_when_checks_fail_and_the_exit_status_is_the_runs(
    project: pytest.Pytester,
):
    args = ("-p", "twolayer", "--impl", "numpy,lr2,missing", "-k",
            "update_follows_rule or implementation_loads", "--junitxml", "junit.xml")  # fmt: skip
    plain = project.runpytest(*args)
    project.makeini("[pytest]\ntwolayer_matrix = no\ntwolayer_report_md = reports/summary.md\n")
    reported = project.runpytest(*args, "--twolayer-report-json", "r.json")
    assert plain.ret == reported.ret == pytest.ExitCode.TESTS_FAILED
    assert any(SECTION in line for line in plain.outlines)
    assert not any(SECTION in line for line in reported.outlines)
    report = valid_report(project.path / "r.json")
    assert json_matrix(report) == terminal_matrix(plain)
    assert json_matrix(report) == markdown_matrix(
        (project.path / "reports" / "summary.md").read_text(encoding="utf-8")
    )
    assert report["summary"]["failed"] == 2
    assert report["matrix"]["rows"][-1] == {
        "impl": "missing",
        "device": None,
        "dtype": None,
        "cells": {**dict.fromkeys(CORE, "-"), "contract": "FAIL 1"},
    }
    missing = next(i for i in report["run"]["implementations"] if i["name"] == "missing")
    assert missing["status"] == "broken"
    assert "missing" in (missing["error"] or "")
    plain.stdout.fnmatch_lines(["load: missing: *"])
    props = junit_properties(
        project.path / "junit.xml", "test_update_follows_rule[numpy-cpu-float32]"
    )
    assert (props["twolayer.impl"], props["twolayer.dtype"]) == ("numpy", "float32")


USER_TESTS = """
import pytest
from pytest_twolayer.checking.published import publish


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_publishes(twolayer_case, request):
    publish(request.node, "losses", [4.0, 2.0, float("nan")])
    publish(request.node, "benchmark", {
        "impl": twolayer_case.name, "device": twolayer_case.device,
        "dtype": twolayer_case.dtype, "what": "step", "median_s": 0.002, "gflops": 13.0,
        "peak_gflops": 100.0, "peak_fraction": 0.13, "threads": 2,
    })


def test_fails_in_float32(twolayer_case):
    assert twolayer_case.dtype != "float32", "float32 <breaks> | here"


@pytest.mark.xfail(reason="known gap", strict=True)
def test_expected(twolayer_case):
    assert False


@pytest.mark.xfail(reason="flaky", strict=False)
def test_xpass(twolayer_case):
    pass


def test_skips(twolayer_case):
    pytest.skip("not on this machine")


def test_errors(twolayer_case, broken):
    pass
"""


def test_every_outcome_is_recorded_and_dtypes_split_only_where_they_differ(
    project: pytest.Pytester,
):
    project.makepyfile(test_mine=USER_TESTS)
    result = project.runpytest(
        "-p", "twolayer", "--impl", "numpy", "--twolayer-no-suite", "test_mine.py",
        "--twolayer-report-json", "r.json", "--twolayer-report-md", "r.md",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = valid_report(project.path / "r.json")
    outcomes = {(c["check"], c["dtype"]): c["outcome"] for c in report["checks"]}
    for dtype in ("float64", "float32"):
        assert outcomes["publishes", dtype] == "passed"
        assert outcomes["expected", dtype] == "xfailed"
        assert outcomes["xpass", dtype] == "xpassed"
        assert outcomes["skips", dtype] == "skipped"
        assert outcomes["errors", dtype] == "error"
    assert outcomes["fails_in_float32", "float64"] == "passed"
    assert outcomes["fails_in_float32", "float32"] == "failed"
    lines = {c["check"]: c["line"] for c in report["checks"] if c["dtype"] == "float32"}
    assert lines["fails_in_float32"].startswith("AssertionError: float32 <breaks> | here")
    assert lines["skips"] == "not on this machine"
    assert lines["expected"] == "known gap"
    assert lines["errors"] == "RuntimeError: fixture broke"
    assert {c["concern"] for c in report["checks"]} == {"other"}
    published = next(c for c in report["checks"] if c["check"] == "publishes")
    assert published["losses"] == {
        "first": 4.0,
        "last": None,
        "steps": 3,
        "values": [4.0, 2.0, None],
    }
    assert published["benchmark"]["gflops"] == 13.0
    terminal = terminal_matrix(result)
    assert terminal == [
        ["impl", "device", "dtype", *CORE, "other"],
        ["numpy", "cpu", "float64", *["-"] * 6, "FAIL 1"],
        ["numpy", "cpu", "float32", *["-"] * 6, "FAIL 2"],
    ]
    assert json_matrix(report) == terminal
    markdown = (project.path / "r.md").read_text(encoding="utf-8")
    assert markdown_matrix(markdown) == terminal
    assert "`AssertionError: float32 <breaks> | here`" in markdown
    row = "| numpy | cpu | float32 | step | 2.000 | - | 13.0 | 13.0% | 100 | 2 | - | - |"
    assert row in markdown
    assert "- not on this machine (numpy cpu)" in markdown
    result.stdout.fnmatch_lines(["skip: not on this machine (numpy cpu)"])
    assert report["summary"] == {
        "total": 12, "passed": 3, "failed": 1, "xfailed": 2, "xpassed": 2, "skipped": 2,
        "error": 2, "crashed": 0, "not run": 0, "suite error": 0,
        "verdict": "failed", "run_failures": [],
    }  # fmt: skip


@pytest.mark.parametrize("is_step_summary", [True, False])
def test_markdown_appends_only_to_the_github_step_summary(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, is_step_summary: bool
):
    summary = project.path / "summary.md"
    summary.write_text("# an earlier step\n", encoding="utf-8")
    if is_step_summary:
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = project.runpytest(
        "-p", "twolayer", "--impl", "numpy", "-k", "implementation_loads",
        "--twolayer-report-md", "summary.md",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# an earlier step\n") is is_step_summary
    assert "**passed** (exit status 0): 1 check across 1 implementation (1 passed)" in text


def test_a_report_that_cannot_be_written_leaves_the_exit_status_alone(project: pytest.Pytester):
    # The folder is free when the run starts; a test takes its name before the run ends.
    project.makepyfile(
        test_squat="from pathlib import Path\n\n"
        "def test_squat():\n    Path('out').write_text('a file, not a folder')\n"
    )
    result = project.runpytest(
        "-p", "twolayer", "--impl", "numpy", "-k", "squat or implementation_loads",
        "--twolayer-report-json", "out/r.json", ".",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["twolayer: could not write the JSON report */out/r.json: *"])


@pytest.mark.parametrize(
    ("args", "ini", "error"),
    [
        (["--twolayer-report-json", "adir"], "",
         "ERROR: --twolayer-report-json adir: */adir is a directory, not a file"),
        (["--twolayer-report-md", "afile/r.md"], "",
         "ERROR: --twolayer-report-md afile/r.md: cannot create */afile/r.md: "
         "*/afile is not a directory"),
        ([], "twolayer_report_json = adir",
         "ERROR: twolayer_report_json = adir (ini): */adir is a directory, not a file"),
        (["--twolayer-matrix", "maybe"], "",
         "ERROR: --twolayer-matrix maybe: expected yes or no, got 'maybe'"),
        ([], "twolayer_matrix = sometimes",
         "ERROR: twolayer_matrix = sometimes (ini): expected yes or no, got 'sometimes'"),
        (["--twolayer-report-json", "r", "--twolayer-report-md", "r"], "",
         "ERROR: --twolayer-report-md */r: the same file as --twolayer-report-json"),
    ],
)  # fmt: skip
def test_bad_report_options_are_one_line_usage_errors(
    pytester: pytest.Pytester, args: list[str], ini: str, error: str
):
    (pytester.path / "adir").mkdir()
    (pytester.path / "afile").write_text("")
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1
    result.stderr.fnmatch_lines([error])


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], "-"),
        ([Outcome.PASSED, Outcome.XPASSED], "pass"),
        ([Outcome.PASSED, Outcome.SKIPPED], "pass"),
        ([Outcome.SKIPPED, Outcome.SKIPPED], "skip"),
        ([Outcome.PASSED, Outcome.XFAILED], "xfail"),
        ([Outcome.XFAILED, Outcome.FAILED, Outcome.ERROR], "FAIL 2"),
        ([Outcome.FAILED, Outcome.CRASHED], "CRASH"),
        ([Outcome.PASSED, Outcome.SUITE_ERROR, Outcome.SUITE_ERROR], "SUITE ERROR 2"),
        ([Outcome.SUITE_ERROR, Outcome.FAILED], "FAIL 1"),
    ],
)
def test_a_cell_shows_the_worst_outcome(outcomes: list[Outcome], expected: str):
    assert cell(outcomes) == expected


def test_an_absent_device_is_not_a_pass_because_the_implementation_loads():
    def record(device: str | None, dtype: str | None, check: str, outcome: Outcome) -> Record:
        return Record(
            f"{check}[{device}-{dtype}]", "t", device, dtype, 0, "contract", check, outcome
        )

    records = [
        record(None, None, "implementation_loads", Outcome.PASSED),
        record("cpu", "float32", "params_canonical", Outcome.PASSED),
        record("cpu", "float64", "params_canonical", Outcome.FAILED),
        record("cuda", "float32", "params_canonical", Outcome.SKIPPED),
        record("cuda", "float64", "params_canonical", Outcome.SKIPPED),
    ]
    matrix = build(records, ["t"], ["cpu", "cuda"])
    assert [(r.device, r.dtype, r.cells["contract"]) for r in matrix.rows] == [
        ("cpu", "float32", "pass"),
        ("cpu", "float64", "FAIL 1"),
        ("cuda", None, "skip"),
    ]


def test_skip_notes_follow_the_matrix_not_the_arrival_order():
    """xdist's workers deliver reports in another order than ``-n 0``: the skip list under
    the matrix (and in the Markdown) read differently between the two. Now both follow the
    matrix's rows."""
    names = ["autograd", "dynamic", "tf-static", "tensor"]
    torch = "cuda: cuda is not available to torch on this machine"
    tf = "cuda: TensorFlow sees no GPU (tensorflow-cpu, or no CUDA build)"

    def skip(impl: str) -> Record:
        reason = tf if impl == "tf-static" else torch
        record = Record(f"x[{impl}-cuda-float32]", impl, "cuda", "float32", 0, "contract", "x")
        record.outcome, record.line = Outcome.SKIPPED, reason
        return record

    one_process = build([skip(n) for n in names], names, ["cpu", "cuda"]).notes
    arrival = ["tensor", "tf-static", "dynamic", "autograd"]
    workers = build([skip(n) for n in arrival], names, ["cpu", "cuda"]).notes
    assert workers == one_process
    assert [n.line() for n in one_process] == [
        f"skip: {torch} (autograd cuda, dynamic cuda, tensor cuda)",
        f"skip: {tf} (tf-static cuda)",
    ]
