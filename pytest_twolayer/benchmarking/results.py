"""pytest-benchmark's results in a form that travels: plain JSON out of one process, and
the object pytest-benchmark's session keeps, rebuilt in another."""

from __future__ import annotations

import importlib
import json
from decimal import Decimal
from types import SimpleNamespace
from typing import Any


def benchmark_session(config: Any) -> Any:
    """pytest-benchmark's session object (its documented home on the pytest config), if
    pytest-benchmark is active."""
    return getattr(config, "_benchmarksession", None)


def as_plain(benchmark: Any) -> dict[str, Any] | None:
    """The results of the ``benchmark`` fixture's run as JSON-able data (None if it has none)."""
    stats = getattr(benchmark, "stats", None)
    if not stats:
        return None
    result = {
        "has_error": bool(getattr(benchmark, "has_error", False)),
        **stats.as_dict(include_data=True),
    }
    # pytest-benchmark keeps times as Decimal, which neither JSON nor execnet sends.
    plain: dict[str, Any] = json.loads(json.dumps(result, default=_plain_value))
    return plain


def _plain_value(value: object) -> object:
    return float(value) if isinstance(value, Decimal) else str(value)


def rebuilt(result: dict[str, Any]) -> Any:
    """A result from another process as the object pytest-benchmark's session keeps for its
    own: its ``Metadata``, rebuilt from the JSON form without the fixture that made it."""
    stats_module: Any = importlib.import_module("pytest_benchmark.stats")
    metadata = stats_module.Metadata.__new__(stats_module.Metadata)
    for name in ("name", "fullname", "group", "param", "params", "extra_info", "options"):
        setattr(metadata, name, result[name])
    metadata.cprofile_stats = None
    metadata.iterations = result["stats"]["iterations"]
    metadata.stats = stats_module.Stats()
    for duration in result["stats"]["data"]:
        metadata.stats.update(duration)
    metadata.fixture = SimpleNamespace(has_error=result["has_error"])  # read by has_error
    return metadata
