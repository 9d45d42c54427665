"""One look for every figure: an implementation keeps its colour from figure to figure."""

from __future__ import annotations

from dataclasses import dataclass

# matplotlib's "tab10": ten hues that stay distinct for readers with common colour-vision
# deficiencies better than the default cycle's later entries.
COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# A marker per implementation too: implementations that compute the same thing from the
# same seed draw the same curve, and only their (staggered) markers show that both are there.
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "*")
FILLS = ("full", "none", "left", "bottom")  # one per device
DPI = 100  # README-sized images: ~900 x 550 pixels, well under 150 KB
FAILED_LINESTYLE = "--"
PASSED_LINESTYLE = "-"


@dataclass(frozen=True)
class LineStyle:
    colour: str
    marker: str
    fill: str
    linestyle: str


def line_style(impl_index: int, device_index: int, failed: bool) -> LineStyle:
    """Colour and marker by implementation (pairs stay distinct past ten implementations),
    marker fill by device, and a dashed line for a failed check, whatever else it is."""
    return LineStyle(
        colour=colour(impl_index),
        marker=MARKERS[(impl_index + impl_index // len(COLOURS)) % len(MARKERS)],
        fill=FILLS[device_index % len(FILLS)],
        linestyle=FAILED_LINESTYLE if failed else PASSED_LINESTYLE,
    )


def colour(impl_index: int) -> str:
    return COLOURS[impl_index % len(COLOURS)]
