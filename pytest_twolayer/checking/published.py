"""The one channel of per-test data from a twolayer test to the reports.

A test hands data to the reports with ``publish(item, key, value)`` (JSON-serializable
values only: a loss curve, benchmark figures, pytest-benchmark's results). When each phase of
a twolayer test is reported, the plugin attaches a :class:`Message` to the report as its
``twolayer`` attribute: the case it checked (implementation, device, dtype, seed, concern,
check) and, on the call phase, what it published. The report carries it to the xdist
controller with the verdict, so nothing is lost to a worker that crashes later; there the
report collector (:mod:`pytest_twolayer.report.collector`) is its one reader, and every
rendering (matrix, tables, JSON, Markdown, plots, the ratchet, pytest-benchmark's merged
results) is built from what it collected. The same case labels are the ``twolayer.*``
properties ``--junitxml`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

ATTRIBUTE = "twolayer"
PROPERTY_PREFIX = "twolayer."
_DATA_KEY = pytest.StashKey[dict[str, Any]]()


def publish(item: pytest.Item, key: str, value: Any) -> None:
    """Attach ``value`` under ``key`` to ``item``'s call-phase report (a later call with the
    same key replaces it)."""
    item.stash.setdefault(_DATA_KEY, {})[key] = value


@dataclass(frozen=True)
class Message:
    """What a twolayer test's report carries: its case's labels, and what it published."""

    case: dict[str, str]
    data: dict[str, Any]


def attach(item: pytest.Item, report: pytest.TestReport, case: dict[str, str]) -> None:
    """Put the message on ``report`` (published data on the call phase only)."""
    data = item.stash.get(_DATA_KEY, {}) if report.when == "call" else {}
    setattr(report, ATTRIBUTE, {"case": dict(case), "data": dict(data)})


def read(report: pytest.TestReport) -> Message | None:
    """The message ``report`` carries (None for other tests, and for xdist's report of a
    test whose worker died: that one carries nothing but its node id)."""
    raw = getattr(report, ATTRIBUTE, None)
    if not isinstance(raw, dict):
        return None
    case, data = raw.get("case"), raw.get("data")
    if not isinstance(case, dict) or not isinstance(data, dict):
        return None
    return Message({str(k): str(v) for k, v in case.items()}, data)


def junit_properties(case: dict[str, str]) -> list[tuple[str, str]]:
    """The case's labels as ``--junitxml`` properties (``twolayer.impl`` ...)."""
    return [(PROPERTY_PREFIX + name, value) for name, value in case.items()]
