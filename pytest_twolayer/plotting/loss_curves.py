"""``loss_curves.png``: every implementation's training loss, step by step, on one log axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from pytest_twolayer.plotting.data import Curve
from pytest_twolayer.plotting.style import DPI, line_style

FILE_NAME = "loss_curves.png"
MARK_EVERY = 50  # a marker every 50 of the 500 steps
MARK_STAGGER = 5  # each implementation starts its markers 5 steps after the previous one's


def label(curve: Curve, several_devices: bool, usual_dtype: str) -> str:
    notes = [curve.device] if several_devices else []
    if curve.dtype != usual_dtype:
        notes.append(curve.dtype)
    text = f"{curve.impl} ({', '.join(notes)})" if notes else curve.impl
    if curve.failed:
        text += f": {curve.verdict}"
    return text


def figure(curves: Sequence[Curve], seed: int) -> Figure:
    """One line per curve (implementation x device), log-scale loss against the step."""
    fig = Figure(figsize=(9.0, 5.5), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    impls = list(dict.fromkeys(c.impl for c in curves))
    devices = list(dict.fromkeys(c.device for c in curves))
    dtypes = [c.dtype for c in curves]
    usual_dtype = max(sorted(set(dtypes)), key=dtypes.count, default="")
    for curve in curves:
        impl_index = impls.index(curve.impl)
        style = line_style(impl_index, devices.index(curve.device), curve.failed)
        steps = range(1, len(curve.losses) + 1)
        # A log axis cannot show 0, inf or NaN: leave a gap rather than a misleading point.
        shown = [v if math.isfinite(v) and v > 0 else math.nan for v in curve.losses]
        ax.plot(
            steps,
            shown,
            color=style.colour,
            linestyle=style.linestyle,
            marker=style.marker,
            fillstyle=style.fill,
            markevery=((impl_index * MARK_STAGGER) % MARK_EVERY, MARK_EVERY),
            markersize=6,
            linewidth=1.6 if curve.failed else 1.2,
            label=label(curve, len(devices) > 1, usual_dtype),
            zorder=3 if curve.failed else 2,  # a failure is what the reader looks for
        )
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (sum of squared errors)")
    longest = max((len(c.losses) for c in curves), default=0)
    ax.set_xlim(1, max(longest, 2))
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"Training loss, {longest} steps, seed {seed}, {usual_dtype} unless noted")
    if curves:
        ax.legend(
            title="implementation\n(dashed: FAILED)",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize="small",
        )
    return fig


def write(curves: Sequence[Curve], seed: int, folder: Path) -> Path:
    path = folder / FILE_NAME
    figure(curves, seed).savefig(path, dpi=DPI)
    return path
