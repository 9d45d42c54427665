"""One cause, one failure, one fix: a first torch net written from the tutorial fails the
concern that is wrong and nothing else, each failure with its hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.sessions.test_report import terminal_matrix

README = Path(__file__).resolve().parents[2] / "README.md"
FIRST = "tests.support.first_torch:FirstTorchNet"
FROM_NUMPY = "tests.support.first_torch:FirstTorchNetFromNumpy"


def run_both(pytester: pytest.Pytester) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytest.importorskip("torch")
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", f"mine={FIRST},fromnumpy={FROM_NUMPY}", "-n", "0",
        "--twolayer-benchmark-steps", "20", "--twolayer-report-json", "report.json",
    )  # fmt: skip
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    return result, report


def failures(report: dict[str, Any], impl: str) -> dict[str, str]:
    checks = report["checks"]
    return {
        c["nodeid"].split("::")[-1]: c["message"]
        for c in checks
        if c["impl"] == impl and c["outcome"] != "passed"
    }


@pytest.mark.slow  # the whole suite on two torch nets in this process: about 30 s
def test_one_cause_fails_one_concern_and_each_failure_has_its_hint(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reseed alone fails hygiene once; the tutorial's ``torch.from_numpy`` besides
    fails shapes too (and the inputs check), each with its hint."""
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result, report = run_both(pytester)
    found = failures(report, "mine")
    assert list(found) == ["test_global_state_untouched[mine-cpu-float32-__init__]"]
    message = found["test_global_state_untouched[mine-cpu-float32-__init__]"]
    first, hint = message.splitlines()[:2]
    assert first.endswith(
        "__init__() left process-global state changed: torch's global RNG was reseeded "
        "(torch.manual_seed(0) or torch.seed())"
    ), first
    assert hint.startswith("  hint: draw from a generator of your own, torch.Generator()")
    readme = README.read_text(encoding="utf-8").splitlines()
    assert first in readme, "the README's failing check is no longer what the suite prints"
    assert readme[readme.index(first) + 1] == hint
    rows = {row[0]: row for row in terminal_matrix(result)}
    header = rows["impl"]
    cells = dict(zip(header, rows["mine"], strict=True))
    assert cells["hygiene"] == "FAIL 1"
    assert {cells[c] for c in header[2:] if c != "hygiene"} == {"pass"}, cells

    found = failures(report, "fromnumpy")
    assert set(found) == {
        "test_global_state_untouched[fromnumpy-cpu-float32-__init__]",
        "test_forward_shapes[fromnumpy-cpu-float32]",
        "test_inputs_not_mutated[fromnumpy-cpu-float32]",
    }
    for test in ("test_forward_shapes", "test_inputs_not_mutated"):
        lines = found[f"{test}[fromnumpy-cpu-float32]"].splitlines()
        assert "negative strides" in lines[0], lines[0]
        assert "torch.from_numpy(np.ascontiguousarray(a))" in lines[1], lines[1]
    rows = {row[0]: row for row in terminal_matrix(result)}
    cells = dict(zip(rows["impl"], rows["fromnumpy"], strict=True))
    assert (cells["shapes"], cells["hygiene"]) == ("FAIL 1", "FAIL 2")
    assert {cells[c] for c in ("contract", "gradients", "update", "training")} == {"pass"}
