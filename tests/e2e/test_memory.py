"""Memory through a run: a net that keeps every step's predictions is rejected with its
figure while the correct net beside it passes; the figures reach the table, the JSON report
(valid against its schema) and the Markdown summary; the gate's option in a run."""

from __future__ import annotations

import json

import pytest

from pytest_twolayer.benchmarking import memory
from pytest_twolayer.report.json_report import schema

# --- a leaking net beside a correct one, through the reports ---------------------------------

CONFTEST = """
from pytest_twolayer.zoo.numpy_bugs import KeepsEveryPrediction, NumpyBase


def pytest_twolayer_register(registry):
    registry.add("leaky", KeepsEveryPrediction)
    registry.add("correct", NumpyBase)
"""


@pytest.fixture
def benchmarks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A folder registering a leaking and a correct net; runs go to a subprocess, where
    pytest-benchmark times them even when these tests run under xdist."""
    pytester.makeconftest(CONFTEST)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester


def run_benchmarks(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "correct,leaky", "-k", "benchmark", "-p", "no:cacheprovider",
        "--twolayer-benchmark-steps", "200", "--twolayer-report-json", "r.json",
        "--twolayer-report-md", "r.md", *args,
    )  # fmt: skip


@pytest.mark.skipif(
    memory.sources("cpu")[0] is not memory.HOST_MALLOC,
    reason="growth is judged by default only where glibc's mallinfo2 reads the host allocator",
)
def test_a_leaking_net_is_rejected_with_its_figure_and_the_reports_show_memory(
    benchmarks: pytest.Pytester,
):
    jsonschema = pytest.importorskip("jsonschema")
    result = run_benchmarks(benchmarks)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "[[]benchmark_step.memory[]] impl=leaky device=cpu dtype=float64 seed=0: "
            "memory does not "
            "level off: host malloc grows by 5.* KiB per step over the second half of the run's "
            "200 steps (from * MiB to * MiB over the run), above the allowed 1 KiB per step "
            "(--twolayer-max-memory-growth): does the net keep something of every step?",
        ]
    )
    table = result.stdout.str().split("twolayer benchmarks")[1]
    assert "mem KiB  B/step" in table
    report = json.loads((benchmarks.path / "r.json").read_text())
    jsonschema.validate(report, schema())
    figures = {b["impl"]: b for b in report["benchmarks"]}
    leaky, correct = figures["leaky"]["memory"][0], figures["correct"]["memory"][0]
    assert leaky["source"] == correct["source"] == "host malloc"
    assert leaky["growth_bytes_per_step"] > 5000  # 64 x 10 float64 and an array's header
    assert abs(correct["growth_bytes_per_step"]) < 100
    assert leaky["limit_bytes_per_step"] == correct["limit_bytes_per_step"] == 1024
    assert leaky["peak_bytes"] > 200 * 5000
    assert figures["leaky"]["memory_growth_bytes_per_step"] == leaky["growth_bytes_per_step"]
    markdown = (benchmarks.path / "r.md").read_text()
    assert "| memory peak KiB | memory growth B/step |" in markdown


def test_the_gate_can_be_raised_or_turned_off_per_implementation(benchmarks: pytest.Pytester):
    result = run_benchmarks(benchmarks, "--twolayer-max-memory-growth", "leaky=off")
    result.assert_outcomes(passed=2)
    benchmarks.makeini("[pytest]\ntwolayer_max_memory_growth = leaky=64\n")
    result = run_benchmarks(benchmarks)
    result.assert_outcomes(passed=2)


def test_a_bad_gate_is_a_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "numpy", "--twolayer-max-memory-growth", "x"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--twolayer-max-memory-growth: 'x' is not [[]IMPL=[]]KIB*"])
