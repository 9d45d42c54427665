"""benchmarks/scale_probe.py, on a few implementations: it registers the copies it says, runs
them sealed and not, and prints a time per implementation for each size and each isolation."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.sessions import run_as_user

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "scale_probe.py"


def test_the_probe_times_each_size_sealed_and_not(tmp_path: Path):
    result = run_as_user(["python", str(SCRIPT), "--sizes", "2,4"], tmp_path, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for size in (2, 4):
        for isolation in ("none", "process"):
            assert re.search(
                rf"^\s*{size} implementations, {isolation:7}: +\d+\.\d s", output, re.M
            )
        assert re.search(rf"^\s+{size}\s+\d+ ms\s+\d+ ms\s+\d+\.\d\dx$", output, re.M), output
    assert re.search(r"^process: per implementation, 4 cost \d+\.\d\dx what 2 did$", output, re.M)
    assert not list(tmp_path.iterdir())  # its submissions lived in a folder of its own
