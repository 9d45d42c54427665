"""What a parallel run is given before it starts: the default worker count (one per core,
never two on one GPU), and bad benchmark gates as one-line usage errors."""

from __future__ import annotations

import pytest

from pytest_twolayer.parallel import auto


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--twolayer-budget",
            "mine=fast",
            "--twolayer-budget: 'mine=fast' is not [[]IMPL=[]]MILLISECONDS*",
        ),
        (
            "--twolayer-max-ratio",
            "mine=2",
            "--twolayer-max-ratio: 'mine=2' is not IMPL:REF=X*",
        ),
        (
            "--twolayer-max-ratio",
            "mine:nope=2",
            "--twolayer-max-ratio mine:nope: unknown reference 'nope'*",
        ),
        ("--twolayer-benchmark-steps", "-1", "--twolayer-benchmark-steps: '-1' is not a positive*"),
    ],
)
def test_bad_gate_options_are_one_line_usage_errors(
    pytester: pytest.Pytester, option: str, value: str, message: str
):
    result = pytester.runpytest("-p", "twolayer", "--impl", "numpy", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


@pytest.mark.parametrize(
    ("gpus", "devices", "expected"),
    [
        (0, (), 8),  # one worker per core, at most one per implementation
        (1, (), 0),  # one GPU: cuda benchmarks must not share it, so one process
        (2, (), 2),  # one worker per GPU
        (1, ("--device", "cpu"), 8),  # cuda left out: the GPUs do not matter
        (1, ("--device", "cpu,cuda"), 0),
    ],
)
def test_workers_default_to_cores_but_never_share_a_gpu(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    gpus: int,
    devices: tuple[str, ...],
    expected: int,
):
    monkeypatch.setattr(auto, "visible_gpu_count", lambda: gpus)
    config = pytester.parseconfig("-p", "twolayer", "--impl", "all", *devices)
    assert auto.decide(config, 12, implementations=8, chosen=True) == expected
