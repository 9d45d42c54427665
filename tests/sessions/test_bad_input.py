"""Bad input: every way an implementation can misbehave is a one-line verdict naming it, and
the other implementation's results stay complete.

Each test registers a small broken class (most are subclasses of the README's ``MyNet``)
beside ``MyNet`` itself, through a ``conftest.py`` hook as a user registers, runs only the
checks that meet the breakage (``-k``), and asserts the exact verdict line and that ``MyNet``
passed every check that ran. The crash runs in a subprocess under ``-n 2``.
"""

from __future__ import annotations

import bdb
import importlib.metadata
import re
import signal
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_twolayer.checking.hints import hint_for
from pytest_twolayer.outcomes.timeouts import TimeLimitExceeded, alarm
from pytest_twolayer.run.registry import ENTRY_POINT_GROUP
from tests.support.readme import example_files, suite_check_count

MYNET = example_files()["mynet.py"]
SUITE_CHECKS = suite_check_count()  # what a cpu, float64-only net runs
WHERE = "impl=broken device=cpu dtype=float64 seed=0"


def reproduce(test: str, *options: str) -> str:
    """The line that reruns ``broken``'s failing ``test`` alone (with the run's ``options``
    that change its verdict)."""
    where = " ".join(["--impl broken --device cpu --twolayer-seed 0", *options])
    return f"  reproduce: pytest -p twolayer {where} -k '{test}[broken-cpu-float64]'"


TUTORIAL = "tutorial dims Dims(N=64, D_in=1000, H=100, D_out=10), standard-normal x"

CONFTEST = """
from broken import Broken
from mynet import MyNet


def pytest_twolayer_register(registry):
    registry.add("mine", MyNet)
    registry.add("broken", Broken)
"""

BROKEN_HEADER = """
import os
import time

import numpy as np

import pytest_twolayer as tl
from mynet import MyNet

"""


def exact(line: str) -> str:
    """An fnmatch pattern that matches ``line`` and nothing else."""
    return re.sub(r"([\[\]*?])", r"[\1]", line)


def register(pytester: pytest.Pytester, broken: str) -> None:
    """``mynet.py`` from the README, ``broken.py`` defining ``Broken``, both registered."""
    pytester.makepyfile(mynet=MYNET, broken=BROKEN_HEADER + textwrap.dedent(broken))
    pytester.makeconftest(CONFTEST)
    pytester.syspathinsert()


def run(pytester: pytest.Pytester, checks: str, *args: str) -> pytest.RunResult:
    """The suite on ``mine`` and ``broken``, only the checks matching ``checks``."""
    return pytester.runpytest("-p", "twolayer", "--impl", "mine,broken", "-rA", "-k", checks, *args)


SUMMARY = re.compile(r"^(?P<outcome>[A-Z]+) \S*::(?P<check>test_\w+)\[(?P<param>[^\]]+)\]")


def outcomes(result: pytest.RunResult) -> dict[str, dict[str, str]]:
    """``{implementation: {check: PASSED/FAILED/...}}`` from the ``-rA`` summary."""
    table: dict[str, dict[str, str]] = {}
    for line in result.outlines:
        match = SUMMARY.match(line)
        if match:
            # global_state_untouched's ids end in the call it watches: -cpu-float64-step
            impl, _, call = match["param"].partition("-cpu-float64")
            check = match["check"] + (f"[{call.removeprefix('-')}]" if call else "")
            table.setdefault(impl, {})[check] = match["outcome"]
    return table


def assert_only_broken_failed(result: pytest.RunResult, failed: set[str], ran: set[str]) -> None:
    """``broken`` failed exactly ``failed`` and passed the rest of ``ran``; ``mine`` passed
    every check in ``ran``."""
    table = outcomes(result)
    assert table.get("mine") == dict.fromkeys(ran, "PASSED"), table
    expected = {check: "FAILED" if check in failed else "PASSED" for check in ran}
    assert table.get("broken") == expected, table


# --- registration: the class never gets a case; only its test_implementation_loads fails ---


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **entries: str) -> None:
    """Installed ``twolayer.implementations`` entry points are exactly ``entries``."""
    real = importlib.metadata.entry_points

    def entry_points(**params: Any) -> Any:
        if params.get("group") != ENTRY_POINT_GROUP:
            return real(**params)
        return importlib.metadata.EntryPoints(
            importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP)
            for name, value in entries.items()
        )

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_entry_point_that_fails_to_import(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    pytester.makepyfile(
        mynet=MYNET,
        brokenpkg="import numpy as np\nimport no_such_dependency\n\nclass Net: ...\n",
    )
    pytester.makeconftest(
        "from mynet import MyNet\n\n"
        "def pytest_twolayer_register(registry):\n"
        "    registry.add('mine', MyNet)\n"
    )
    pytester.syspathinsert()
    fake_entry_points(monkeypatch, broken="brokenpkg:Net")
    result = run(pytester, "implementation_loads or params_canonical")
    result.stdout.fnmatch_lines(
        [
            "twolayer: implementations: mine (float64), broken (BROKEN)",
            exact(
                "implementation 'broken' (entry point brokenpkg:Net) failed to load: "
                "ModuleNotFoundError: No module named 'no_such_dependency'"
            ),
        ]
    )
    table = outcomes(result)
    assert table["broken"] == {"test_implementation_loads": "FAILED"}
    assert table["mine"] == dict.fromkeys(
        ["test_implementation_loads", "test_params_canonical"], "PASSED"
    )


def test_duplicate_name_from_entry_point_and_hook(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    register(pytester, "class Broken(MyNet):\n    pass\n")
    fake_entry_points(monkeypatch, broken="mynet:MyNet")
    result = run(pytester, "implementation_loads or params_canonical")
    result.stdout.fnmatch_lines(
        [
            exact(
                "implementation 'broken' is registered twice with different classes: "
                "entry point mynet:MyNet; register hook broken:Broken"
            )
        ]
    )
    table = outcomes(result)
    assert table["broken"] == {"test_implementation_loads": "FAILED"}
    assert table["mine"] == dict.fromkeys(
        ["test_implementation_loads", "test_params_canonical"], "PASSED"
    )


MISSING_MEMBERS = """
class Broken:  # declares where it runs, forgets the rest of the contract
    devices = ("cpu",)
    dtypes = ("float64",)

    def forward(self, x):
        return x
"""

INVALID_DECLARATIONS = {
    "unknown-device": (
        'devices = ("cpu", "tpu")',
        "devices has unknown ['tpu']; known: cpu, cuda",
    ),
    "unknown-dtype": (
        'dtypes = ("float16",)',
        "dtypes has unknown ['float16']; known: float32, float64",
    ),
    "optimizer-not-sgd-or-adam": (
        'optimizer = "sgd"',
        "optimizer must be tl.SGD(...) or tl.Adam(...), got 'sgd'",
    ),
}


@pytest.mark.parametrize(
    ("source", "problems"),
    [
        pytest.param(
            MISSING_MEMBERS,
            "has no class attribute 'optimizer'; has no class attribute 'depths'; "
            "has no method params(); has no method load(); has no method to_device(); "
            "has no method gradients(); has no method step()",
            id="missing-members",
        ),
        *(
            pytest.param(f"class Broken(MyNet):\n    {line}\n", problem, id=kind)
            for kind, (line, problem) in INVALID_DECLARATIONS.items()
        ),
    ],
)
def test_class_that_breaks_the_contract(pytester: pytest.Pytester, source: str, problems: str):
    register(pytester, source)
    result = run(pytester, "implementation_loads or params_canonical")
    result.stdout.fnmatch_lines(
        [exact(f"implementation 'broken': {problems} [register hook broken:Broken]")]
    )
    table = outcomes(result)
    assert table["broken"] == {"test_implementation_loads": "FAILED"}
    assert table["mine"] == dict.fromkeys(
        ["test_implementation_loads", "test_params_canonical"], "PASSED"
    )


# --- values: the check that meets the bad value fails with the suite's verdict ---


@dataclass(frozen=True)
class BadValue:
    """A broken ``MyNet`` subclass body, the check that meets it, and its verdict."""

    body: str
    check: str  # the test function
    verdict: str  # after "[label] impl=broken device=cpu dtype=float64 seed=0: "


def forward_returning(expression: str) -> str:
    return f"def forward(self, x):\n    y_pred = super().forward(x)\n    return {expression}\n"


def gradients_with(statement: str) -> str:
    return (
        "def gradients(self, x, y):\n"
        "    loss, grads = super().gradients(x, y)\n"
        f"    {statement}\n"
        "    return loss, grads\n"
    )


def step_returning(expression: str) -> str:
    return f"def step(self, x, y):\n    super().step(x, y)\n    return {expression}\n"


def raising_in(signature: str) -> str:
    # A multi-line message: the verdict keeps its first line.
    return (
        f"def {signature}:\n"
        '    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\\n(details)")\n'
    )


RAISED = "raised RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"

BAD_VALUES = {
    "forward-returns-list": BadValue(
        forward_returning("y_pred.tolist()"),
        "test_forward_shapes",
        f"[forward_shapes] {WHERE}: forward(x) at {TUTORIAL} returned list, "
        "expected a numpy.ndarray",
    ),
    "forward-wrong-shape": BadValue(
        forward_returning("y_pred.T"),
        "test_forward_shapes",
        f"[forward_shapes] {WHERE}: forward(x) at {TUTORIAL} has shape (10, 64), expected (64, 10)",
    ),
    "forward-wrong-dtype": BadValue(
        forward_returning("y_pred.astype(np.float32)"),
        "test_forward_shapes",
        f"[forward_shapes] {WHERE}: forward(x) at {TUTORIAL} has dtype float32, expected float64",
    ),
    "forward-nan": BadValue(
        forward_returning("y_pred * np.nan"),
        "test_forward_shapes",
        f"[forward_shapes] {WHERE}: forward(x) at {TUTORIAL} has 640 NaN or inf of 640 values",
    ),
    "forward-inf": BadValue(
        forward_returning("np.where(np.arange(10) == 3, np.inf, y_pred)"),
        "test_forward_shapes",
        f"[forward_shapes] {WHERE}: forward(x) at {TUTORIAL} has 64 NaN or inf of 640 values",
    ),
    "gradients-missing-key": BadValue(
        gradients_with('del grads["b2"]'),
        "test_gradients_match_reference",
        f"[gradients_match_reference] {WHERE}: gradients() keys ['b1', 'w1', 'w2'] differ from "
        "params() names ['b1', 'b2', 'w1', 'w2']",
    ),
    "gradients-extra-key": BadValue(
        gradients_with('grads["w3"] = np.zeros((2, 2))'),
        "test_gradients_match_reference",
        f"[gradients_match_reference] {WHERE}: gradients() keys ['b1', 'b2', 'w1', 'w2', 'w3'] "
        "differ from params() names ['b1', 'b2', 'w1', 'w2']",
    ),
    "gradients-mis-shaped": BadValue(
        gradients_with('grads["w1"] = grads["w1"].T'),
        "test_gradients_match_reference",
        f"[gradients_match_reference] {WHERE}: "
        "gradient w1 has shape (100, 1000), expected (1000, 100)",
    ),
    "step-returns-array": BadValue(
        step_returning("np.zeros(2)"),
        "test_update_follows_rule",
        f"[update_follows_rule] {WHERE}: "
        "step() #1 returned ndarray array([0., 0.]), expected a float",
    ),
    "step-returns-string": BadValue(
        step_returning('"low"'),
        "test_update_follows_rule",
        f"[update_follows_rule] {WHERE}: step() #1 returned str 'low', expected a float",
    ),
    "init-raises": BadValue(
        raising_in("__init__(self, dims, *, device, dtype, seed)"),
        "test_params_canonical",
        f"[params_canonical] {WHERE}: __init__ {RAISED}",
    ),
    "params-raises": BadValue(
        raising_in("params(self)"),
        "test_params_canonical",
        f"[params_canonical] {WHERE}: params() {RAISED}",
    ),
    "load-raises": BadValue(
        raising_in("load(self, params)"),
        "test_load_round_trips",
        f"[load_round_trips] {WHERE}: load(params) {RAISED}",
    ),
    "to-device-raises": BadValue(
        raising_in("to_device(self, a)"),
        "test_same_seed_reproduces",
        f"[same_seed_reproduces] {WHERE}: to_device(x) {RAISED}",
    ),
    "forward-raises": BadValue(
        raising_in("forward(self, x)"),
        "test_forward_shapes",
        f"[forward_shapes] {WHERE}: forward(x) at {TUTORIAL} {RAISED}",
    ),
    "gradients-raises": BadValue(
        raising_in("gradients(self, x, y)"),
        "test_gradients_match_reference",
        f"[gradients_match_reference] {WHERE}: gradients(x, y) {RAISED}",
    ),
    "step-raises": BadValue(
        raising_in("step(self, x, y)"),
        "test_update_follows_rule",
        f"[update_follows_rule] {WHERE}: step() before load() {RAISED}",
    ),
}


@pytest.mark.parametrize("bad", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_value_is_a_verdict(pytester: pytest.Pytester, bad: BadValue):
    register(pytester, "class Broken(MyNet):\n" + textwrap.indent(bad.body, "    "))
    result = run(pytester, f"implementation_loads or {bad.check}")
    hint = exact(f"  hint: {hint_for(bad.verdict[1 : bad.verdict.index(']')], bad.verdict)}")
    result.stdout.fnmatch_lines(
        [exact(bad.verdict), hint, exact(reproduce(bad.check))], consecutive=True
    )
    assert_only_broken_failed(result, {bad.check}, {"test_implementation_loads", bad.check})


# --- hangs: the per-check time limit ---

HANGS = {
    "sleeps": "def step(self, x, y):\n    time.sleep(3600)\n",
    "spins": (
        "def step(self, x, y):\n"
        "    while True:\n"
        "        try:\n"
        "            pass\n"
        "        except Exception:  # cannot swallow the time limit\n"
        "            pass\n"
    ),
}


@pytest.mark.parametrize(
    ("hang", "configured"), [("sleeps", "option"), ("spins", "ini")], ids=["sleeps", "spins"]
)
def test_hung_implementation_fails_within_its_limit(
    pytester: pytest.Pytester, hang: str, configured: str
):
    """A sleeping step (limit from the option) and a spinning one that catches every
    ``Exception`` (limit from the ini file) both fail their check at the limit."""
    register(pytester, "class Broken(MyNet):\n" + textwrap.indent(HANGS[hang], "    "))
    if configured == "ini":
        pytester.makeini("[pytest]\ntwolayer_timeout = 2\n")
    limit = ("--twolayer-timeout", "2") if configured == "option" else ()
    start = time.monotonic()
    result = run(pytester, "implementation_loads or update_follows_rule", *limit)
    assert time.monotonic() - start < 30
    result.stdout.fnmatch_lines(
        [
            "twolayer: per-check time limit: 2 s (--twolayer-timeout)",
            exact(
                f"[update_follows_rule] {WHERE}: exceeded the per-check time limit of 2 s "
                "(--twolayer-timeout)"
            ),
            "  hint: a call did not return in time: *",
            exact(reproduce("test_update_follows_rule", "--twolayer-timeout 2")),
        ]
    )
    assert_only_broken_failed(
        result,
        {"test_update_follows_rule"},
        {"test_implementation_loads", "test_update_follows_rule"},
    )


def test_time_limit_covers_own_tests_with_the_fixtures(pytester: pytest.Pytester):
    pytester.makepyfile(
        mynet=MYNET,
        test_mine="import time\n\ndef test_waits(impl):\n    time.sleep(3600)\n",
    )
    result = pytester.runpytest(
        "-p",
        "twolayer",
        "--impl",
        "mine=mynet:MyNet",
        "--twolayer-no-suite",
        "--twolayer-timeout",
        "0.5",
        "test_mine.py",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "[[]test_waits[]] impl=mine device=cpu dtype=float64 seed=0: exceeded the per-check "
            "time limit of 0.5 s (--twolayer-timeout)"
        ]
    )


def test_time_limit_off(pytester: pytest.Pytester):
    pytester.makepyfile(mynet=MYNET)
    result = pytester.runpytest(
        "-p", "twolayer", "--impl", "mine=mynet:MyNet", "--twolayer-timeout", "0", "--co"
    )
    result.stdout.fnmatch_lines(["twolayer: per-check time limit: off (--twolayer-timeout 0)"])


@pytest.mark.parametrize("value", ["-1", "soon", "inf"])
def test_bad_time_limit_is_a_usage_error(pytester: pytest.Pytester, value: str):
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy", "--twolayer-timeout", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --twolayer-timeout: '{value}' *"])


def test_alarm_disarms_and_restores_the_previous_handler():
    def previous(signum: int, frame: object) -> None:
        raise AssertionError("the previous handler must not run")

    handlers: list[Callable[..., Any] | int | None] = []
    old = signal.signal(signal.SIGALRM, previous)
    try:
        with alarm(60):
            handlers.append(signal.getsignal(signal.SIGALRM))
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) is previous
        assert handlers[0] is not previous
    finally:
        signal.signal(signal.SIGALRM, old)


def test_alarm_interrupts_a_sleep():
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded), alarm(0.05):
        time.sleep(5)
    assert time.monotonic() - start < 1


def test_alarm_waits_while_a_debugger_steps(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "gettrace", lambda: bdb.Bdb().trace_dispatch)
    with alarm(0.05):
        time.sleep(0.2)  # at the debugger's prompt: the limit expires, and waits


# --- crashes: under -n the crash fails that check and the run goes on ---

CRASHES = "class Broken(MyNet):\n    def step(self, x, y):\n        os.abort()\n"
STEPPING_CHECKS = {
    "test_return_types",
    "test_update_follows_rule",
    "test_training",
    "test_same_seed_reproduces",
    "test_instances_share_no_state",
    "test_inputs_not_mutated",
    "test_benchmark_step",
    "test_global_state_untouched[step]",
    "test_returns_belong_to_caller",
}


@pytest.mark.slow
def test_crash_under_xdist_fails_only_its_checks(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    register(pytester, CRASHES)
    # One BLAS thread per worker: two oversubscribed pools on a small machine are ~10x slower.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "mine,broken", "-n", "2", "-rA", "-p", "no:cacheprovider",
        "--twolayer-isolation", "none",
    )  # fmt: skip
    for check in sorted(STEPPING_CHECKS):
        name, _, call = check.partition("[")
        suffix = f"-{call.rstrip(']')}" if call else ""
        test = f"{name}[[]broken-cpu-float64{suffix}[]]"
        result.stdout.fnmatch_lines([f"worker 'gw*' crashed while running '*::{test}'"])
    table = outcomes(result)
    assert len(table["mine"]) == SUITE_CHECKS
    assert set(table["mine"].values()) == {"PASSED"}, table["mine"]
    assert table["broken"] == {
        check: "FAILED" if check in STEPPING_CHECKS else "PASSED" for check in table["mine"]
    }
    assert "maximum crashed workers" not in result.stdout.str()


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "2"])
def test_sealed_a_crash_fails_only_its_checks_naming_the_call(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str
):
    """By default the abort ends the implementation's host, not a worker or pytest: each check
    that steps fails naming the call and the signal, and every other verdict is kept."""
    register(pytester, CRASHES)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    result = pytester.runpytest_subprocess(
        "-p", "twolayer", "--impl", "mine,broken", "-n", workers, "-rA", "-p", "no:cacheprovider"
    )  # fmt: skip
    assert "crashed while running" not in result.stdout.str()
    table = outcomes(result)
    assert len(table["mine"]) == SUITE_CHECKS
    assert set(table["mine"].values()) == {"PASSED"}, table["mine"]
    assert table["broken"] == {
        check: "FAILED" if check in STEPPING_CHECKS else "PASSED" for check in table["mine"]
    }
    result.stdout.fnmatch_lines(
        ["*[[]update_follows_rule[]] impl=broken *: step() * raised HostEnded: the "
         "implementation's process was killed by SIGABRT during step()*"]
    )  # fmt: skip
