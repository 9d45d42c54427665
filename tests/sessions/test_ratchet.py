"""The coverage ratchet: a run that executes fewer checks per implementation than recorded
fails; more raise the record; a missing file is written; counts come from the reports, so
they hold under ``-n 2``.

Small sessions: ``numpy`` runs ``implementation_loads`` plus ``params_canonical`` in its two
dtypes (3 executed checks); ``mix`` is a zoo exhibit declaring cuda (skipped by its own
``skip_reason``, so not counted) and its one failing check expected (xfailed, counted).
"""

from __future__ import annotations

import json

import pytest

from tests.support.sessions import with_exhibits

EXHIBITS = """
from pytest_twolayer.zoo.numpy_bugs import LrDoubled


class Mix(LrDoubled):
    devices = ("cpu", "cuda")
    expected_failures = {"update_follows_rule": "steps with twice the rate"}

    @classmethod
    def skip_reason(cls, device):
        return "never on cuda in this test" if device == "cuda" else None
"""

CONFTEST = """
def pytest_twolayer_register(registry):
    registry.add("mix", "exhibits:Mix")
    registry.add("lr2", "pytest_twolayer.zoo.numpy_bugs:LrDoubled")
"""

CHECKS = "implementation_loads or params_canonical or update_follows_rule"


@pytest.fixture
def zoo(pytester: pytest.Pytester) -> pytest.Pytester:
    return with_exhibits(pytester, EXHIBITS, CONFTEST)


def run(pytester: pytest.Pytester, impl: str, *args: str) -> pytest.RunResult:
    # numpy's update check is deselected: the numpy counts are loads + params_canonical x 2
    checks = f"({CHECKS}) and not (numpy and update)"
    return pytester.runpytest(
        "-p", "twolayer", "--impl", impl, "-k", checks, "-p", "no:cacheprovider", *args
    )


def counts(pytester: pytest.Pytester, name: str = "ratchet.json") -> dict[str, int]:
    data: dict[str, int] = json.loads((pytester.path / name).read_text())
    return data


def record(pytester: pytest.Pytester, data: dict[str, int], name: str = "ratchet.json") -> None:
    (pytester.path / name).write_text(json.dumps(data))


def test_a_missing_file_is_written_with_executed_counts(zoo: pytest.Pytester):
    result = run(zoo, "numpy,mix,lr2", "--twolayer-ratchet", "ratchet.json")
    # lr2 fails its update check: failed checks count as executed
    result.assert_outcomes(passed=7, failed=1, xfailed=1, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # mix: loads, params_canonical, update (xfailed); its cuda cases are skipped
    assert counts(zoo) == {"lr2": 3, "mix": 3, "numpy": 3}
    result.stdout.fnmatch_lines(["ratchet: wrote ratchet.json: numpy 3, mix 3, lr2 3"])


def test_a_drop_fails_the_run_and_keeps_the_record(zoo: pytest.Pytester):
    record(zoo, {"numpy": 4, "mix": 3, "gone": 9})
    result = run(zoo, "numpy,mix", "--twolayer-ratchet", "ratchet.json")
    result.assert_outcomes(passed=5, xfailed=1, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["ratchet: numpy ran 3 checks, fewer than the 4 recorded in ratchet.json"]
    )
    assert "ratchet: mix" not in result.stdout.str()
    assert counts(zoo) == {"numpy": 4, "mix": 3, "gone": 9}


def test_a_rise_or_a_new_implementation_raises_the_record(zoo: pytest.Pytester):
    record(zoo, {"numpy": 2, "gone": 9})
    result = run(zoo, "numpy,mix", "--twolayer-ratchet", "ratchet.json")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["ratchet: raised ratchet.json: numpy 2 -> 3, mix 3 (new)"])
    assert counts(zoo) == {"gone": 9, "mix": 3, "numpy": 3}


def test_update_rewrites_the_record_to_this_runs_counts(zoo: pytest.Pytester):
    record(zoo, {"numpy": 7, "gone": 9})
    result = run(zoo, "numpy", "--twolayer-ratchet", "ratchet.json", "--twolayer-ratchet-update")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["ratchet: rewrote ratchet.json: numpy 3"])
    assert counts(zoo) == {"gone": 9, "numpy": 3}


def test_the_ini_path_is_relative_to_the_ini_file(zoo: pytest.Pytester):
    zoo.makeini("[pytest]\ntwolayer_ratchet = counts/ratchet.json\n")
    sub = zoo.mkdir("sub")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        result = run(zoo, "numpy")
    assert result.ret == pytest.ExitCode.OK
    assert counts(zoo, "counts/ratchet.json") == {"numpy": 3}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("[1, 2]", "expected a JSON object {implementation: count >= 0}, got [1, 2]"),
        ('{"numpy": -1}', 'expected a JSON object {implementation: count >= 0}, got {"numpy": -1}'),
        ("{", "cannot read it: Expecting property name *"),
    ],
)
def test_a_bad_file_is_a_usage_error(zoo: pytest.Pytester, content: str, why: str):
    (zoo.path / "ratchet.json").write_text(content)
    result = run(zoo, "numpy", "--twolayer-ratchet", "ratchet.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --twolayer-ratchet ratchet.json: {why}"])


def test_update_without_a_file_is_a_usage_error(zoo: pytest.Pytester):
    result = run(zoo, "numpy", "--twolayer-ratchet-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --twolayer-ratchet-update needs --twolayer-ratchet PATH"])


@pytest.mark.slow
def test_counts_come_from_the_reports_under_xdist(
    zoo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    record(zoo, {"numpy": 4, "mix": 2})
    result = zoo.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,mix", "-n", "2", "-p", "no:cacheprovider",
        "-k", f"({CHECKS}) and not (numpy and update)", "--twolayer-ratchet", "ratchet.json",
    )  # fmt: skip
    result.assert_outcomes(passed=5, xfailed=1, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["ratchet: numpy ran 3 checks, fewer than the 4 recorded in ratchet.json"]
    )
    # the rise of the other implementation is recorded, the drop is not
    assert counts(zoo) == {"mix": 3, "numpy": 4}


def test_a_tripped_ratchet_reads_as_failed_everywhere(zoo: pytest.Pytester):
    """Every check passed and the ratchet tripped: exit status 1, and before, pytest's summary
    said '5 passed ...' in green, the matrix was all pass and the JSON verdict 'passed'. Now
    the summary line counts it, the matrix section, the Markdown and the JSON say the run
    failed and why."""
    record(zoo, {"numpy": 4})
    result = run(
        zoo, "numpy", "--twolayer-ratchet", "ratchet.json",
        "--twolayer-report-json", "r.json", "--twolayer-report-md", "r.md",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    why = "ratchet: numpy ran 3 checks, fewer than the 4 recorded in ratchet.json"
    result.stdout.fnmatch_lines(
        ["impl * device *", "numpy *cpu *pass *", f"run FAILED: {why}", "*=* 3 passed, *"]
    )
    summary = result.outlines[-1]
    assert "1 below the ratchet" in summary, summary
    report = json.loads((zoo.path / "r.json").read_text())
    assert report["summary"]["verdict"] == "failed"
    assert report["summary"]["run_failures"] == [why]
    assert report["run"]["exit_status"] == 1
    markdown = (zoo.path / "r.md").read_text()
    assert "**FAILED** (exit status 1)" in markdown
    assert f"- **run FAILED**: {why}" in markdown


def test_a_ratchet_that_holds_adds_nothing(zoo: pytest.Pytester):
    record(zoo, {"numpy": 3})
    result = run(
        zoo, "numpy", "--twolayer-ratchet", "ratchet.json", "--twolayer-report-json", "r.json"
    )
    assert result.ret == pytest.ExitCode.OK
    assert "run FAILED" not in result.stdout.str()
    assert "below the ratchet" not in result.outlines[-1]
    report = json.loads((zoo.path / "r.json").read_text())
    assert (report["summary"]["verdict"], report["summary"]["run_failures"]) == ("passed", [])
