"""Setting up pytester sessions that check small broken implementations."""

from __future__ import annotations

import pytest


def with_exhibits(pytester: pytest.Pytester, exhibits: str, conftest: str) -> pytest.Pytester:
    """``exhibits.py`` (importable) and a ``conftest.py`` registering its classes."""
    pytester.makepyfile(exhibits=exhibits)
    pytester.makeconftest(conftest)
    pytester.syspathinsert()
    return pytester
