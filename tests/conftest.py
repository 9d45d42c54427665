"""Configuration of the plugin's own tests: hypothesis profiles for local runs and for CI."""

from __future__ import annotations

import os

from hypothesis import settings

# CI must be reproducible: a derandomized profile runs the same examples every time.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
