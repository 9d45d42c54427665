"""STUB: to be written (see the helper's task)."""

from __future__ import annotations

import pytest

from pytest_twolayer.selection import Selection


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Add this feature's command-line options (and ini equivalents) to ``group``."""


def configure(config: pytest.Config, selection: Selection) -> None:
    """Called once implementations are selected (controller and every xdist worker)."""
