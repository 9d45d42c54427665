"""What a user sees on the terminal for two exhibits of the zoo, in-process ``pytester`` runs
of the suite: the update rule's verdict, and the contract error of a class that misses a method."""

from __future__ import annotations

import textwrap

import pytest

from pytest_twolayer.checking.suite import suite_dir


def _register(pytester: pytest.Pytester, name: str, module: str, cls: str) -> None:
    pytester.makeconftest(
        textwrap.dedent(
            f"""\
            from pytest_twolayer.zoo.{module} import {cls}


            def pytest_twolayer_register(registry):
                registry.add({name!r}, {cls})
            """
        )
    )


def _run(pytester: pytest.Pytester, impl: str, *args: str) -> pytest.RunResult:
    # Both folders are named so that the conftest.py files of both load at startup; the
    # empty ini keeps the repository's own pytest configuration out of the run.
    ini = pytester.makeini("[pytest]\n")
    return pytester.runpytest_inprocess(
        "-c",
        str(ini),
        str(pytester.path),
        str(suite_dir()),
        "-p",
        "twolayer",
        "--impl",
        impl,
        "--device",
        "cpu",
        "-p",
        "no:cacheprovider",
        "-ra",
        *args,
    )


def test_pytester_shows_the_update_verdict(pytester: pytest.Pytester) -> None:
    """A user's run on a net whose lr is 0.5% off: one failure, the update rule's verdict."""
    name = "zoo-lr-off-by-half-percent"
    _register(pytester, name, "numpy_bugs", "LrOffByHalfPercent")
    result = _run(pytester, name, "-k", "contract or update")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"[[]update_follows_rule[]] impl={name} device=cpu dtype=float64 seed=0: "
            "after step #1 w? "
            "moved wrongly for SGD(lr=1e-06, momentum=0.0): displacement off by 0.005 of its "
            "reference norm (allowed 1e-08)*",
            "  hint: step with exactly the declared optimizer (its lr, momentum, betas, eps)*",
            f"  reproduce: pytest -p twolayer --impl {name} --device cpu --twolayer-seed 0 "
            f"-k 'test_update_follows_rule[[]{name}-cpu-float64[]]'",
            f"FAILED *test_update.py::test_update_follows_rule[[]{name}-cpu-float64[]]*",
        ]
    )


def test_pytester_shows_the_contract_error(pytester: pytest.Pytester) -> None:
    """A class without ``to_device()`` fails its own check, naming it, and runs no other."""
    name = "zoo-missing-method"
    _register(pytester, name, "numpy_bugs", "MissingMethod")
    result = _run(pytester, f"{name},numpy", "-k", "implementation_loads")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"implementation '{name}': has no method to_device() "
            "[[]register hook pytest_twolayer.zoo.numpy_bugs:MissingMethod[]]",
            f"FAILED *test_contract.py::test_implementation_loads[[]{name}[]]*",
        ]
    )
