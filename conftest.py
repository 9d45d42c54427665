"""The repository's own test configuration (the plugin's tests live in tests/).

Kept free of heavy imports and of ``pytest_plugins``: in a source checkout the shipped suite
sits beside this file, so every ``pytest -p twolayer`` run from the checkout loads it, as a
non-top-level conftest when run from elsewhere.
"""

from __future__ import annotations

# scripts/ and benchmarks/ hold command-line tools (a seed sweep, the suite's speed), not tests.
collect_ignore = ["scripts", "benchmarks"]
