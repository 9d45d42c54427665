"""``--twolayer-plots``: the figures' content from synthetic data, the data read from reports,
and real sessions (one process and ``-n 2``) that write them, or refuse with a usage error."""

from __future__ import annotations

import math
import struct
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pytest_twolayer.plotting import benchmarks, loss_curves
from pytest_twolayer.plotting.data import Collected, Curve, StepBenchmark
from pytest_twolayer.report.records import Outcome, Record

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FLIP = "pytest_twolayer.zoo.numpy_bugs:SignFlippedUpdate"  # fails test_training: it diverges
CONFTEST = f"def pytest_twolayer_register(registry):\n    registry.add('flip', {FLIP!r})\n"


def falling(start: float, rate: float, steps: int = 500) -> tuple[float, ...]:
    return tuple(start * math.exp(-rate * t) for t in range(steps))


def curve(impl: str, device: str = "cpu", verdict: str = "passed", steps: int = 500) -> Curve:
    return Curve(impl, device, "float32", falling(3e7, 0.03, steps), verdict)


def bench(impl: str, device: str = "cpu", dtype: str = "float32", **given: Any) -> StepBenchmark:
    fields: dict[str, Any] = {
        "median_s": 0.002,
        "gflops": 13.0,
        "peak_gflops": 200.0,
        "peak_fraction": 0.065,
        "threads": 2,
    }
    fields.update(given)
    return StepBenchmark(impl, device, dtype, **fields)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, head
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def legend_texts(fig: Figure) -> list[list[str]]:
    return [
        [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []
        for ax in fig.axes
    ]


# --- the loss-curve figure, from synthetic curves ---


def test_loss_figure_one_log_line_per_implementation():
    curves = [curve("numpy"), curve("nn"), curve("flip", verdict="FAILED", steps=37)]
    fig = loss_curves.figure(curves, seed=7)
    [ax] = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "training step"
    assert ax.get_ylabel() == "loss (sum of squared errors)"
    assert "seed 7" in ax.get_title()
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["numpy", "nn", "flip: FAILED"]
    assert legend_texts(fig) == [["numpy", "nn", "flip: FAILED"]]
    assert [line.get_linestyle() for line in lines] == ["-", "-", "--"]
    assert list(lines[0].get_xdata()[[0, -1]]) == [1, 500]
    assert len(lines[2].get_xdata()) == 37  # a check that failed midway: its curve as far as it got
    assert len({line.get_color() for line in lines}) == 3


def test_loss_figure_tells_every_implementation_and_device_apart():
    names = [f"impl{i}" for i in range(12)]
    curves = [curve(n, d) for n in names for d in ("cpu", "cuda")]
    fig = loss_curves.figure(curves, seed=0)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 24
    assert lines[0].get_label() == "impl0 (cpu)"
    assert lines[1].get_label() == "impl0 (cuda)"
    looks = {(line.get_color(), line.get_marker(), line.get_fillstyle()) for line in lines}
    assert len(looks) == 24, sorted(looks)


def test_loss_figure_leaves_gaps_where_a_log_axis_cannot_draw():
    losses = (4.0, math.inf, 2.0, math.nan, 0.0, 1.0)
    fig = loss_curves.figure([Curve("bad", "cpu", "float32", losses, "FAILED")], seed=0)
    ydata = list(fig.axes[0].get_lines()[0].get_ydata())
    assert [v for v in ydata if not math.isnan(v)] == [4.0, 2.0, 1.0]
    assert len(ydata) == len(losses)


def test_loss_figure_says_an_expected_failure_is_expected():
    fig = loss_curves.figure([curve("known", verdict="FAILED, expected")], seed=0)
    [line] = fig.axes[0].get_lines()
    assert line.get_label() == "known: FAILED, expected"
    assert line.get_linestyle() == "--"


def test_a_diverging_curve_leaves_the_axis_and_the_conforming_ones_keep_it():
    """The issue's figure: one sign-flipped net climbing to 1e162 flattened every conforming
    curve. The axis is the conforming curves' (a decade either side); the diverging one is
    cut at the edge, marked there, and its legend says how far it went."""
    climbing = tuple(min(3e7 * math.exp(0.75 * t), 1e162) for t in range(500))
    curves = [curve("numpy"), curve("nn"), Curve("flip", "cpu", "float32", climbing, "FAILED")]
    fig = loss_curves.figure(curves, seed=0)
    [ax] = fig.axes
    conforming = [v for c in curves[:2] for v in c.losses]
    assert ax.get_ylim() == pytest.approx((min(conforming) / 10, max(conforming) * 10))
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["numpy", "nn", "flip: FAILED, leaves the axis at step 5 (up to 1e+162)"]
    [exit_mark] = ax.collections
    assert exit_mark.get_offsets().tolist() == [[5, max(conforming) * 10]]
    assert not exit_mark.get_clip_on()  # drawn on the edge, not clipped away


def test_a_failed_curve_within_range_is_not_cut():
    curves = [curve("numpy"), curve("half", verdict="FAILED", steps=300)]
    fig = loss_curves.figure(curves, seed=0)
    [ax] = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["numpy", "half: FAILED"]
    assert not ax.collections


def test_without_a_conforming_curve_the_axis_spans_everything():
    climbing = tuple(3e7 * math.exp(0.5 * t) for t in range(100))
    fig = loss_curves.figure([Curve("flip", "cpu", "float32", climbing, "FAILED")], seed=0)
    [ax] = fig.axes
    assert ax.get_ylim()[1] >= climbing[-1]
    assert [line.get_label() for line in ax.get_lines()] == ["flip: FAILED"]


@pytest.mark.parametrize("conforming", [True, False], ids=["beside-a-conforming-curve", "alone"])
def test_a_curve_near_the_largest_float_is_drawn_without_overflow(tmp_path: Path, conforming: bool):
    """A diverging net reaches 1e307 before inf: matplotlib's log-axis margins around it
    overflowed (a RuntimeWarning, an error under ``-W error``) and the plot was lost."""
    climbing = tuple(min(3e7 * math.exp(min(1.5 * t, 700)), 1.7e308) for t in range(500))
    curves = [Curve("flip", "cpu", "float32", climbing, "FAILED")]
    curves = [curve("numpy"), *curves] if conforming else curves
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = loss_curves.write(curves, 0, tmp_path)
    assert png_size(path)[0] > 600
    [*_, line] = loss_curves.figure(curves, seed=0).axes[0].get_lines()
    assert line.get_label().startswith("flip: FAILED")


def test_loss_png_is_readme_sized(tmp_path: Path):
    path = loss_curves.write([curve(f"impl{i}") for i in range(9)], 0, tmp_path)
    assert path == tmp_path / "loss_curves.png"
    width, height = png_size(path)
    assert 600 <= width <= 1200, width
    assert 350 <= height <= 800, height
    assert 10_000 < path.stat().st_size < 150_000


# --- the benchmark figure, from synthetic benchmarks ---


def test_benchmark_figure_bars_against_the_peak():
    benches = [
        bench("numpy", median_s=0.0005, gflops=52.0, peak_gflops=210.0, peak_fraction=0.2476),
        bench("nn", median_s=0.002, gflops=13.0, peak_gflops=190.0, peak_fraction=0.0684),
    ]
    fig = benchmarks.figure(benches)
    [ax] = fig.axes
    assert ax.get_xlabel() == "GFLOP/s"
    widths = [patch.get_width() for patch in ax.patches]
    assert widths == [52.0, 13.0]
    top_down = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in top_down] == ["numpy", "nn"]  # selection order, from the top
    # The reference line is the best peak measured in the run (each xdist worker measures).
    [peak] = ax.get_lines()
    assert list(peak.get_xdata()) == [210.0, 210.0]
    assert legend_texts(fig) == [["peak float32 (in-run GEMM): 210 GFLOP/s"]]
    notes = sorted(t.get_text() for t in ax.texts)
    assert notes == ["0.5 ms/step, 25% of peak", "2 ms/step, 6.8% of peak"]
    assert "2 threads" in fig.get_suptitle()
    assert ax.get_xlim()[1] > 210.0  # the peak line is inside the axes


def test_benchmark_figure_one_panel_per_device_and_a_peak_per_dtype():
    benches = [
        bench("numpy", "cpu", "float32"),
        bench("numpy", "cpu", "float64", peak_gflops=100.0, threads=1),
        bench("tensor", "cuda", "float32", peak_gflops=20000.0, gflops=600.0),
    ]
    fig = benchmarks.figure(benches)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["cpu", "cuda"]
    assert [len(ax.patches) for ax in fig.axes] == [2, 1]
    assert legend_texts(fig) == [
        [
            "peak float32 (in-run GEMM): 200 GFLOP/s",
            "peak float64 (in-run GEMM): 100 GFLOP/s",
        ],
        ["peak float32 (in-run GEMM): 20,000 GFLOP/s"],
    ]
    cpu_labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(cpu_labels) == ["numpy (float32)", "numpy (float64)"]
    texts = sorted(t.get_text().rsplit(", ", 1)[-1] for t in fig.axes[0].texts)
    assert texts == ["1 thread", "2 threads"]  # they differ: each bar says its own


def drawn(fig: Figure) -> Figure:
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    return fig


def test_benchmark_notes_sit_beside_the_panel_and_the_axis_ends_at_the_data():
    """The notes were drawn at each bar's end, over the peak line, on an axis that ran 60%
    past the widest bar; they now sit in a column right of the panel, and the axis ends just
    past the widest bar or peak."""
    benches = [
        bench("tensor", gflops=21.6, peak_gflops=23.0, peak_fraction=0.94),
        bench("numpy", gflops=13.8, peak_gflops=23.0, peak_fraction=0.6),
    ]
    fig = drawn(benchmarks.figure(benches))
    [ax] = fig.axes
    assert ax.get_xlim()[1] == pytest.approx(23.0 * benchmarks.HEADROOM)
    renderer = fig.canvas.get_renderer()
    panel = ax.get_window_extent(renderer)
    for text in ax.texts:
        assert text.get_window_extent(renderer).x0 >= panel.x1, text.get_text()


def test_a_failed_benchmark_is_drawn_as_failed():
    """Before, a failed benchmark was a plain bar when a gate failed after the timing, and
    vanished when it failed before its figures; now both show, and say they failed."""
    benches = [
        bench("numpy", gflops=13.8),
        bench("slow", gflops=5.3, verdict="FAILED", why="[benchmark_step.budget] impl=slow ...: x"),
        StepBenchmark(
            "broken", "cpu", "float32", math.nan, math.nan, math.nan, math.nan, 0,
            verdict="FAILED", measured=False, why="[benchmark_step.steps] impl=broken ...: boom",
        ),
    ]  # fmt: skip
    fig = benchmarks.figure(benches)
    [ax] = fig.axes
    top_down = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in top_down] == ["numpy", "slow (FAILED)", "broken (FAILED)"]
    assert [(p.get_width(), p.get_hatch()) for p in ax.patches] == [
        (13.8, None),
        (5.3, benchmarks.FAILED_HATCH),
    ]
    notes = [t.get_text() for t in ax.texts]
    assert notes == [
        "2 ms/step, 6.5% of peak",
        "FAILED (benchmark_step.budget): 2 ms/step, 6.5% of peak",
        "FAILED (benchmark_step.steps), before its figures",
    ]


def test_a_failed_benchmark_check_is_read_with_or_without_figures():
    budget = "[benchmark_step.budget] impl=numpy device=cpu dtype=float32 seed=0: too slow"
    collected = Collected.of(
        [
            record(Outcome.FAILED, {"benchmark": STEP}, concern="benchmark", line=budget),
            record(Outcome.FAILED, impl="broken", concern="benchmark", line="boom"),
            record(Outcome.FAILED, impl="flip", concern="training"),  # not a benchmark
        ]
    )
    gated, broken = collected.ordered_benchmarks(["numpy", "broken"], ["cpu"])
    assert (gated.verdict, gated.measured, gated.why, gated.gflops) == (
        "FAILED",
        True,
        budget,
        52.0,
    )
    assert (broken.impl, broken.verdict, broken.measured, broken.why) == (
        "broken", "FAILED", False, "boom",
    )  # fmt: skip


def test_benchmark_png(tmp_path: Path):
    path = benchmarks.write([bench(f"impl{i}") for i in range(9)], tmp_path)
    assert path == tmp_path / "benchmarks.png"
    assert png_size(path)[0] >= 600
    assert path.stat().st_size > 10_000


# --- reading reports ---


def record(
    outcome: Outcome = Outcome.PASSED,
    data: dict[str, Any] | None = None,
    line: str = "",
    **labels: str,
):
    """A collected record of a training check (or another check, by ``concern``)."""
    case = {"impl": "numpy", "device": "cpu", "dtype": "float32", "concern": "training"}
    case.update(labels)
    return Record(
        nodeid=f"test_{case['concern']}.py::test_x[{case['impl']}-{case['device']}-float32]",
        impl=case["impl"],
        device=case["device"],
        dtype=case["dtype"],
        seed=0,
        concern=case["concern"],
        check="x",
        outcome=outcome,
        data=data or {},
        line=line,
    )


STEP = {
    "impl": "numpy",
    "device": "cpu",
    "dtype": "float32",
    "what": "step",
    "median_s": 0.0005,
    "iqr_s": 1e-5,
    "gflops": 52.0,
    "peak_gflops": 200.0,
    "peak_fraction": 0.26,
    "threads": 2,
    "depth_mean": None,
}


def test_collects_curves_and_step_benchmarks_only():
    collected = Collected.of(
        [
            record(data={"losses": [3.0, 2.0, 1.0]}),
            record(data={"losses": [9.0]}, impl="users-own", concern="other"),
            record(Outcome.FAILED, {"losses": [1.0, 5.0]}, impl="flip", device="cuda"),
            record(Outcome.XFAILED, {"losses": [1.0]}, impl="known"),
            record(data={"benchmark": STEP}, concern="benchmark"),
            record(data={"benchmark": {**STEP, "impl": "nn", "what": "run"}}),
            record(data={"benchmark": {**STEP, "impl": "bad", "gflops": "fast"}}),
            record(data={"benchmark": {"impl": "partial", "what": "step"}}),
        ]
    )
    curves = collected.ordered_curves(["known", "flip", "numpy"], ["cpu", "cuda"])
    assert [(c.impl, c.device, c.losses, c.verdict) for c in curves] == [
        ("known", "cpu", (1.0,), "FAILED, expected"),
        ("flip", "cuda", (1.0, 5.0), "FAILED"),
        ("numpy", "cpu", (3.0, 2.0, 1.0), "passed"),
    ]
    [step] = collected.ordered_benchmarks(["numpy"], ["cpu"])
    assert step == StepBenchmark("numpy", "cpu", "float32", 0.0005, 52.0, 200.0, 0.26, 2)


# --- real sessions ---


def plot_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    return pytester.runpytest(
        "-p", "twolayer", "--impl", "numpy,flip", "-k", "test_training", *args
    )


def test_session_writes_loss_curves(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    drawn: list[list[Curve]] = []
    write = loss_curves.write

    def spy(curves: list[Curve], seed: int, folder: Path) -> Path:
        drawn.append(list(curves))
        return write(curves, seed, folder)

    monkeypatch.setattr(loss_curves, "write", spy)
    result = plot_run(pytester, "--twolayer-plots", "out/figs", "--twolayer-seed", "3")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"twolayer plots: wrote {pytester.path}/out/figs/loss_curves.png (2 curves, 1 FAILED)",
            "twolayer plots: benchmarks.png skipped: no benchmark results were published "
            "(the benchmark checks did not run)",
        ]
    )
    assert png_size(pytester.path / "out/figs/loss_curves.png")[0] > 600
    [curves] = drawn
    assert [(c.impl, c.device, c.verdict) for c in curves] == [
        ("numpy", "cpu", "passed"),
        ("flip", "cpu", "FAILED"),
    ]
    assert len(curves[0].losses) == 500
    assert curves[0].losses[-1] < 1e-3 * curves[0].losses[0]
    assert curves[1].losses[-1] > curves[1].losses[0]  # the flipped update climbs


def test_session_draws_the_real_step_benchmark(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    drawn: list[list[StepBenchmark]] = []
    write = benchmarks.write

    def spy(benches: list[StepBenchmark], folder: Path) -> Path:
        drawn.append(list(benches))
        return write(benches, folder)

    monkeypatch.setattr(benchmarks, "write", spy)
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "numpy", "-k", "test_benchmark_step or test_training",
        "--twolayer-benchmark-steps", "20", "--twolayer-plots", "figs",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            f"twolayer plots: wrote {pytester.path}/figs/loss_curves.png (1 curve, 0 FAILED), "
            f"{pytester.path}/figs/benchmarks.png (1 benchmark, 0 FAILED)"
        ]
    )
    [[step]] = drawn
    assert (step.impl, step.device) == ("numpy", "cpu")
    assert 0 < step.median_s < 1
    assert step.gflops == pytest.approx(25.98e6 / step.median_s / 1e9, rel=0.01)
    assert step.peak_fraction == pytest.approx(step.gflops / step.peak_gflops)
    assert png_size(pytester.path / "figs/benchmarks.png")[0] > 600


@pytest.mark.slow
def test_session_under_xdist_merges_every_worker(pytester: pytest.Pytester):
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,flip", "-k", "test_training", "-n", "2",
        "--twolayer-plots", "figs",
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [f"twolayer plots: wrote {pytester.path}/figs/loss_curves.png (2 curves, 1 FAILED)"]
    )
    assert (pytester.path / "figs/loss_curves.png").read_bytes()[:8] == PNG_SIGNATURE


def test_ini_folder_and_a_stale_figure(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ntwolayer_plots = figs\n")
    stale = pytester.path / "figs" / "benchmarks.png"
    stale.parent.mkdir()
    stale.write_bytes(PNG_SIGNATURE)
    result = plot_run(pytester)
    result.stdout.fnmatch_lines(
        [
            f"twolayer plots: wrote {pytester.path}/figs/loss_curves.png (2 curves, 1 FAILED)",
            "twolayer plots: benchmarks.png skipped: * removed the earlier run's file",
        ]
    )
    assert not stale.exists()


def test_no_test_ran_leaves_the_folder_alone(pytester: pytest.Pytester):
    old = pytester.path / "figs" / "loss_curves.png"
    old.parent.mkdir()
    old.write_bytes(PNG_SIGNATURE)
    result = plot_run(pytester, "--twolayer-plots", "figs", "--collect-only")
    result.stdout.fnmatch_lines(["twolayer plots: no test ran, no figure written"])
    assert old.read_bytes() == PNG_SIGNATURE


def test_no_option_no_plots_and_no_matplotlib_needed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    result = plot_run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    assert not any("twolayer plots" in line for line in result.outlines)


def test_missing_matplotlib_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = plot_run(pytester, "--twolayer-plots", "figs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --twolayer-plots needs matplotlib, which is not installed: "
            'pip install "pytest-twolayer[plots]"'
        ]
    )
    assert not (pytester.path / "figs").exists()


def test_unwritable_folder_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makefile(".txt", taken="a file")
    result = plot_run(pytester, "--twolayer-plots", "taken.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --twolayer-plots {pytester.path}/taken.txt: is a file, not a folder"]
    )
    result = plot_run(pytester, "--twolayer-plots", "taken.txt/figs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --twolayer-plots {pytester.path}/taken.txt/figs: cannot write there: *"]
    )
