"""Data a conformance test hands to the reports: attached to its test report, so it reaches
the xdist controller with the verdict (and survives a worker that crashes later).

A test calls ``publish(request.node, "losses", [...])``; the call-phase report then carries
``report.twolayer_data == {"losses": [...]}`` (JSON-serializable values only). Every report
of a conformance test also carries ``twolayer.*`` user properties (implementation, device,
dtype, seed, concern, check), which ``--junitxml`` writes as ``<property>`` elements.
"""

from __future__ import annotations

from typing import Any

import pytest

DATA_KEY = pytest.StashKey[dict[str, Any]]()
REPORT_ATTRIBUTE = "twolayer_data"
PROPERTY_PREFIX = "twolayer."


def publish(item: pytest.Item, key: str, value: Any) -> None:
    """Attach ``value`` under ``key`` to ``item``'s call-phase report."""
    item.stash.setdefault(DATA_KEY, {})[key] = value


def published(report: pytest.TestReport) -> dict[str, Any]:
    """What the test published (empty for other phases and other tests)."""
    data = getattr(report, REPORT_ATTRIBUTE, None)
    return data if isinstance(data, dict) else {}


def properties(report: pytest.TestReport) -> dict[str, str]:
    """The ``twolayer.*`` user properties of a report, without the prefix."""
    return {
        str(name)[len(PROPERTY_PREFIX) :]: str(value)
        for name, value in report.user_properties
        if str(name).startswith(PROPERTY_PREFIX)
    }
