"""Memory over the benchmark's run: the growth statistic ignores warm-up and transients and
sees a leak; the gate and its option; a net that keeps every step's predictions is rejected
with its figure while the correct net beside it passes; the figures reach the table, the
JSON report (valid against its schema) and the Markdown summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pytest_twolayer.benchmarking import memory
from pytest_twolayer.benchmarking.gates import check_memory_growth, growth_limit
from pytest_twolayer.benchmarking.memory import DEFAULT_MAX_GROWTH, growth_per_step
from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.report.json_report import schema
from pytest_twolayer.run.options import parse_memory_growth
from pytest_twolayer.zoo.numpy_bugs import NumpyBase

STEPS = 500
BASE = 100 * 2**20


def run_of(per_step: float = 0.0, warm_up: int = 0, spike_at: int | None = None) -> list[int]:
    """Samples of a made-up run: a base, a warm-up in the first steps, a steady growth, and a
    transient at one sample."""
    samples = [BASE + int(per_step * t) + (warm_up if t > 3 else 0) for t in range(STEPS + 1)]
    if spike_at is not None:
        samples[spike_at] += 10 * 2**20
    return samples


def test_a_flat_run_grows_by_nothing():
    assert growth_per_step(run_of()) == 0.0


def test_warm_up_allocations_do_not_count():
    assert growth_per_step(run_of(warm_up=50 * 2**20)) == 0.0


def test_a_transient_in_the_second_half_does_not_count():
    for at in (251, 300, 480, 500):
        assert growth_per_step(run_of(spike_at=at)) == 0.0, at


def test_a_leak_is_measured_per_step():
    assert growth_per_step(run_of(per_step=5120)) == pytest.approx(5120, rel=1e-3)
    assert growth_per_step(run_of(per_step=5120, warm_up=2**20, spike_at=400)) == pytest.approx(
        5120, rel=1e-3
    )


def test_a_leak_that_stops_in_the_first_half_levels_off():
    samples = [BASE + 4096 * min(t, 200) for t in range(STEPS + 1)]
    assert growth_per_step(samples) == 0.0


def test_very_short_runs_are_measured_but_not_judged():
    assert growth_per_step([BASE]) is None
    short = {"source": "host malloc", "steps": 60, "growth_bytes_per_step": 1e6}
    assert growth_limit({**short, "judged_by_default": True}, None) is None
    judged = {**short, "steps": 100, "judged_by_default": True}
    assert growth_limit(judged, None) == DEFAULT_MAX_GROWTH
    assert growth_limit(judged, 4096.0) == 4096.0
    assert growth_limit(judged, float("inf")) is None  # --twolayer-max-memory-growth off
    assert growth_limit({**judged, "judged_by_default": False}, None) is None  # RSS: coarse
    assert growth_limit({**judged, "judged_by_default": False}, 2048.0) == 2048.0


def test_the_gate_fails_with_the_figure():
    case = Case("leaky", NumpyBase, "cpu", "float64")
    source = {
        "source": "host malloc",
        "start_bytes": BASE,
        "peak_bytes": 5 * 2**20,
        "end_bytes": BASE + 5 * 2**20,
        "growth_bytes_per_step": 5234.0,
        "steps": STEPS,
        "judged_by_default": True,
    }
    check_memory_growth(case, [dict(source, growth_bytes_per_step=100.0)], None)
    with pytest.raises(ConformanceFailure) as verdict:
        check_memory_growth(case, [source], None)
    assert str(verdict.value).splitlines()[0] == (
        "[benchmark.memory] impl=leaky device=cpu dtype=float64 seed=0: memory does not level "
        "off: host malloc grows by 5.11 KiB per step over the second half of the run's 500 "
        "steps (from 100.0 MiB to 105.0 MiB over the run), above the allowed 1 KiB per step "
        "(--twolayer-max-memory-growth): does the net keep something of every step?"
    )
    check_memory_growth(case, [source], 8 * 1024.0)


@pytest.mark.parametrize(
    ("values", "limits"),
    [
        (["1"], {"*": 1024.0}),
        (["mine=4,numpy=0.5", "2"], {"mine": 4096.0, "numpy": 512.0, "*": 2048.0}),
        (["mine=off"], {"mine": float("inf")}),
        (["0"], {"*": 0.0}),
    ],
)
def test_the_option_reads_kib_per_step(values: list[str], limits: dict[str, float]):
    assert parse_memory_growth(values) == limits


@pytest.mark.parametrize("bad", ["mine=", "-1", "lots", "mine=inf", "=3"])
def test_a_bad_limit_names_itself(bad: str):
    with pytest.raises(ValueError, match=f"--twolayer-max-memory-growth: '{bad}' is not"):
        parse_memory_growth([bad])


def test_the_host_allocator_sees_an_array_at_once():
    if memory.sources("cpu")[0] is not memory.HOST_MALLOC:
        pytest.skip("no glibc mallinfo2 here: host memory is read from RSS")
    before = memory.malloc_in_use()
    kept = np.ones(2**20)  # 8 MiB
    grown = memory.malloc_in_use() - before
    del kept
    assert 8 * 2**20 <= grown < 8 * 2**20 + 2**16
    assert memory.malloc_in_use() - before < 2**16


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
            "[[]benchmark.memory[]] impl=leaky device=cpu dtype=float64 seed=0: memory does not "
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
