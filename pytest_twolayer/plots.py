"""``--twolayer-plots DIR``: figures of the run (loss curves, benchmarks) written at its end."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from pytest_twolayer.distributed import is_worker
from pytest_twolayer.plotting.data import Collected
from pytest_twolayer.selection import Selection

OPTION = "--twolayer-plots"
INI = "twolayer_plots"
PLOTS_HELP = (
    "write figures of the run into this folder (created if missing): loss_curves.png (every "
    "implementation's training loss, log scale) and benchmarks.png (GFLOP/s per training "
    "step against the in-run peak, when benchmarks ran). Needs matplotlib: "
    'pip install "pytest-twolayer[plots]"'
)
INSTALL_HINT = 'pip install "pytest-twolayer[plots]"'
PLUGIN_NAME = "twolayer-plots"


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Add this feature's command-line options (and ini equivalents) to ``group``."""
    group.addoption(OPTION, default=None, metavar="DIR", dest=INI, help=PLOTS_HELP)
    parser.addini(INI, PLOTS_HELP, default="")


def configure(config: pytest.Config, selection: Selection) -> None:
    """Check matplotlib and the folder up front (a usage error, not a surprise at the end),
    then collect on the controller or the single process; workers only publish."""
    folder = plots_folder(config)
    if folder is None or is_worker(config):
        return
    load_matplotlib()
    ensure_writable(folder)
    config.pluginmanager.register(Plots(config, selection, folder), PLUGIN_NAME)


def plots_folder(config: pytest.Config) -> Path | None:
    """The folder asked for: on the command line relative to where pytest was invoked, in
    the ini file relative to that file's folder."""
    given: str | None = config.getoption(INI)
    if given:
        return Path(config.invocation_params.dir, given)
    ini = str(config.getini(INI)).strip()
    if not ini:
        return None
    base = config.inipath.parent if config.inipath else config.rootpath
    return Path(base, ini)


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


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


class Plots:
    """Collects curves and benchmarks from every report; draws the figures at the end."""

    def __init__(self, config: pytest.Config, selection: Selection, folder: Path) -> None:
        self.config = config
        self.selection = selection
        self.folder = folder
        self.collected = Collected()
        self.lines: list[str] = []
        self.reports = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports += 1
        self.collected.add(report)

    def pytest_sessionfinish(self) -> None:
        """Runs inside the terminal reporter's sessionfinish, before the summary."""
        from pytest_twolayer.plotting import benchmarks, loss_curves

        if not self.reports:
            # --collect-only, a dry run, a -k that matches nothing: leave the folder alone.
            self.lines.append("twolayer plots: no test ran, no figure written")
            return
        names = [i.spec.name for i in self.selection.implementations]
        devices = list(self.selection.devices)
        written: list[str] = []
        curves = self.collected.ordered_curves(names, devices)
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
        benches = self.collected.ordered_benchmarks(names, devices)
        if benches:
            path = self.draw(lambda: benchmarks.write(benches, self.folder))
            if path:
                written.append(f"{path} ({count(len(benches), 'bar')})")
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
