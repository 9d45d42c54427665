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
FORMATS = {key: fmt for _, key, fmt in COLUMNS}
"""How each figure is written, in every table (``{}`` for a key the terminal table lacks)."""
MILLISECONDS = {"median_s", "iqr_s"}
KIBIBYTES = {"memory_peak_bytes"}
NOISY = "!"  # after ±IQR: the spread makes the row's figures untrustworthy
OWN_PEAK = "*"  # after the peak: no GEMM reached the step's rate, so the step is the peak
NOISY_NOTE = (
    f"{NOISY} noisy: the steps' IQR exceeds their median (the machine was busy); these figures "
    "rank nothing: rerun on a quiet machine"
)
OWN_PEAK_NOTE = f"{OWN_PEAK} the step outran every GEMM timed in its process: its rate is the peak"


def crossing_note(figures: list[dict[str, Any]]) -> str | None:
    """Sealed verdicts: each step was timed here, across the boundary to its host; what one
    round trip costs was measured between the steps and left out of every per-step figure."""
    crossings = sorted(f["crossing_s"] for f in figures if (f.get("crossing_s") or 0) > 0)
    if not crossings:
        return None
    low, high = crossings[0] * 1e6, crossings[-1] * 1e6
    span = f"{low:.0f} us" if round(low) == round(high) else f"{low:.0f}-{high:.0f} us"
    return (
        "sealed: each step was timed in the judging process, across the boundary to its host; "
        f"the round trip ({span}), measured between the steps, is left out of ms/step"
    )


def ordered(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order every table shows: fastest first (implementation, device, dtype on a tie)."""
    return sorted(
        figures,
        key=lambda f: (
            f.get("median_s", float("inf")),
            f.get("impl"),
            f.get("device"),
            f.get("dtype"),
        ),
    )


def cell(row: dict[str, Any], key: str, fmt: str) -> str:
    """One figure as every table writes it: milliseconds for times, KiB for memory, ``-`` when
    absent, and the marks of a noisy row and of a peak that is the step's own."""
    value = row.get(key)
    if key in MILLISECONDS and value is not None:
        value *= 1e3
    if key in KIBIBYTES and value is not None:
        value /= 1024
    if key == "threads" and row.get("cores") is not None:
        value = f"{row.get('threads')}/{row.get('cores')}"
    text = "-" if value is None else fmt.format(value)
    if key == "iqr_s" and row.get("noisy"):
        text += NOISY
    if key == "peak_gflops" and row.get("peak_source") == "step":
        text += OWN_PEAK
    return text


def notes(figures: list[dict[str, Any]]) -> list[str]:
    """The footnotes the marks in ``figures`` call for."""
    found = []
    if any(f.get("noisy") for f in figures):
        found.append(NOISY_NOTE)
    if any(f.get("peak_source") == "step" for f in figures):
        found.append(OWN_PEAK_NOTE)
    crossing = crossing_note(figures)
    if crossing is not None:
        found.append(crossing)
    return found


def render(figures: list[dict[str, Any]]) -> list[str]:
    """The figures, fastest first, as aligned text lines."""
    rows = ordered(figures)
    if not rows:
        return []
    # Each benchmark is measured against the peak of its own process, on its own host; with
    # several hosts the host says which machine a figure belongs to.
    several_hosts = len({f.get("host") for f in figures}) > 1
    cells = [[title for title, _, _ in COLUMNS] + (["host"] if several_hosts else [])]
    for row in rows:
        line = [cell(row, key, fmt) for _, key, fmt in COLUMNS]
        if several_hosts:
            line.append(str(row.get("host") or "-"))
        if "ratio" in row:
            line.append(f"{row['ratio']:.2f}x {row['reference']} (max {row['max_ratio']:g})")
        cells.append(line)
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(cells[0]))]
    return [
        "  ".join(
            text.ljust(widths[i]) if i < 3 else text.rjust(widths[i]) if i < len(widths) else text
            for i, text in enumerate(row)
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
