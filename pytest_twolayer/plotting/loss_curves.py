"""``loss_curves.png``: every implementation's training loss, step by step, on one log axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from pytest_twolayer.plotting.data import Curve
from pytest_twolayer.plotting.style import DPI, line_style

FILE_NAME = "loss_curves.png"
MARK_EVERY = 50  # a marker every 50 of the 500 steps
MARK_STAGGER = 5  # each implementation starts its markers 5 steps after the previous one's
MARGIN = 10.0  # the y axis spans the conforming curves and a decade on either side
LARGEST_SHOWN = 1e250  # a log axis pads its range by 5% of its decades: from 1e-308, 1e278


def shown(losses: Sequence[float]) -> list[float]:
    """The losses a log axis can draw; 0, inf, NaN and values near float64's largest become
    gaps, not misleading points (or an overflow in matplotlib's autoscaling)."""
    return [v if 0 < v <= LARGEST_SHOWN else math.nan for v in losses]


def y_range(curves: Sequence[Curve]) -> tuple[float, float] | None:
    """The y axis: the conforming curves' losses and a decade either side, so that a curve
    that diverges (to 1e162) cannot flatten theirs. None (matplotlib's own range) when no
    curve conforms."""
    values = [v for c in curves if not c.failed for v in shown(c.losses) if not math.isnan(v)]
    if not values:
        return None
    return min(values) / MARGIN, max(values) * MARGIN


@dataclass(frozen=True)
class Exit:
    """Where a curve first leaves the y axis, and how far it goes beyond it."""

    step: int  # 1-based
    above: bool
    extreme: float  # its largest (above) or smallest (below) drawable loss


def exit_of(curve: Curve, bottom: float, top: float) -> Exit | None:
    """The first step at which ``curve`` runs off the axis ``[bottom, top]``, if it does."""
    values = shown(curve.losses)
    for step, value in enumerate(values, start=1):
        if value > top or value < bottom:
            beyond = [v for v in values if (v > top if value > top else v < bottom)]
            extreme = max(beyond) if value > top else min(beyond)
            return Exit(step, value > top, extreme)
    return None


def label(curve: Curve, several_devices: bool, usual_dtype: str, off: Exit | None = None) -> str:
    notes = [curve.device] if several_devices else []
    if curve.dtype != usual_dtype:
        notes.append(curve.dtype)
    text = f"{curve.impl} ({', '.join(notes)})" if notes else curve.impl
    if curve.failed:
        text += f": {curve.verdict}"
    if off is not None:
        extreme = f"{'up' if off.above else 'down'} to {off.extreme:.0e}"
        text += f", leaves the axis at step {off.step} ({extreme})"
    return text


def figure(curves: Sequence[Curve], seed: int) -> Figure:
    """One line per curve (implementation x device), log-scale loss against the step; a
    failed curve that runs off the conforming curves' range is cut at the axis, where a
    triangle marks its exit and its legend entry says how far it went."""
    fig = Figure(figsize=(9.0, 5.5), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    impls = list(dict.fromkeys(c.impl for c in curves))
    devices = list(dict.fromkeys(c.device for c in curves))
    dtypes = [c.dtype for c in curves]
    usual_dtype = max(sorted(set(dtypes)), key=dtypes.count, default="")
    limits = y_range(curves)
    ax.set_yscale("log")  # before any data: the scale change autoscales to what is drawn
    for curve in curves:
        impl_index = impls.index(curve.impl)
        style = line_style(impl_index, devices.index(curve.device), curve.failed)
        steps = range(1, len(curve.losses) + 1)
        off = exit_of(curve, *limits) if limits else None
        if limits and off is not None:  # a triangle on the axis' edge, where the curve leaves
            ax.scatter(
                [off.step],
                [limits[1] if off.above else limits[0]],
                marker="^" if off.above else "v",
                s=80,
                color=style.colour,
                clip_on=False,
                zorder=4,
            )
        ax.plot(
            steps,
            shown(curve.losses),
            color=style.colour,
            linestyle=style.linestyle,
            marker=style.marker,
            fillstyle=style.fill,
            markevery=((impl_index * MARK_STAGGER) % MARK_EVERY, MARK_EVERY),
            markersize=6,
            linewidth=1.6 if curve.failed else 1.2,
            label=label(curve, len(devices) > 1, usual_dtype, off),
            zorder=3 if curve.failed else 2,  # a failure is what the reader looks for
        )
    if limits:
        ax.set_ylim(*limits)
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
