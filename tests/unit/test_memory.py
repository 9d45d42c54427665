"""Memory over the benchmark's run: the growth statistic ignores warm-up and transients and
sees a leak; the gate and its option; the host allocator's reading."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_twolayer.benchmarking import memory
from pytest_twolayer.benchmarking.gates import check_memory_growth, growth_limit
from pytest_twolayer.benchmarking.memory import DEFAULT_MAX_GROWTH, growth_per_step
from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.run.options import parse_memory_growth
from pytest_twolayer.zoo.numpy_bugs import NumpyBase

STEPS = 500
BASE = 100 * 2**20


def run_of(per_step: float = 0.0, warm_up: int = 0, spike_at: int | None = None) -> list[int]:
    """Samples of a made-up run: a base, a warm-up in the first steps, a steady growth, and a
    transient at one sample."""
    samples = [BASE + int(per_step * t) + (warm_up if t > 3 else 0) for t in range(STEPS + 1)]
    if spike_at is not None:
        samples[spike_at] += 10 * 2**20
    return samples


def test_a_flat_run_grows_by_nothing():
    assert growth_per_step(run_of()) == 0.0


def test_warm_up_allocations_do_not_count():
    assert growth_per_step(run_of(warm_up=50 * 2**20)) == 0.0


def test_a_transient_in_the_second_half_does_not_count():
    for at in (251, 300, 480, 500):
        assert growth_per_step(run_of(spike_at=at)) == 0.0, at


def test_a_leak_is_measured_per_step():
    assert growth_per_step(run_of(per_step=5120)) == pytest.approx(5120, rel=1e-3)
    assert growth_per_step(run_of(per_step=5120, warm_up=2**20, spike_at=400)) == pytest.approx(
        5120, rel=1e-3
    )


def test_a_leak_that_stops_in_the_first_half_levels_off():
    samples = [BASE + 4096 * min(t, 200) for t in range(STEPS + 1)]
    assert growth_per_step(samples) == 0.0


def test_very_short_runs_are_measured_but_not_judged():
    assert growth_per_step([BASE]) is None
    short = {"source": "host malloc", "steps": 60, "growth_bytes_per_step": 1e6}
    assert growth_limit({**short, "judged_by_default": True}, None) is None
    judged = {**short, "steps": 100, "judged_by_default": True}
    assert growth_limit(judged, None) == DEFAULT_MAX_GROWTH
    assert growth_limit(judged, 4096.0) == 4096.0
    assert growth_limit(judged, float("inf")) is None  # --twolayer-max-memory-growth off
    assert growth_limit({**judged, "judged_by_default": False}, None) is None  # RSS: coarse
    assert growth_limit({**judged, "judged_by_default": False}, 2048.0) == 2048.0


def test_the_gate_fails_with_the_figure():
    case = Case("leaky", NumpyBase, "cpu", "float64")
    source = {
        "source": "host malloc",
        "start_bytes": BASE,
        "peak_bytes": 5 * 2**20,
        "end_bytes": BASE + 5 * 2**20,
        "growth_bytes_per_step": 5234.0,
        "steps": STEPS,
        "judged_by_default": True,
    }
    check_memory_growth(case, [dict(source, growth_bytes_per_step=100.0)], None)
    with pytest.raises(ConformanceFailure) as verdict:
        check_memory_growth(case, [source], None)
    assert str(verdict.value).splitlines()[0] == (
        "[benchmark_step.memory] impl=leaky device=cpu dtype=float64 seed=0: memory does not level "
        "off: host malloc grows by 5.11 KiB per step over the second half of the run's 500 "
        "steps (from 100.0 MiB to 105.0 MiB over the run), above the allowed 1 KiB per step "
        "(--twolayer-max-memory-growth): does the net keep something of every step?"
    )
    check_memory_growth(case, [source], 8 * 1024.0)


@pytest.mark.parametrize(
    ("values", "limits"),
    [
        (["1"], {"*": 1024.0}),
        (["mine=4,numpy=0.5", "2"], {"mine": 4096.0, "numpy": 512.0, "*": 2048.0}),
        (["mine=off"], {"mine": float("inf")}),
        (["0"], {"*": 0.0}),
    ],
)
def test_the_option_reads_kib_per_step(values: list[str], limits: dict[str, float]):
    assert parse_memory_growth(values) == limits


@pytest.mark.parametrize("bad", ["mine=", "-1", "lots", "mine=inf", "=3"])
def test_a_bad_limit_names_itself(bad: str):
    with pytest.raises(ValueError, match=f"--twolayer-max-memory-growth: '{bad}' is not"):
        parse_memory_growth([bad])


def test_the_host_allocator_sees_an_array_at_once():
    if memory.sources("cpu")[0] is not memory.HOST_MALLOC:
        pytest.skip("no glibc mallinfo2 here: host memory is read from RSS")
    before = memory.malloc_in_use()
    kept = np.ones(2**20)  # 8 MiB
    grown = memory.malloc_in_use() - before
    del kept
    assert 8 * 2**20 <= grown < 8 * 2**20 + 2**16
    assert memory.malloc_in_use() - before < 2**16


def sampled_every(samples: list[int], every: int) -> list[int]:
    """The samples a sealed run keeps: one before each round of ``every`` steps, and the last."""
    return samples[::every]


@pytest.mark.parametrize("every", [5, 20])
def test_samples_between_rounds_see_the_same_growth(every: int):
    assert growth_per_step(sampled_every(run_of(), every), every) == 0.0
    assert growth_per_step(sampled_every(run_of(warm_up=50 * 2**20), every), every) == 0.0
    leak = sampled_every(run_of(per_step=5120, warm_up=2**20), every)
    assert growth_per_step(leak, every) == pytest.approx(5120, rel=1e-3)


def test_one_transient_sample_between_rounds_does_not_count():
    """26 samples (the tutorial's run in rounds of 20): a median of one sample at either end
    would take the transient for the run's end."""
    for at in (13, 20, 25):
        samples = sampled_every(run_of(), 20)
        samples[at] += 10 * 2**20
        assert growth_per_step(samples, 20) == 0.0, at


def test_a_meter_sampling_between_rounds_counts_the_steps():
    meter = memory.MemoryMeter("cpu", reading=lambda: [BASE], every=20)
    for _ in range(26):
        meter.sample()
    [figures] = meter.figures()
    assert figures["steps"] == 500
    assert figures["growth_bytes_per_step"] == 0.0
