"""Hook specifications that pytest-twolayer adds to pytest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_twolayer.run.registry import Registry


@pytest.hookspec
def pytest_twolayer_register(registry: Registry) -> None:
    """Register implementations with ``registry.add(name, cls_or_import_path)``."""
