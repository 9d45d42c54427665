"""The dry run lists the implementations and what each check would do (run, skip with its
reason, expected failure with its reason) and runs nothing: no test, no constructor, no
xdist worker, no ratchet file."""

from __future__ import annotations

import pytest

from tests.support.sessions import with_exhibits

EXHIBITS = """
from pathlib import Path

from pytest_twolayer.zoo.numpy_bugs import LrDoubled


class Marked(LrDoubled):
    devices = ("cpu", "cuda")
    expected_failures = {"update_follows_rule": "steps with twice the rate"}

    @classmethod
    def skip_reason(cls, device):
        return "never on cuda in this test" if device == "cuda" else None

    def __init__(self, *args, **kwargs):
        Path("constructed.txt").write_text("an instance was made")
        super().__init__(*args, **kwargs)
"""

CONFTEST = """
def pytest_twolayer_register(registry):
    registry.add("marked", "exhibits:Marked")
    registry.add("missing", "pytest_twolayer.zoo.numpy_bugs:MissingMethod")
"""

ARGS = ("-p", "twolayer", "--impl", "numpy,marked,missing", "-p", "no:cacheprovider")
IN_ONE_PROCESS = ("--twolayer-isolation", "none")
"""Where ``constructed.txt`` lands in the test's folder: a sealed host writes only in its own
private folder, so there the file could not tell whether an instance was made."""
CHECKS = ("-k", "implementation_loads or params_canonical or update_follows_rule or training")


@pytest.fixture
def zoo(pytester: pytest.Pytester) -> pytest.Pytester:
    return with_exhibits(pytester, EXHIBITS, CONFTEST)


EXPECTED = [
    "*= twolayer dry run: nothing is run =*",
    "implementations:",
    "  numpy: devices cpu; dtypes float64,float32; optimizer SGD(lr=1e-06, momentum=0.0); "
    "depths 0; source entry point pytest_twolayer.implementations.numpy_net:NumpyNet",
    "  marked: devices cpu,cuda; dtypes float64; optimizer SGD(lr=1e-06, momentum=0.0); "
    "depths 0; source register hook exhibits:Marked",
    "  missing: FAILED TO LOAD (register hook pytest_twolayer.zoo.numpy_bugs:MissingMethod): "
    "implementation 'missing': has no method to_device() *",
    "devices: cpu*; seed: 0",
    "numpy (the class): 1 run",
    "  run: implementation_loads",
    "marked (the class): 1 run",
    "missing (the class): 1 fail",
    "  fail (it did not load): implementation_loads",
    "numpy cpu float64: 3 run",
    "  run: params_canonical, training, update_follows_rule",
    "numpy cpu float32: 2 run",
    "  run: params_canonical, update_follows_rule",
    "marked cpu float64: 2 run, 1 xfail",
    "  run: params_canonical, training",
    "  xfail (steps with twice the rate): update_follows_rule",
    "marked cuda float64: 3 skip",
    # the reason is cuda's absence here, the class's skip_reason where cuda is present
    "  skip (cuda: *): params_canonical, training, update_follows_rule",
    "14 checks listed; none was run",
]


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_the_dry_run_lists_every_case_and_runs_nothing(zoo: pytest.Pytester, isolation: str):
    """The same plan, in the same order, sealed or not."""
    result = zoo.runpytest(
        *ARGS, *CHECKS, "--twolayer-isolation", isolation,
        "--twolayer-dry-run", "--twolayer-ratchet", "r.json",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(EXPECTED)
    result.assert_outcomes()  # nothing passed, failed, skipped or xfailed
    assert not (zoo.path / "constructed.txt").exists()
    assert not (zoo.path / "r.json").exists()


def test_the_same_selection_without_dry_run_does_run(zoo: pytest.Pytester):
    """The control: the marker file and outcomes the dry run must not produce."""
    result = zoo.runpytest(*ARGS, *IN_ONE_PROCESS, "-k", "implementation_loads or params_canonical")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    assert (zoo.path / "constructed.txt").exists()


@pytest.mark.slow
def test_the_dry_run_under_xdist_starts_no_worker(
    zoo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    result = zoo.runpytest_subprocess(
        *ARGS, *IN_ONE_PROCESS, *CHECKS, "-n", "2", "--twolayer-dry-run"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(EXPECTED)
    result.assert_outcomes()
    assert "workers" not in result.stdout.str()
    assert not (zoo.path / "constructed.txt").exists()


def test_a_dry_run_that_selects_nothing_exits_5(zoo: pytest.Pytester):
    result = zoo.runpytest(*ARGS, "-k", "no_such_check", "--twolayer-dry-run")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
