"""What fails a run besides its checks: a coverage ratchet that tripped.

Every check can pass and the run still fail (exit status 1). The feature that fails it says
why here, and every rendering states the run's verdict from the records and these reasons:
the terminal (a line under the matrix, and pytest's own summary line, which would otherwise
read ``25 passed`` in green), the Markdown summary and the JSON report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_twolayer.report.records import FAILING, Record


@dataclass(frozen=True)
class RunFailure:
    """One reason the run failed: ``kind`` counts it in pytest's summary line
    (``1 below the ratchet``), ``reason`` says it in a sentence."""

    kind: str
    reason: str


@dataclass
class RunFailures:
    """The run's failures beyond its checks, in the order they were found."""

    found: list[RunFailure] = field(default_factory=list)

    def add(self, kind: str, reason: str) -> None:
        self.found.append(RunFailure(kind, reason))

    def reasons(self) -> list[str]:
        return [failure.reason for failure in self.found]

    def verdict(self, records: list[Record]) -> str:
        """``"failed"`` when a check failed, errored, crashed or went unrun, or the run failed
        otherwise; else ``"passed"`` (expected failures pass)."""
        failed = self.found or any(r.outcome in FAILING for r in records)
        return "failed" if failed else "passed"
