"""Honest benchmark figures: ``% peak`` is at most 100% by construction of the peak (the best
seen in the benchmark's process, measured again when beaten), and a benchmark whose spread
makes its figures untrustworthy is flagged in the terminal table, the Markdown summary and
the JSON report."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_twolayer.benchmarking import measure, memory, peak
from pytest_twolayer.checking.case import Case
from pytest_twolayer.report import markdown, tables
from pytest_twolayer.report.json_report import schema
from pytest_twolayer.zoo.numpy_bugs import NumpyControl
from tests.support.sessions import run_as_user


class Readings:
    """What each GEMM measurement reads, in turn (the last planned value repeats), and the
    readings taken."""

    def __init__(self) -> None:
        self.planned: list[float] = []
        self.taken: list[float] = []

    def plan(self, *values: float) -> None:
        self.planned = list(values)

    def measure(self, device: str, dtype: str) -> float:
        value = self.planned[min(len(self.taken), len(self.planned) - 1)]
        self.taken.append(value)
        return value


@pytest.fixture
def readings(monkeypatch: pytest.MonkeyPatch) -> Readings:
    """Planned GEMM readings, in a process that has measured no peak yet."""
    fake = Readings()
    monkeypatch.setattr(peak, "measure", fake.measure)
    monkeypatch.setattr(peak, "_PEAKS", {})
    return fake


def test_a_peak_that_reads_low_is_measured_again_when_beaten(readings: Readings):
    readings.plan(10.0, 30.0)
    assert peak.gemm_peak("cpu", "float64") == peak.Peak(10.0, peak.GEMM)
    beaten = peak.gemm_peak("cpu", "float64", at_least=20.0)
    assert beaten == peak.Peak(30.0, peak.GEMM)
    assert beaten.fraction(20.0) == pytest.approx(2 / 3)
    assert readings.taken == [10.0, 30.0]
    assert peak.gemm_peak("cpu", "float64", at_least=25.0) == beaten  # kept: not beaten
    assert readings.taken == [10.0, 30.0]


def test_a_step_that_outruns_every_measurement_is_its_own_peak(readings: Readings):
    readings.plan(10.0)
    found = peak.gemm_peak("cpu", "float32", at_least=25.0)
    assert found == peak.Peak(25.0, peak.STEP)
    assert found.fraction(25.0) == 1.0
    assert len(readings.taken) == 1 + peak.REMEASURES  # best of several, then measured again


@given(
    readings=st.lists(st.floats(1.0, 1e4), min_size=1, max_size=5),
    rates=st.lists(st.floats(0.0, 2e4), min_size=1, max_size=5),
)
def test_the_fraction_of_the_peak_never_exceeds_one(readings: list[float], rates: list[float]):
    values: Iterator[float] = iter(readings * 10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(peak, "measure", lambda device, dtype: next(values))
        patch.setattr(peak, "_PEAKS", {})
        for rate in rates:
            assert peak.gemm_peak("cpu", "float64", at_least=rate).fraction(rate) <= 1.0


def figures(median_s: float, iqr_s: float) -> dict[str, Any]:
    """What the benchmark publishes for steps of this median and IQR."""
    stats = SimpleNamespace(
        median=median_s, iqr=iqr_s, min=median_s / 2, mean=median_s, stddev=iqr_s,
        rounds=500, total=500 * median_s,
    )  # fmt: skip
    case = Case("numpy", NumpyControl, "cpu", "float64")
    return measure._figures(case, SimpleNamespace(stats=SimpleNamespace(stats=stats)), [0], 0.0)


def test_a_benchmark_whose_spread_exceeds_its_median_is_flagged(readings: Readings):
    readings.plan(1000.0)
    quiet, busy = figures(1e-3, 2e-4), figures(1.18e-3, 7.025e-3)  # the busy figure
    assert (quiet["noisy"], busy["noisy"]) == (False, True)
    assert busy["spread"] == pytest.approx(7.025 / 1.18)
    lines = tables.render([quiet, busy])
    header, *rows = lines
    iqr = header.index("±IQR") + len("±IQR")
    assert [row[:iqr].rstrip()[-1] for row in rows] == ["0", "!"]  # fastest first
    assert tables.notes([quiet, busy]) == [tables.NOISY_NOTE]
    assert tables.notes([quiet]) == []


def test_the_reports_carry_the_flag_and_a_sound_fraction(pytester: pytest.Pytester):
    """A real benchmark's figures in the JSON report: a fraction of at most 1 (the schema
    says so too), where the peak came from, the spread and its flag; the Markdown table too."""
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "numpy", "-k", "benchmark", "--twolayer-benchmark-steps",
        "50", "--twolayer-report-json", "r.json", "--twolayer-report-md", "r.md",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    report = json.loads(Path(pytester.path, "r.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, schema())
    [bench] = report["benchmarks"]
    assert 0 < bench["peak_fraction"] <= 1
    assert bench["peak_source"] in (peak.GEMM, peak.STEP)
    assert bench["noisy"] is (bench["spread"] > measure.NOISY_SPREAD)
    md = Path(pytester.path, "r.md").read_text(encoding="utf-8")
    assert "| impl | device | dtype | what | ms/step | ±IQR | GFLOP/s | % of peak |" in md


def test_the_markdown_table_is_ordered_and_evenly_formatted():
    rows = markdown.benchmark_rows(
        [
            {"impl": "slow", "device": "cpu", "dtype": "float32", "what": "step",
             "median_s": 0.0123456, "iqr_s": 0.0001, "gflops": 2.1, "peak_fraction": 0.0212,
             "peak_gflops": 99.1, "threads": 1, "cores": 1, "memory_peak_bytes": 5120.0,
             "memory_growth_bytes_per_step": 12.4},
            {"impl": "fast", "device": "cpu", "dtype": "float64", "what": "step",
             "median_s": 0.0008, "iqr_s": 0.002, "noisy": True, "gflops": 32.456,
             "peak_fraction": 0.5, "peak_gflops": 64.9, "peak_source": "step", "threads": 1,
             "cores": 1},
        ]
    )  # fmt: skip
    assert rows[1:] == [
        ["fast", "cpu", "float64", "step", "0.800", "2.000!", "32.5", "50.0%", "65*", "1/1",
         "-", "-"],
        ["slow", "cpu", "float32", "step", "12.346", "0.100", "2.1", "2.1%", "99", "1/1", "5",
         "12"],
    ]  # fmt: skip


@pytest.mark.slow
def test_the_dynamic_nets_depth_figure_is_the_mean_of_the_depths_it_drew(tmp_path: Path):
    """The built-in dynamic net draws each step's depth from ``random.Random(seed)``, one
    draw per step: the benchmark's depth figure, identified from the losses its timed run
    returned, must be the mean of exactly those draws (a parameter copy paired with the wrong
    step's loss would miss some), and keeping the copies must not show as memory growth.
    In a process of its own: torch cannot be imported again into a process where a pytester
    run of an earlier test imported and then forgot it."""
    pytest.importorskip("torch")
    seed = 3
    args = ["--impl", "dynamic", "-k", "benchmark_step", "-n", "0", "-p", "no:cacheprovider"]
    report = tmp_path / "r.json"
    done = run_as_user(
        ["pytest", "-p", "twolayer", *args, f"--twolayer-seed={seed}",
         f"--twolayer-report-json={report}"],
        tmp_path,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    (bench,) = json.loads(report.read_text(encoding="utf-8"))["benchmarks"]
    draws = random.Random(seed)
    steps = bench["rounds"] * bench["steps_per_round"]  # sealed: rounds of 20 steps
    assert steps == 500
    drawn = [draws.randint(0, 3) for _ in range(steps)]
    assert len(set(drawn)) > 1  # a run that draws one depth would test nothing
    assert bench["depth_mean"] == pytest.approx(sum(drawn) / len(drawn), abs=1e-12)
    assert bench["memory_growth_bytes_per_step"] < memory.DEFAULT_MAX_GROWTH


def test_a_sealed_runs_table_says_the_crossing_was_left_out():
    alone = {"impl": "a", "median_s": 0.001, "crossing_s": 0.0}
    sealed = [
        {"impl": "b", "median_s": 0.001, "crossing_s": 8.2e-5},
        {**alone, "crossing_s": 9.1e-5},
    ]
    assert tables.notes([alone]) == []
    [note] = tables.notes(sealed)
    assert note.startswith("sealed: ")
    assert "(82-91 us)" in note
