"""The reports' per-session plugin: prints the matrix and the benchmark table, writes the
JSON and Markdown reports, all from the collector's records."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer.report import json_report, lost_hosts, markdown, tables
from pytest_twolayer.report.collector import Collector
from pytest_twolayer.report.matrix import Matrix, build, render_text
from pytest_twolayer.report.run_failures import RunFailures
from pytest_twolayer.run.options import Settings
from pytest_twolayer.run.selection import Selection

SECTION = "twolayer conformance matrix"


class Reporting:
    """Registered on the xdist controller or the only process, beside the collector.

    ``workers`` and ``hosts()`` say where the run ran (xdist workers; each host's description,
    known once the workers are up); ``shard`` which part of the selection it checked;
    ``failures`` why the run failed beside the checks' verdicts (a tripped ratchet).
    """

    def __init__(
        self,
        selection: Selection,
        settings: Settings,
        collector: Collector,
        failures: RunFailures,
        *,
        workers: int = 0,
        hosts: Callable[[], dict[str, dict[str, Any]]] = dict,
        shard: dict[str, Any] | None = None,
        isolation: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.selection = selection
        self.settings = settings
        self.collector = collector
        self.workers = workers
        self.hosts = hosts
        self.shard = shard
        self.isolation = isolation
        self.failures = failures
        self.started = datetime.now(timezone.utc)
        self.matrix: Matrix | None = None
        self.written: list[str] = []
        self.problems: list[str] = []

    def build_matrix(self) -> Matrix:
        names = [i.spec.name for i in self.selection.implementations]
        return build(self.collector.records(), names, list(self.selection.devices))

    @pytest.hookimpl(trylast=True)  # after other plugins (a ratchet) set the exit status
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the files, also after failures; a write that fails is reported, never
        raised, so the exit status stays the run's."""
        self.matrix = self.build_matrix()
        records = self.collector.records()
        status = int(session.exitstatus)
        json_path = self.settings.report_json.path if self.settings.report_json else None
        md_path = self.settings.report_md.path if self.settings.report_md else None
        if json_path is not None:
            run = json_report.run_of(
                session.config,
                self.selection,
                status,
                self.started,
                workers=self.workers,
                hosts=self.hosts(),
                shard=self.shard,
                isolation=None if self.isolation is None else self.isolation(),
            )
            report = json_report.build(run, records, self.matrix, self.failures)
            self._write("JSON report", json_path, lambda p: json_report.write(p, report))
        if md_path is not None:
            text = markdown.render(
                self.matrix,
                records,
                status,
                self.failures.reasons(),
                self.lost_hosts(),
            )
            self._write("Markdown report", md_path, lambda p: markdown.write(p, text))
        if self.problems and session.config.pluginmanager.get_plugin("terminalreporter") is None:
            for problem in self.problems:
                print(problem, file=sys.stderr)

    def lost_hosts(self) -> list[str]:
        """A line per host the run lost, unless the loss failed the run (then it is said as
        the reason)."""
        return [
            line for line in lost_hosts.lines(self.hosts()) if line not in self.failures.reasons()
        ]

    def _write(self, what: str, path: Path, writer: Callable[[Path], object]) -> None:
        try:
            writer(path)
        except OSError as exc:
            self.problems.append(f"twolayer: could not write the {what} {path}: {exc}")
        else:
            self.written.append(f"twolayer {what}: {path}")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        records = self.collector.records()
        figures = [{**r.benchmark, "host": r.host} for r in records if r.benchmark is not None]
        if figures:
            terminalreporter.section(tables.TITLE, sep="-")
            terminalreporter.write_line(tables.INTRO)
            for line in tables.render(figures):
                terminalreporter.write_line("  " + line)
            terminalreporter.write_line(tables.FOOTNOTE)
            for note in tables.notes(figures):
                terminalreporter.write_line(note, yellow=True)
        # Nothing ran (--collect-only, a dry run, all deselected): a table of "-" says nothing.
        if self.settings.matrix and records:
            matrix = self.matrix or self.build_matrix()
            terminalreporter.section(SECTION)
            for line in render_text(matrix):
                terminalreporter.write_line(line)
        for line in self.lost_hosts():
            terminalreporter.write_line(f"twolayer: {line}", yellow=True, bold=True)
        for failure in self.failures.found:
            # Every check may have passed: say the run failed, here and in pytest's summary.
            terminalreporter.write_line(f"run FAILED: {failure.reason}", red=True, bold=True)
            # (an object, not a string: other plugins read every entry's __dict__)
            terminalreporter.stats.setdefault(failure.kind, []).append(failure)
        for line in self.written:
            terminalreporter.write_sep("-", line)
        for problem in self.problems:
            terminalreporter.write_line(problem, red=True)
