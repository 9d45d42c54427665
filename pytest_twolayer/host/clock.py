"""What pytest's clock leaves out of a run in one process.

pytest times a session from its start; in one process (``-n 0``, or a single implementation)
the plugin imports every selected implementation, and so its frameworks (seconds each), at
configure time, before that. The time pytest's last line reports is then shorter than the
run by as much, and the plugin says so beside it. (Under xdist the workers import inside the
session: pytest's time holds it.)
"""

from __future__ import annotations

import pytest


class ImportTime:
    """Registered in a run that imported its implementations before the session started."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @pytest.hookimpl(trylast=True)  # the last line before pytest's own summary
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_line(line(self.seconds))


def line(seconds: float) -> str:
    return (
        f"twolayer: importing the implementations took {seconds:.1f} s before pytest's clock "
        "started; the time below leaves it out"
    )
