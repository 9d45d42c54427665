"""What pytest's clock leaves out: a run in one process imports its implementations before
pytest starts timing, and says so beside pytest's time; under xdist there is nothing to say."""

from __future__ import annotations

import pytest

CLOCK = (
    r"twolayer: importing the implementations took \d+\.\d s before pytest's clock "
    r"started; the time below leaves it out"
)


def test_one_process_says_its_imports_precede_pytests_clock(pytester: pytest.Pytester):
    """``-n 0`` once reported a time well below the run's wall time, with nothing saying why."""
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "numpy", "-k", "params_canonical", "-n", "0"
    )
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([CLOCK, r"=+ 2 passed, \d+ deselected in .*"], consecutive=True)


@pytest.mark.slow
def test_workers_import_inside_pytests_clock(pytester: pytest.Pytester):
    pytester.makeconftest(
        "def pytest_twolayer_register(registry):\n"
        "    registry.add('lr2', 'pytest_twolayer.zoo.numpy_bugs:LrDoubled')\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "numpy,lr2", "-k", "params_canonical", "-n", "2"
    )
    result.assert_outcomes(passed=3)
    assert "before pytest's clock" not in result.stdout.str()


def test_the_time_includes_importing_the_command_lines_import_paths(pytester: pytest.Pytester):
    """An ``--impl name=module:Class`` is imported first to check that it imports; that import
    was left out once (the line said 0.0 s though the module took its time)."""
    pytester.makepyfile(
        slowimport=(
            "import time\n"
            "time.sleep(0.5)  # a module that takes half a second to import\n"
            "from pytest_twolayer.implementations.numpy_net import NumpyNet as Net\n"
        )
    )
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "slow=slowimport:Net", "-k", "params_canonical", "-n", "0"
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    [line] = [line for line in result.outlines if "before pytest's clock" in line]
    seconds = float(line.split(" took ")[1].split(" s ")[0])
    assert seconds >= 0.5, line
