"""STUB: to be written (see the helper's task)."""

from __future__ import annotations

import pytest


def annotate(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Called for every report of a test; may append a reproduction snippet to a failure."""
