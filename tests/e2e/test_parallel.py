"""Runs under pytest-xdist: each implementation stays on one worker, workers import only the
frameworks they run, and benchmarks measured on workers reach one table, pytest-benchmark's
saved JSON and its comparison on the controller."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

RECORDER = """
import json, os, sys

import pytest


def pytest_runtest_logreport(report):
    props = dict(report.user_properties)
    if report.when == "call" and "twolayer.impl" in props:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
        with open(f"ran-{worker}.txt", "a") as f:
            f.write(props["twolayer.impl"] + "\\n")


def pytest_sessionfinish(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    frameworks = [m for m in ("torch", "tensorflow") if m in sys.modules]
    with open(f"imported-{worker}.json", "w") as f:
        json.dump(frameworks, f)
"""

SLOWNET = """
import os

from pytest_twolayer.implementations.numpy_net import NumpyNet


class SlowNet(NumpyNet):
    \"\"\"The numpy net, made SLOWDOWN times slower by repeating its gradient work.\"\"\"

    def step(self, x, y):
        for _ in range(int(os.environ.get("SLOWDOWN", "1")) - 1):
            self.gradients(x, y)
        return super().step(x, y)
"""


def test_each_implementation_runs_on_one_worker_which_imports_only_its_framework(
    pytester: pytest.Pytester,
):
    # A plugin, not a conftest: a conftest's test-level hooks only see tests under its folder.
    pytester.makepyfile(recorder=RECORDER)
    result = pytester.runpytest_subprocess(
        "-p", "recorder", "-p", "twolayer", "--impl", "numpy,tensor", "--device", "cpu", "-n", "2",
        "--benchmark-skip", "-p", "no:cacheprovider",
    )  # fmt: skip
    # the 2 benchmarks skipped; global_state_untouched is 7 tests (one per call) of each
    result.assert_outcomes(passed=74, skipped=2)
    ran = {
        path.stem.removeprefix("ran-"): set(path.read_text().split())
        for path in pytester.path.glob("ran-gw*.txt")
    }
    assert sorted(map(frozenset, ran.values()), key=sorted) == [{"numpy"}, {"tensor"}]
    for worker, impls in ran.items():
        imported = json.loads((pytester.path / f"imported-{worker}.json").read_text())
        assert imported == ([] if impls == {"numpy"} else ["torch"]), (worker, impls)
    # the workers described the implementations: the controller imported no framework
    assert json.loads((pytester.path / "imported-controller.json").read_text()) == []


def benchmark_args(*extra: str) -> list[str]:
    return [
        "-p", "twolayer", "--impl", "numpy,mine", "--device", "cpu", "-k", "benchmark_step",
        "-n", "2", "-p", "no:cacheprovider", "--twolayer-benchmark-steps", "60",
        "--benchmark-storage", "file://./store", *extra,
    ]  # fmt: skip


@pytest.fixture
def slow_pair(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(slownet=SLOWNET)
    pytester.makeconftest(
        "def pytest_twolayer_register(registry):\n    registry.add('mine', 'slownet:SlowNet')\n"
    )
    return pytester


def table_rows(text: str) -> dict[str, list[str]]:
    """The 'twolayer benchmarks' step table's rows, by implementation."""
    section = text.split("twolayer benchmarks", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = line.split()
        if len(cells) > 8 and cells[1] == "cpu":
            rows.setdefault(cells[0], cells)
    return rows


def test_workers_results_make_one_table_and_one_saved_json(slow_pair: pytest.Pytester):
    result = slow_pair.runpytest_subprocess(*benchmark_args("--benchmark-save", "base"))
    result.assert_outcomes(passed=2)
    text = result.stdout.str()
    assert text.count("twolayer benchmarks") == 1
    rows = table_rows(text)
    assert set(rows) == {"numpy", "mine"}
    for cells in rows.values():  # ms/step, GFLOP/s and % of peak are numbers
        assert float(cells[3]) > 0
        assert float(cells[5]) > 0
        assert re.fullmatch(r"\d+\.\d%", cells[6])
    assert text.count("benchmark: 2 tests") == 1  # pytest-benchmark's own table, merged
    saved = list((slow_pair.path / "store").rglob("*base.json"))
    assert len(saved) == 1  # the controller saved once, not each worker
    names = {b["name"] for b in json.loads(saved[0].read_text())["benchmarks"]}
    assert names == {
        "test_benchmark_step[numpy-cpu-float64]",
        "test_benchmark_step[mine-cpu-float64]",
    }


def test_a_ten_times_slower_implementation_trips_the_ratio_and_baseline_gates_only(
    slow_pair: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    # 5x: an equal pair reached 3.1x on a 2-core machine loaded ~4x over (the plugin's tests
    # in parallel beside other work); the ten times slower one stays twice above it.
    gates = ["--twolayer-max-ratio", "mine:numpy=5"]
    baseline = slow_pair.runpytest_subprocess(*benchmark_args(*gates, "--benchmark-save", "base"))
    baseline.assert_outcomes(passed=2)

    compare = ["--benchmark-compare", "0001", "--benchmark-compare-fail", "median:400%"]
    same = slow_pair.runpytest_subprocess(*benchmark_args(*gates, *compare))
    same.assert_outcomes(passed=2)
    assert same.ret == 0

    monkeypatch.setenv("SLOWDOWN", "10")
    # pytest-benchmark raises out of the terminal summary on a regression (its design): the
    # exit status is 1 and pytest's own summary line is cut, so outcomes come from the report.
    report = ["--twolayer-report-json", "report.json"]
    slow = slow_pair.runpytest_subprocess(*benchmark_args(*gates, *compare, *report))
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    checks = json.loads((slow_pair.path / "report.json").read_text())["checks"]
    outcomes = {(c["impl"], c["check"]): c["outcome"] for c in checks}
    assert outcomes == {("numpy", "benchmark_step"): "passed", ("mine", "benchmark_step"): "failed"}
    ratio_verdict = next(c["line"] for c in checks if c["outcome"] == "failed")
    assert re.fullmatch(
        r"\[benchmark_step\.ratio\] impl=mine device=cpu dtype=float64 seed=0: median step \S+ ms "
        r"is \S+x numpy's \S+ ms \(timed interleaved\), above the allowed 5x "
        r"\(--twolayer-max-ratio\)",
        ratio_verdict,
    ), ratio_verdict
    text = slow.stderr.str() + slow.stdout.str()
    assert "Performance has regressed" in text
    regressed = re.findall(
        r"test_benchmark_step\[(\w+)-cpu-float64\] \(0001_base\) - Field 'median'", text
    )
    assert regressed == ["mine"]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_pytest_benchmarks_json_carries_every_figure_the_ratio_included(
    slow_pair: pytest.Pytester, workers: str
):
    args = benchmark_args("--twolayer-max-ratio", "mine:numpy=100", "--benchmark-json", "b.json")
    args[args.index("-n") + 1] = workers
    slow_pair.runpytest_subprocess(*args).assert_outcomes(passed=2)
    extra = {
        b["name"]: b["extra_info"]
        for b in json.loads((slow_pair.path / "b.json").read_text())["benchmarks"]
    }
    mine = extra["test_benchmark_step[mine-cpu-float64]"]
    assert mine["reference"] == "numpy"
    assert mine["ratio"] > 0
    assert mine["max_ratio"] == 100
    assert mine["gflops"] > 0
    assert mine["peak_gflops"] > 0
    assert "ratio" not in extra["test_benchmark_step[numpy-cpu-float64]"]


def test_budget_gate_fails_only_the_implementation_over_it(slow_pair: pytest.Pytester):
    result = slow_pair.runpytest_subprocess(*benchmark_args("--twolayer-budget", "mine=0.001"))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*[[]benchmark_step.budget[]] impl=mine *: "
            "median step * ms exceeds the budget of 0.001 ms *"
        ]
    )


def test_gates_read_from_the_ini_file(slow_pair: pytest.Pytester):
    slow_pair.makeini(
        textwrap.dedent(
            """
            [pytest]
            twolayer_budget = mine=0.001
            """
        )
    )
    result = slow_pair.runpytest_subprocess(*benchmark_args())
    result.assert_outcomes(passed=1, failed=1)


def test_a_step_that_fails_midway_fails_the_benchmark_with_a_verdict(
    slow_pair: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    slow_pair.makepyfile(
        flaky="""
        from slownet import SlowNet


        class Flaky(SlowNet):
            calls = 0

            def step(self, x, y):
                Flaky.calls += 1
                if Flaky.calls > 100:
                    raise FloatingPointError("overflow in the update")
                return super().step(x, y)
        """
    )
    result = slow_pair.runpytest(
        "-p", "twolayer", "--impl", "numpy,flaky=flaky:Flaky", "--device", "cpu",
        "-k", "benchmark", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*[[]benchmark_step.steps[]] impl=flaky device=cpu dtype=float64 seed=0: "
            "step() #* raised "
            "FloatingPointError: overflow in the update"
        ]
    )


DEFAULT_RUN = (
    "-p",
    "twolayer",
    "--device",
    "cpu",
    "-p",
    "no:cacheprovider",
    "-k",
    "params_canonical",
)
PARALLEL_HEADER = (
    "twolayer: 2 xdist workers on 1 host (localhost: 2), one implementation per worker at a "
    "time (the default for --impl*"
)


def test_an_impl_run_is_parallel_by_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")  # this machine's cores may be 1
    result = pytester.runpytest_subprocess(*DEFAULT_RUN, "--impl", "numpy,tensor")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([PARALLEL_HEADER, "created: 2/2 workers"], consecutive=False)


@pytest.mark.parametrize(
    "args",
    [
        ("--impl", "numpy,tensor", "-n", "0"),  # the user's choice wins
        ("--impl", "numpy,tensor", "-s"),  # output wanted live
        ("--impl", "numpy,tensor", "-p", "no:xdist"),
        ("--impl", "numpy,tensor", "--pdb"),  # a debugger needs the terminal
        ("--impl", "numpy,tensor", "--collect-only"),
        ("--impl", "numpy"),  # one implementation: nothing to spread
    ],
    ids=["n0", "capture-no", "no-xdist", "pdb", "collect-only", "one-implementation"],
)
def test_some_runs_stay_in_one_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")
    result = pytester.runpytest_subprocess(*DEFAULT_RUN, *args)
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert "xdist workers" not in result.stdout.str()
    assert "created:" not in result.stdout.str()


def test_the_user_can_choose_the_worker_count(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")
    result = pytester.runpytest_subprocess(*DEFAULT_RUN, "--impl", "numpy,tensor", "-n", "1")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["created: 1/1 worker"])
    assert "the default for --impl" not in result.stdout.str()
