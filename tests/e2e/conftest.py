"""End-to-end tests are slow: ``pytest -m "not slow"``, the inner loop, leaves them out."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


# First: the -m option deselects in its own pytest_collection_modifyitems, which must see the
# mark. A conftest's hook is called for every item of the run, not only for those below it.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
