"""The coverage ratchet: fail a run whose implementations execute fewer checks than recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_twolayer import nodeids
from pytest_twolayer.distributed import suite_modules
from pytest_twolayer.published import properties
from pytest_twolayer.selection import Selection

RATCHET_HELP = (
    "coverage ratchet: a JSON file {implementation: checks executed}; the run fails when an "
    "implementation executes fewer checks (passed, failed, xfailed, xpassed) than recorded, "
    "and the file is raised (never lowered) when counts rise or a new implementation appears; "
    "written when missing"
)
RATCHET_UPDATE_HELP = (
    "rewrite the --twolayer-ratchet file to this run's counts, lowering them if need be, "
    "instead of failing on a drop"
)

Counts = dict[str, int]


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    group.addoption("--twolayer-ratchet", default=None, metavar="PATH", help=RATCHET_HELP)
    group.addoption(
        "--twolayer-ratchet-update", action="store_true", default=False, help=RATCHET_UPDATE_HELP
    )
    parser.addini("twolayer_ratchet", RATCHET_HELP + " (relative to the ini file's folder)")


def configure(config: pytest.Config, selection: Selection) -> None:
    """On the controller (or the single process): read the file now, so a bad one is a usage
    error before anything runs."""
    given = config.getoption("twolayer_ratchet")
    if given:
        path = config.invocation_params.dir / given
    elif config.getini("twolayer_ratchet"):
        given = str(config.getini("twolayer_ratchet"))
        base = config.inipath.parent if config.inipath else config.rootpath
        path = base / given
    else:
        if config.getoption("twolayer_ratchet_update"):
            raise pytest.UsageError("--twolayer-ratchet-update needs --twolayer-ratchet PATH")
        return
    if config.option.collectonly or config.getoption("twolayer_dry_run", False):
        return  # nothing is executed, so nothing is counted
    recorded = read_counts(path, given)
    update = bool(config.getoption("twolayer_ratchet_update"))
    config.pluginmanager.register(
        Ratchet(selection, path, given, recorded, update), "twolayer-ratchet"
    )


def read_counts(path: Path, shown: str) -> Counts | None:
    """The recorded counts (None if the file does not exist yet); a bad file is a usage error."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--twolayer-ratchet {shown}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in data.items()
    ):
        raise pytest.UsageError(
            f"--twolayer-ratchet {shown}: expected a JSON object {{implementation: count >= 0}}, "
            f"got {json.dumps(data)[:200]}"
        )
    return data


def executed(report: pytest.TestReport) -> bool:
    """Whether ``report`` shows its test ran: passed, failed (or errored), xfailed, xpassed."""
    if report.failed:
        return True
    return report.when == "call" and (report.passed or hasattr(report, "wasxfail"))


class Ratchet:
    """Counts executed checks per implementation from the reports (on the xdist controller
    too) and compares them with the file at the end of the session."""

    def __init__(
        self, selection: Selection, path: Path, shown: str, recorded: Counts | None, update: bool
    ) -> None:
        from pytest_twolayer.plugin import suite_dir  # plugin imports this module

        self.names = [i.spec.name for i in selection.implementations]
        self.modules = suite_modules(suite_dir())
        self.path = path
        self.shown = shown
        self.recorded = recorded
        self.update = update
        self.ran: dict[str, set[str]] = {name: set() for name in self.names}
        self.lines: list[tuple[str, bool]] = []  # (message, is it a failure)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not executed(report):
            return
        impl = properties(report).get("impl")
        if impl is None:  # a crashed worker's report carries no properties, only its node id
            key = nodeids.parse(report.nodeid, self.names, self.modules)
            impl = key.impl if key else None
        if impl in self.ran:
            self.ran[impl].add(report.nodeid)

    def counts(self) -> Counts:
        return {name: len(ids) for name, ids in self.ran.items()}

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
            self.lines.append(
                (
                    f"ratchet: {name} ran {current[name]} checks, fewer than the "
                    f"{recorded[name]} recorded in {self.shown}",
                    True,
                )
            )
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
