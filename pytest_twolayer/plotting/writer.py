"""``--twolayer-plots DIR``: figures of the run (loss curves, benchmarks), drawn at its end
from the report collector's records."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from pytest_twolayer.option_table import PLOTS
from pytest_twolayer.plotting.data import Collected
from pytest_twolayer.report.collector import Collector
from pytest_twolayer.run.selection import Selection

OPTION = PLOTS.flag
INSTALL_HINT = 'pip install "pytest-twolayer[plots]"'


def load_matplotlib() -> ModuleType:
    """matplotlib, imported only when plots are asked for; a usage error when missing."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise pytest.UsageError(
            f"{OPTION} needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None
    # Figures are drawn on matplotlib.figure.Figure with the Agg canvas: pyplot (and with it
    # any GUI backend or global figure state) is never touched.
    return matplotlib


def ensure_writable(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise pytest.UsageError(f"{OPTION} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise pytest.UsageError(f"{OPTION} {folder}: cannot write there: {reason}") from None


def figure_modules() -> tuple[ModuleType, ModuleType]:
    """The modules that draw ``benchmarks.png`` and ``loss_curves.png`` (they import
    matplotlib, which a run without ``--twolayer-plots`` never pays for)."""
    from pytest_twolayer.plotting import benchmarks, loss_curves  # lazy: they import matplotlib

    return benchmarks, loss_curves


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


class Plots:
    """Draws the figures at the end of the run, from the collector's records."""

    def __init__(self, selection: Selection, folder: Path, collector: Collector) -> None:
        self.selection = selection
        self.folder = folder
        self.collector = collector
        self.lines: list[str] = []

    def pytest_sessionfinish(self) -> None:
        """Runs inside the terminal reporter's sessionfinish, before the summary."""
        records = self.collector.records()
        if not records:
            # --collect-only, a dry run, a -k that matches nothing: leave the folder alone.
            self.lines.append("twolayer plots: no test ran, no figure written")
            return
        # matplotlib is imported only here, when figures were asked for and tests ran.
        benchmarks, loss_curves = figure_modules()
        collected = Collected.of(records)
        names = [i.spec.name for i in self.selection.implementations]
        devices = list(self.selection.devices)
        written: list[str] = []
        curves = collected.ordered_curves(names, devices)
        if curves:
            failed = sum(c.failed for c in curves)
            seed = self.selection.seed
            path = self.draw(lambda: loss_curves.write(curves, seed, self.folder))
            if path:
                written.append(f"{path} ({count(len(curves), 'curve')}, {failed} FAILED)")
        else:
            self.skip(
                loss_curves.FILE_NAME, "no training loss curves (the training check did not run)"
            )
        benches = collected.ordered_benchmarks(names, devices)
        if benches:
            failed = sum(b.failed for b in benches)
            path = self.draw(lambda: benchmarks.write(benches, self.folder))
            if path:
                written.append(f"{path} ({count(len(benches), 'benchmark')}, {failed} FAILED)")
        else:
            self.skip(
                benchmarks.FILE_NAME,
                "no benchmark results were published (the benchmark checks did not run)",
            )
        if written:
            self.lines.insert(0, "twolayer plots: wrote " + ", ".join(written))

    def draw(self, write: Callable[[], Path]) -> Path | None:
        try:
            return write()
        except OSError as exc:  # the folder was writable at the start; say what changed
            self.lines.append(f"twolayer plots: could not write into {self.folder}: {exc}")
            return None

    def skip(self, file_name: str, reason: str) -> None:
        stale = self.folder / file_name
        line = f"twolayer plots: {file_name} skipped: {reason}"
        if stale.exists():
            # An earlier run's figure in the same folder would pass for this run's.
            stale.unlink()
            line += "; removed the earlier run's file"
        self.lines.append(line)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for line in self.lines:
            terminalreporter.write_line(line)
