"""The coverage ratchet: fail a run whose implementations execute fewer checks than recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_twolayer.option_table import RATCHET
from pytest_twolayer.report.collector import Collector
from pytest_twolayer.report.run_failures import RunFailures
from pytest_twolayer.run.options import Destination
from pytest_twolayer.run.selection import Selection

Counts = dict[str, int]

BELOW = "below the ratchet"  # in pytest's summary line: "25 passed, 1 below the ratchet"


def read_counts(path: Path, shown: str) -> Counts | None:
    """The recorded counts (None if the file does not exist yet); a bad file is a usage error."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"{RATCHET.flag} {shown}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in data.items()
    ):
        raise pytest.UsageError(
            f"{RATCHET.flag} {shown}: expected a JSON object {{implementation: count >= 0}}, "
            f"got {json.dumps(data)[:200]}"
        )
    return data


class Ratchet:
    """Counts the checks each implementation executed (from the collector's records, on the
    xdist controller too) and compares them with the file at the end of the session."""

    def __init__(
        self,
        selection: Selection,
        where: Destination,
        recorded: Counts | None,
        update: bool,
        collector: Collector,
        failures: RunFailures,
    ) -> None:
        self.names = [i.spec.name for i in selection.implementations]
        self.path = where.path
        self.shown = where.given
        self.recorded = recorded
        self.update = update
        self.collector = collector
        self.failures = failures
        self.lines: list[tuple[str, bool]] = []  # (message, is it a failure)

    def counts(self) -> Counts:
        """Executed checks (passed, failed, errored, xfailed, xpassed, crashed) per name."""
        ran: dict[str, set[str]] = {name: set() for name in self.names}
        for record in self.collector.records():
            if record.ran and record.impl in ran:
                ran[record.impl].add(record.nodeid)
        return {name: len(ids) for name, ids in ran.items()}

    @pytest.hookimpl(tryfirst=True)  # the reports' trylast hooks then see the exit status
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return  # interrupted or broken: the counts are partial
        current = self.counts()
        recorded = dict(self.recorded or {})
        if self.update or self.recorded is None:
            new = {**recorded, **current}
            verb = "rewrote" if self.recorded is not None else "wrote"
            self._write(new, f"ratchet: {verb} {self.shown}: {_describe(current)}")
            return
        drops = [name for name, count in current.items() if count < recorded.get(name, 0)]
        for name in drops:
            reason = (
                f"ratchet: {name} ran {current[name]} checks, fewer than the "
                f"{recorded[name]} recorded in {self.shown}"
            )
            self.lines.append((reason, True))
            self.failures.add(BELOW, reason)
        if drops:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        raised = {name: count for name, count in current.items() if count > recorded.get(name, -1)}
        if raised:
            changes = ", ".join(
                f"{name} {recorded[name]} -> {count}"
                if name in recorded
                else f"{name} {count} (new)"
                for name, count in raised.items()
            )
            self._write({**recorded, **raised}, f"ratchet: raised {self.shown}: {changes}")

    def _write(self, counts: Counts, message: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(dict(sorted(counts.items())), indent=2) + "\n"
        self.path.write_text(text, encoding="utf-8")
        self.lines.append((message, False))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for line, failure in self.lines:
            terminalreporter.write_line(line, red=failure, bold=failure)


def _describe(counts: Counts) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "no implementation"
