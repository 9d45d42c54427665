"""The benchmark figures of a run, merged from every worker, as one terminal table."""

from __future__ import annotations

from typing import Any

COLUMNS = (
    ("implementation", "impl", "{}"),
    ("device", "device", "{}"),
    ("dtype", "dtype", "{}"),
    ("ms/step", "median_s", "{:.3f}"),
    ("±IQR", "iqr_s", "{:.3f}"),
    ("GFLOP/s", "gflops", "{:.1f}"),
    ("% peak", "peak_fraction", "{:.1%}"),
    ("peak", "peak_gflops", "{:.0f}"),
    ("thr/cores", "threads", "{}"),
    ("faults/step", "minor_faults_per_step", "{:.0f}"),
    ("mem KiB", "memory_peak_bytes", "{:.0f}"),
    ("B/step", "memory_growth_bytes_per_step", "{:.0f}"),
    ("depth", "depth_mean", "{:.2f}"),
    ("steps", "rounds", "{}"),
    ("run s", "run_s", "{:.2f}"),
)
MILLISECONDS = {"median_s", "iqr_s"}
KIBIBYTES = {"memory_peak_bytes"}


def render(figures: list[dict[str, Any]]) -> list[str]:
    """The figures, fastest first, as aligned text lines."""
    rows = sorted(figures, key=lambda f: f["median_s"])
    if not rows:
        return []
    cells = [[title for title, _, _ in COLUMNS]]
    for row in rows:
        line = []
        for _, key, fmt in COLUMNS:
            value = row.get(key)
            if key in MILLISECONDS and value is not None:
                value *= 1e3
            if key in KIBIBYTES and value is not None:
                value /= 1024
            if key == "threads":
                value = f"{row.get('threads')}/{row.get('cores')}"
            line.append("-" if value is None else fmt.format(value))
        if "ratio" in row:
            line.append(f"{row['ratio']:.2f}x {row['reference']} (max {row['max_ratio']:g})")
        cells.append(line)
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(cells[0]))]
    return [
        "  ".join(
            cell.ljust(widths[i]) if i < 3 else cell.rjust(widths[i]) if i < len(widths) else cell
            for i, cell in enumerate(row)
        ).rstrip()
        for row in cells
    ]


TITLE = "twolayer benchmarks"
INTRO = "every step of a fresh instance's run timed, in its training dtype, fastest first:"
FOOTNOTE = (
    "GFLOP/s counts the matmul FLOPs of the depths drawn; % peak divides by a large "
    "GEMM timed in the same process, dtype and thread budget (thr/cores). mem KiB: the most "
    "memory the allocators held above the run's start, sampled between steps (host malloc; "
    "cuda's allocators on cuda); B/step: its growth per step over the run's second half."
)
