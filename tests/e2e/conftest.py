"""End-to-end tests are slow: ``pytest -m "not slow"``, the inner loop, leaves them out."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


# First: the -m option deselects in its own pytest_collection_modifyitems, which must see the
# mark. A conftest's hook is called for every item of the run, not only for those below it.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
        if (
            item.path.parent == HERE
            and item.path.name in RUN_ALONE
            and hasattr(config, "workerinput")
        ):
            item.add_marker(pytest.mark.skip(reason=RUN_ALONE[item.path.name]))


RUN_ALONE = {
    "test_lost_hosts.py": (
        "judges heartbeats within seconds, which a parallel run's load delays: run it alone, "
        "as .ci/run and nox -s tests-full do (pytest tests/e2e/test_lost_hosts.py)"
    ),
}
"""Files whose tests time what a busy machine delays (a host's silence, a stalled worker):
skipped on xdist workers, run by themselves."""
