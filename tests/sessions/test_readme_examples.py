"""The README's three ways to register an implementation, and the own-tests example of
docs/own-tests.md, run as a user would run them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.readme import example_files, suite_check_count

EXAMPLES = example_files()
SUITE_CHECKS = suite_check_count()  # what a cpu, float64-only net runs


def test_readme_has_every_example():
    assert {"mynet.py", "conftest.py", "pyproject.toml", "test_mine.py"} <= set(EXAMPLES)


def test_command_line_registration(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=EXAMPLES["mynet.py"])
    result = pytester.runpytest("-p", "twolayer", "--impl", "mine=mynet:MyNet")
    result.assert_outcomes(passed=SUITE_CHECKS)
    result.stdout.fnmatch_lines(["twolayer: implementations: mine (float64)"])


def test_conftest_hook_registration(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=EXAMPLES["mynet.py"])
    pytester.makeconftest(EXAMPLES["conftest.py"])
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "twolayer", "--impl", "mine")
    result.assert_outcomes(passed=SUITE_CHECKS)


@pytest.mark.slow
def test_entry_point_registration_of_an_installed_package(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    package = pytester.mkdir("mynet-pkg")
    (package / "mynet.py").write_text(EXAMPLES["mynet.py"])
    (package / "pyproject.toml").write_text(EXAMPLES["pyproject.toml"])
    site = pytester.path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
    )
    monkeypatch.setenv("PYTHONPATH", str(site))
    listing = pytester.runpytest_subprocess("-p", "twolayer", "--twolayer-list")
    listing.stdout.fnmatch_lines(["mine *cpu *float64 *SGD(lr=1e-06*entry point mynet:MyNet"])
    result = pytester.runpytest_subprocess("-p", "twolayer", "--impl", "mine")
    result.assert_outcomes(passed=SUITE_CHECKS)


def test_own_tests_run_beside_the_suite_with_its_fixtures(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=EXAMPLES["mynet.py"], test_mine=EXAMPLES["test_mine.py"])
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "mine=mynet:MyNet", "test_mine.py", "-v"
    )
    result.assert_outcomes(passed=SUITE_CHECKS + 2)
    result.stdout.fnmatch_lines(
        ["*test_mine.py::test_loss_falls_in_ten_steps[[]mine-cpu-float64[]] PASSED*"]
    )


def test_own_tests_alone_with_no_suite(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=EXAMPLES["mynet.py"], test_mine=EXAMPLES["test_mine.py"])
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "mine=mynet:MyNet", "--twolayer-no-suite", "test_mine.py"
    )
    result.assert_outcomes(passed=2)


def test_own_tests_skip_without_impl(pytester: pytest.Pytester):
    pytester.makepyfile(test_mine=EXAMPLES["test_mine.py"])
    result = pytester.runpytest("-p", "twolayer", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["*no implementation selected: run pytest with -p twolayer --impl NAME*"]
    )
