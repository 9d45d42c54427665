"""One line per host the run lost, from the JSON report's ``environment.hosts``: the terminal
and the Markdown summary say the same (and ``merge`` says it of merged shards)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from pytest_twolayer.report.run_failures import RunFailures

KIND = "lost host"  # how pytest's summary line counts them: ``1 lost host``


def lines(hosts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``host h1 lost 25.3 s into the run (connection lost): workers gw0, gw1; running
    numpy, autograd; 40 checks rescheduled``, for each lost host."""
    said = []
    for name, facts in hosts.items():
        lost = facts.get("lost")
        if not lost:
            continue
        workers = lost.get("workers") or []
        running = lost.get("running") or []
        rescheduled = len(facts.get("rescheduled") or [])
        said.append(
            f"host {name} lost {lost['after_s']:g} s into the run ({lost['reason']}): "
            f"worker{'' if len(workers) == 1 else 's'} {', '.join(workers) or 'none'}; "
            f"running {', '.join(running) or 'nothing'}; "
            f"{rescheduled} check{'' if rescheduled == 1 else 's'} rescheduled"
        )
    return said


class LostHostsFail:
    """``--twolayer-lost-host-fails``: each lost host is a reason the run failed (exit status
    1), beside its checks' verdicts. ``hosts()`` is the JSON report's ``environment.hosts``."""

    def __init__(
        self, hosts: Callable[[], Mapping[str, Mapping[str, Any]]], failures: RunFailures
    ) -> None:
        self.hosts = hosts
        self.failures = failures

    @pytest.hookimpl(tryfirst=True)  # before the reports state the run's verdict
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        found = lines(self.hosts())
        for line in found:
            self.failures.add(KIND, line)
        if found and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
