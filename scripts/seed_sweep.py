"""Sweep the suite over many seeds: false failures, and the margins of the training and
memory thresholds.

By default, for each implementation and seed, run the tutorial's run as the benchmark does
(a warm-up instance, then a fresh one, garbage collection paused, memory sampled before every
step) and judge its curve as ``conformance/test_training.py`` does; record the largest
post-burn-in rise (plain descent), the worst later window (trend), the end/first ratio, and
the memory growth per step over the second half; then report the worst of each against the
thresholds in force. With ``--checks all`` it instead runs every other check of the suite on
every seed, in the dtypes the suite runs it in, each judged as the plugin judges it (also for
process-global state left changed), and counts the failures (for correct implementations:
false failures).

    python scripts/seed_sweep.py --seeds 200 [--impl numpy,tensor] [--json out.json]
    python scripts/seed_sweep.py --seeds 200 --checks all
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from pytest_twolayer.conformance import test_training as training

from pytest_twolayer.benchmarking.measure import (
    WARMUP_STEPS,
    Prepared,
    paused_garbage_collection,
)
from pytest_twolayer.benchmarking.memory import DEFAULT_MAX_GROWTH, MemoryMeter
from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.checking.tutorial_run import STEPS
from pytest_twolayer.host import framework_logs
from pytest_twolayer.hygiene.state import left_as_found
from pytest_twolayer.run.registry import Registry, installed_entry_points


def curve_statistics(losses: list[float]) -> dict[str, float]:
    """The numbers each training threshold is compared with, for one curve."""
    curve = np.asarray(losses)
    first, burn_in, window = curve[0], training.BURN_IN, training.WINDOW
    after, before = curve[burn_in + 1 :], curve[burn_in:-1]
    relative_rise = after / before - 1.0
    counted = after > training.ROUNDING_FLOOR * first
    rose = relative_rise > 0
    medians = [float(np.median(curve[i : i + window])) for i in range(0, len(curve), window)]
    return {
        "max_rise_above_floor": float(relative_rise[counted].max()) if counted.any() else 0.0,
        "highest_rise_level": float(after[rose].max() / first) if rose.any() else 0.0,
        "max_window_over_first": max(medians[1:]) / medians[0],
        "log_slope": float(np.polyfit(np.arange(len(curve)), np.log(curve), 1)[0]),
        "end_over_first": float(curve[-1] / first),
        "last_window_median_over_first": float(np.median(curve[-window:]) / first),
    }


def tutorial_run(case: Case) -> tuple[list[float], dict]:
    """The benchmark's run without its timer: its loss curve and its host memory figures."""
    warm = Prepared(case, "benchmark_step.steps")
    for _ in range(WARMUP_STEPS):
        warm.step()
    net = Prepared(case, "benchmark_step.steps")
    meter = MemoryMeter(case.device)
    with paused_garbage_collection():
        for _ in range(STEPS):
            meter.sample()
            net.step()
        meter.sample()
    return net.losses, meter.figures()[0]


def suite_tests() -> list[tuple[str, object, bool]]:
    """Every test function of the suite that takes a case: (name, function, training dtype only)."""
    import importlib
    import inspect

    tests = []
    for concern in ("contract", "shapes", "gradients", "update", "hygiene"):
        module = importlib.import_module(f"pytest_twolayer.conformance.test_{concern}")
        module_marks = getattr(module, "pytestmark", [])
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if (
                not name.startswith("test_")
                or "twolayer_case" not in inspect.signature(fn).parameters
            ):
                continue
            marks = [*module_marks, *getattr(fn, "pytestmark", [])]
            training_only = any(
                m.name == "twolayer_dtypes" and m.args == ("training",) for m in marks
            )
            tests.append((name, fn, training_only))
    return tests


def sweep_all_checks(registry: Registry, names: list[str], seeds: range) -> int:
    """Run every non-training check on every seed; print failures; return their count."""
    tests = suite_tests()
    failures = 0
    for name in names:
        cls = registry.get(name).load()
        start, count = time.perf_counter(), 0
        for seed in seeds:
            for test_name, test, training_only in tests:
                for dtype in cls.dtypes[:1] if training_only else cls.dtypes:
                    count += 1
                    try:
                        left_as_found(test, Case(name, cls, "cpu", dtype, seed))  # type: ignore[arg-type]
                    except ConformanceFailure as failure:
                        failures += 1
                        print(f"    {test_name}: {str(failure).splitlines()[0]}", flush=True)
        print(
            f"{name:10s} {len(seeds)} seeds, {count} check runs, "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
    print(f"{failures} failures in all")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--impl", default="all")
    parser.add_argument("--json", help="write every curve's statistics here")
    parser.add_argument(
        "--checks",
        choices=("training", "all"),
        default="training",
        help="sweep the training check's thresholds (default) or run every other check",
    )
    args = parser.parse_args()
    framework_logs.quiet_by_default()  # as a run of the plugin: no framework start-up lines
    registry = Registry()
    registry.add_entry_points(installed_entry_points())
    names = registry.names() if args.impl == "all" else args.impl.split(",")
    if args.checks == "all":
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        sys.exit(1 if sweep_all_checks(registry, names, seeds) else 0)
    records = []
    total_failures = 0
    for name in names:
        cls = registry.get(name).load()
        failures, stats, start = [], [], time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            case = Case(name, cls, "cpu", cls.dtypes[0], seed)
            try:
                losses, memory = tutorial_run(case)
                training.judge_curve(case, "training", losses)
            except ConformanceFailure as failure:
                failures.append(str(failure).splitlines()[0])
                continue
            growth = memory["growth_bytes_per_step"]
            if memory["judged_by_default"] and growth > DEFAULT_MAX_GROWTH:
                failures.append(f"seed {seed}: {memory['source']} grows by {growth:.0f} B/step")
            stat = {
                **curve_statistics(losses),
                "memory_growth_bytes_per_step": growth,
                "memory_peak_bytes": memory["peak_bytes"],
            }
            stats.append(stat)
            records.append({"impl": name, "seed": seed, **stat})
        total_failures += len(failures)
        worst = {k: max(s[k] for s in stats) for k in stats[0]} if stats else {}
        print(
            f"{name:10s} {args.seeds} seeds, {len(failures)} failures, "
            f"{time.perf_counter() - start:.0f} s; worst: "
            + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()),
            flush=True,
        )
        for failure in failures:
            print(f"    {failure}")
    print(
        f"thresholds: burn-in {training.BURN_IN}, rise {training.RISE_TOLERANCE} above "
        f"{training.ROUNDING_FLOOR:g} x first, "
        f"window {training.WINDOW} <= {training.TREND_CEILING} x first window, fixed-depth end "
        f"{training.FIXED_DEPTH_END}, dynamic end {training.DYNAMIC_END}; memory growth "
        f"{DEFAULT_MAX_GROWTH:g} B/step"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(records, out, indent=1)
    sys.exit(1 if total_failures else 0)


if __name__ == "__main__":
    main()
