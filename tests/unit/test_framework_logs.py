"""Frameworks' start-up logs told from other lines and filtered by the level the user set
(``TF_CPP_MIN_LOG_LEVEL``); and TensorFlow's cuda skip says what TensorFlow sees, not what
torch does. tests/e2e/test_framework_logs.py runs the suite with them."""

from __future__ import annotations

import os
import sys
import types

import pytest

from pytest_twolayer.host import machine
from pytest_twolayer.host.framework_logs import (
    LEVEL_VARIABLE,
    QUIET,
    filtered_stderr,
    kept,
    quiet_by_default,
    severity,
)
from pytest_twolayer.run.collection import case_params
from pytest_twolayer.run.registry import Spec
from pytest_twolayer.run.selection import Declared, Loaded, Selection
from pytest_twolayer.zoo.numpy_bugs import NumpyControl

ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
INFO = "I0000 00:00:1796188644.827653   18438 cudart_stub.cc:31] Could not find cuda drivers"
ERROR = "E0000 00:00:1796188654.479600   18438 cuda_platform.cc:52] failed call to cuInit: x"
OLD_INFO = "2025-09-17 14:44:05.157831: I external/xla/cudart_stub.cc:32] Could not find cuda"


def test_log_lines_are_told_from_other_lines():
    assert [severity(line) for line in (INFO, ABSL, ERROR, OLD_INFO)] == [0, 1, 2, 0]
    for other in ("Traceback (most recent call last):", "I0 not a log line", "E   assert 1"):
        assert severity(other) is None


def test_lines_below_the_level_are_dropped_and_nothing_else():
    text = f"{ABSL}\n{INFO}\nmine\n{ERROR}\n"
    assert kept(text, 3) == "mine\n"
    assert kept(text, 2) == f"mine\n{ERROR}\n"
    assert kept(text, 0) == text


def test_the_level_is_set_unless_the_user_set_it():
    environ: dict[str, str] = {}
    undo = quiet_by_default(environ)
    assert environ == {LEVEL_VARIABLE: QUIET}
    undo()
    assert environ == {}
    users = {LEVEL_VARIABLE: "0"}
    quiet_by_default(users)()
    assert users == {LEVEL_VARIABLE: "0"}


def test_what_cpp_writes_to_stderr_is_filtered_by_the_level(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(LEVEL_VARIABLE, "3")
    with filtered_stderr():
        os.write(2, f"{ABSL}\n{INFO}\nkept\n".encode())
    monkeypatch.setenv(LEVEL_VARIABLE, "0")
    with filtered_stderr():
        os.write(2, f"{INFO}\n".encode())
    assert capfd.readouterr().err == f"kept\n{INFO}\n"


def selection(skip_reasons: dict[str, str | None]) -> Selection:
    declared = Declared(("cpu", "cuda"), ("float64",), skip_reasons)
    loaded = Loaded(Spec("mine", "mine:Mine", "register hook", lambda: None), declared)
    return Selection([loaded], {"cpu": None, "cuda": "cuda is not available to torch"}, 0)


def test_an_implementations_own_cuda_reason_comes_first():
    own = case_params(selection({"cuda": "tensorflow sees no GPU on this machine"}), "all")
    machine_wide = case_params(selection({"cuda": None}), "all")
    reasons = [[m.kwargs["reason"] for m in p.marks] for p in (*own, *machine_wide)]
    assert reasons == [
        [],
        ["cuda: tensorflow sees no GPU on this machine"],
        [],
        ["cuda: cuda is not available to torch"],
    ]


def test_an_implementations_frameworks_say_why_cuda_is_out(monkeypatch: pytest.MonkeyPatch):
    """A net whose module imports TensorFlow (and declares no ``skip_reason``) is told what
    TensorFlow sees; a numpy net has no framework to ask."""
    module = types.ModuleType("tf_user")
    module.tensorflow = types.ModuleType("tensorflow")  # type: ignore[attr-defined]
    net = type("TfUser", (NumpyControl,), {"__module__": "tf_user", "devices": ("cpu", "cuda")})
    monkeypatch.setitem(sys.modules, "tf_user", module)
    monkeypatch.setitem(machine.CUDA_REASONS, "tensorflow", lambda: "tensorflow sees no GPU")
    machine.framework_cuda_reason.cache_clear()
    try:
        assert Declared.of(net).skip_reasons == {"cpu": None, "cuda": "tensorflow sees no GPU"}
    finally:
        machine.framework_cuda_reason.cache_clear()
