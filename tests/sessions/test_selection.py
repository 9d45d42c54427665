"""Selecting implementations and devices: usage errors, subsets, inertness, listing, and
registered implementations that are broken or registered twice."""

from __future__ import annotations

import importlib.metadata
import itertools

import pytest

from pytest_twolayer.host.machine import unavailable_reason
from pytest_twolayer.run.registry import ENTRY_POINT_GROUP
from tests.support.readme import example_files, suite_check_count

MYNET = example_files()["mynet.py"]
NUMPY = "pytest_twolayer.implementations.numpy_net:NumpyNet"
SUITE_CHECKS = suite_check_count()  # what a cpu, float64-only net runs
BUILTINS = [
    "autograd",
    "dynamic",
    "function",
    "module",
    "nn",
    "numpy",
    "optim",
    "tensor",
    "tf-static",
]


def test_unknown_name_is_a_one_line_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy,nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --impl: unknown implementation 'nope'; available: {', '.join(BUILTINS)} *"]
    )


def test_unimportable_path_is_a_one_line_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest("-p", "twolayer", "--impl", "a.b:C")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --impl a.b:C: cannot import 'a.b' for 'a.b:C': "
            f"ModuleNotFoundError: No module named 'a' (registered: {', '.join(BUILTINS)})"
        ]
    )


def test_missing_class_in_a_path_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=MYNET)
    result = pytester.runpytest("-p", "twolayer", "--impl", "mynet:NotThere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --impl mynet:NotThere: module 'mynet' has no attribute 'NotThere' "
            "* (registered: *)"
        ]
    )


def test_a_subset_runs_only_those_implementations(pytester: pytest.Pytester):
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy,optim", "--co", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids
    assert {line.split("[")[1].split("-")[0].rstrip("]") for line in ids} == {"numpy", "optim"}


def test_plugin_is_inert_without_impl(pytester: pytest.Pytester):
    pytester.makepyfile("def test_plain(): assert True")
    result = pytester.runpytest("-p", "twolayer")
    result.assert_outcomes(passed=1)
    assert "twolayer:" not in result.stdout.str()


@pytest.mark.slow
def test_list_shows_every_builtin_with_its_declarations(pytester: pytest.Pytester):
    # In a process of its own: a pytester run in this one would import TensorFlow, which a
    # later run here (pytester forgets the modules a run imported) could not import again.
    result = pytester.runpytest_subprocess("-p", "twolayer", "--twolayer-list")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "name *devices *dtypes *optimizer *depths *source",
            "dynamic *cpu,cuda *float32,float64 *SGD(lr=0.0001, momentum=0.9) *0,1,2,3 *entry*",
            "numpy *cpu *float64,float32 *SGD(lr=1e-06, momentum=0.0) *0 *entry point*",
            "optim *cpu,cuda *float32,float64 *Adam(lr=0.0001*",
        ]
    )


def test_a_broken_registration_does_not_widen_the_list(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    """Its long error once widened every row to ~250 characters; now its row says it failed
    and the error follows the table, which keeps the widths of the working entries."""
    only_numpy = importlib.metadata.EntryPoints(
        [importlib.metadata.EntryPoint("numpy", NUMPY, ENTRY_POINT_GROUP)]
    )  # no framework to import (TensorFlow cannot be imported twice in one process)
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda **params: only_numpy if params.get("group") == ENTRY_POINT_GROUP else real(**params),
    )
    pytester.makepyfile(mynet=MYNET)
    pytester.syspathinsert()
    pytester.makeconftest(
        "from mynet import MyNet\n\n"
        "def pytest_twolayer_register(registry):\n"
        "    registry.add('mine', MyNet)\n"
    )
    clean = pytester.runpytest("-p", "twolayer", "--twolayer-list")
    pytester.makeconftest(BROKEN_CONFTEST.replace('registry.add("numpy", MyNet)', ""))
    broken = pytester.runpytest("-p", "twolayer", "--twolayer-list")

    def column_widths(result: pytest.RunResult) -> list[int]:
        header = next(line for line in result.outlines if line.startswith("name "))
        starts = [header.index(title) for title in ("devices", "dtypes", "optimizer", "source")]
        return [b - a for a, b in itertools.pairwise(starts)]

    assert column_widths(broken) == column_widths(clean)  # the name's aside
    hollow = next(line for line in broken.outlines if line.startswith("hollow "))
    assert "FAILED TO LOAD" in hollow
    assert broken.outlines[-1].startswith(
        "FAILED TO LOAD: hollow: implementation 'hollow': optimizer must be"
    )


BROKEN_CONFTEST = """
from mynet import MyNet

class NoMethods:
    devices = ("cpu",)
    dtypes = ("float64",)
    depths = (0,)
    optimizer = "sgd"

def pytest_twolayer_register(registry):
    registry.add("mine", MyNet)
    registry.add("hollow", NoMethods)
    registry.add("numpy", MyNet)  # clashes with the built-in entry point
"""


def test_broken_and_duplicate_registrations_fail_alone(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=MYNET)
    pytester.makeconftest(BROKEN_CONFTEST)
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "twolayer", "--impl", "mine,hollow,numpy", "-rf")
    result.stdout.fnmatch_lines(
        [
            "*_ test_implementation_loads[[]hollow[]] _*",
            "implementation 'hollow': optimizer must be tl.SGD(...) or tl.Adam(...), got 'sgd'; "
            "has no method params(); * [[]register hook conftest:NoMethods[]]",
            "*_ test_implementation_loads[[]numpy[]] _*",
            "implementation 'numpy' is registered twice with different classes: entry point "
            "pytest_twolayer.implementations.numpy_net:NumpyNet; register hook mynet:MyNet",
        ]
    )
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 2
    assert outcomes["passed"] == SUITE_CHECKS  # every check of the healthy one


def test_user_python_files_cannot_hide_the_suite(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\npython_files = check_*.py\ntestpaths = nowhere\n")
    pytester.makepyfile(mynet=MYNET)
    result = pytester.runpytest("-p", "twolayer", "--impl", "mine=mynet:MyNet")
    result.assert_outcomes(passed=SUITE_CHECKS)


def test_header_names_implementations_devices_and_seed(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=MYNET)
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "mine=mynet:MyNet", "--twolayer-seed", "7", "--co"
    )
    result.stdout.fnmatch_lines(
        [
            "twolayer: implementations: mine (float64)",
            "twolayer: devices: cpu; seed: 7",
            "twolayer: numpy *, torch *, tensorflow *",
        ]
    )


def test_seed_from_ini(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ntwolayer_seed = 11\n")
    pytester.makepyfile(mynet=MYNET)
    result = pytester.runpytest("-p", "twolayer", "--impl", "mine=mynet:MyNet", "--co")
    result.stdout.fnmatch_lines(["twolayer: devices: cpu; seed: 11"])


def test_unknown_device_is_a_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy", "--device", "tpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --device: unknown device 'tpu'; choose from cpu, cuda"])


@pytest.mark.skipif(unavailable_reason("cuda") is None, reason="this machine has cuda")
def test_absent_cuda_asked_for_is_an_error(pytester: pytest.Pytester):
    result = pytester.runpytest("-p", "twolayer", "--impl", "tensor", "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --device cuda was asked for but cuda is not available*"])


@pytest.mark.skipif(unavailable_reason("cuda") is None, reason="this machine has cuda")
def test_absent_cuda_is_a_skip_with_reason_by_default(pytester: pytest.Pytester):
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "tensor", "-k", "params_canonical", "-rs"
    )
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]2[]] *: cuda: cuda is not available to torch on this machine"]
    )
