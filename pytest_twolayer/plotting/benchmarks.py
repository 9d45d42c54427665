"""``benchmarks.png``: GFLOP/s of one training step per implementation, against the peak
large-GEMM throughput measured in the same run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pytest_twolayer.plotting.data import StepBenchmark
from pytest_twolayer.plotting.style import DPI, colour

FILE_NAME = "benchmarks.png"
PEAK_LINESTYLES = ("--", ":", "-.")  # one per dtype
HEADROOM = 1.05  # the x axis ends just past the widest bar or peak line
FAILED_HATCH = "///"
LABEL = re.compile(r"^\[(?P<label>[a-z_.]+)\] ")  # a verdict's label: [benchmark_step.budget]


def peak_label(dtype: str, gflops: float) -> str:
    value = f"{gflops:,.0f}" if gflops >= 10 else f"{gflops:.3g}"
    return f"peak {dtype} (in-run GEMM): {value} GFLOP/s"


def bar_label(bench: StepBenchmark, several_dtypes: bool) -> str:
    return f"{bench.impl} ({bench.dtype})" if several_dtypes else bench.impl


def threads_label(threads: int) -> str:
    return f"{threads} thread" + ("" if threads == 1 else "s")


def failure(bench: StepBenchmark) -> str:
    """``FAILED (benchmark_step.budget)``: the verdict and the check's label, if it gave one."""
    found = LABEL.match(bench.why)
    return f"{bench.verdict} ({found['label']})" if found else bench.verdict


def annotation(bench: StepBenchmark, show_threads: bool) -> str:
    if not bench.measured:
        return f"{failure(bench)}, before its figures"
    share = bench.peak_fraction
    percent = f"{share:.1%}" if share < 0.1 else f"{share:.0%}"  # 0.4%, not 0%
    text = f"{bench.median_s * 1e3:.3g} ms/step, {percent} of peak"
    text += f", {threads_label(bench.threads)}" if show_threads else ""
    return f"{failure(bench)}: {text}" if bench.failed else text


def figure(benchmarks: Sequence[StepBenchmark]) -> Figure:
    """One panel per device: a bar per implementation (x dtype), a line per dtype's peak."""
    impls = list(dict.fromkeys(b.impl for b in benchmarks))
    devices = list(dict.fromkeys(b.device for b in benchmarks))
    threads = {b.threads for b in benchmarks if b.measured}
    rows = [sum(1 for b in benchmarks if b.device == d) for d in devices]
    height = 1.2 + 0.42 * sum(max(r, 2) for r in rows) + 0.5 * len(devices)
    fig = Figure(figsize=(9.0, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(devices), 1, squeeze=False, height_ratios=[max(r, 2) for r in rows])
    for ax, device in zip(axes[:, 0], devices, strict=True):
        on_device = [b for b in benchmarks if b.device == device]
        panel(ax, on_device, impls, show_threads=len(threads) > 1)
        ax.set_title(f"{device}", loc="left", fontsize="medium")
    threads_text = f", {threads_label(threads.pop())}" if len(threads) == 1 else ""
    fig.suptitle(f"One training step: GFLOP/s against this run's peak{threads_text}")
    return fig


def panel(
    ax: Axes, benchmarks: Sequence[StepBenchmark], impls: list[str], show_threads: bool
) -> None:
    several_dtypes = len({b.dtype for b in benchmarks}) > 1
    # Top to bottom in selection order, as in the loss-curve legend.
    positions = list(range(len(benchmarks)))[::-1]
    for y, bench in zip(positions, benchmarks, strict=True):
        if bench.measured:  # a failed one hatched, as a failed curve is dashed
            ax.barh(
                y,
                bench.gflops,
                color=colour(impls.index(bench.impl)),
                height=0.7,
                hatch=FAILED_HATCH if bench.failed else None,
                edgecolor="black" if bench.failed else None,
                alpha=0.55 if bench.failed else 1.0,
            )
        # Right of the panel, in a column of their own: never over a bar or a peak line.
        ax.annotate(
            annotation(bench, show_threads),
            (1.0, y),
            xycoords=("axes fraction", "data"),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
            color="firebrick" if bench.failed else "black",
            annotation_clip=False,
        )
    labels = [bar_label(b, several_dtypes) for b in benchmarks]
    ax.set_yticks(
        positions,
        [f"{t} (FAILED)" if b.failed else t for t, b in zip(labels, benchmarks, strict=True)],
    )
    # Several xdist workers each measure the peak; a line shows the best of them on each host
    # (figures of different machines are never compared with one peak).
    peaks: dict[tuple[str, str | None], float] = {}
    for bench in benchmarks:
        if bench.measured:
            key = (bench.dtype, bench.host)
            peaks[key] = max(peaks.get(key, 0.0), bench.peak_gflops)
    several_hosts = len({host for _, host in peaks}) > 1
    for i, ((dtype, host), peak) in enumerate(sorted(peaks.items(), key=str)):
        label = peak_label(dtype, peak) + (f" on {host}" if several_hosts else "")
        ax.axvline(
            peak,
            color="black",
            linestyle=PEAK_LINESTYLES[i % len(PEAK_LINESTYLES)],
            linewidth=1.2,
            label=label,
        )
    widest = max([b.gflops for b in benchmarks if b.measured] + list(peaks.values()) + [1e-9])
    ax.set_xlim(0, widest * HEADROOM)
    ax.set_ylim(-0.6, max(len(benchmarks), 2) - 0.4)
    ax.set_xlabel("GFLOP/s")
    ax.grid(True, axis="x", alpha=0.3)
    # Above the column of annotations: never over a bar, a line or an annotation.
    ax.legend(loc="lower left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)


def write(benchmarks: Sequence[StepBenchmark], folder: Path) -> Path:
    path = folder / FILE_NAME
    figure(benchmarks).savefig(path, dpi=DPI)
    return path
