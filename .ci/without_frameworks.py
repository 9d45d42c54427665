"""A pytest plugin for the compatibility session (``nox -s compat``), where neither torch nor
TensorFlow is installed: it deselects the own tests parametrized over a built-in that needs
one (``test_layouts.py::...[tensor]``), and says how many it left out.

Loaded with ``-p without_frameworks`` and this folder on PYTHONPATH.
"""

from __future__ import annotations

import importlib.util

import pytest

NUMPY_ONLY = {"numpy"}
"""The built-ins that need no framework."""


def framework_built_ins() -> set[str]:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="twolayer.implementations")}
    return names - NUMPY_ONLY


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if importlib.util.find_spec("torch") and importlib.util.find_spec("tensorflow"):
        return
    needing = framework_built_ins()
    kept, left = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        ids = set(callspec.id.split("-")) if callspec is not None else set()
        ids |= set(map(str, callspec.params.values())) if callspec is not None else set()
        (left if ids & needing else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept
        print(
            f"\nwithout_frameworks: {len(left)} tests of built-ins that need torch or "
            "TensorFlow deselected (neither is installed)"
        )
