"""The worker plan on a host with several GPUs: one pinned worker per GPU, never two on one,
as many as the GPUs by default, and only the GPUs the user's ``CUDA_VISIBLE_DEVICES`` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_twolayer.host import probe
from pytest_twolayer.parallel import auto


def test_each_gpu_of_a_host_gets_one_pinned_worker():
    """Four GPUs, four workers: one GPU each; more workers than GPUs: the rest get none."""
    cores = list(range(8))
    gpus = ["0", "1", "2", "3"]
    plans = probe.plan_workers(4, cores, gpus)
    assert [p.gpu for p in plans] == gpus
    assert all(p.pinned for p in plans)
    assert sorted(c for p in plans for c in p.cores) == cores  # disjoint shares of the cores
    envs = [probe.worker_environment(p, {}, gpus_on_host=4) for p in plans]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == gpus
    crowded = probe.plan_workers(6, cores, gpus)
    assert [p.gpu for p in crowded] == [*gpus, None, None]  # never two on one GPU
    extra = probe.worker_environment(crowded[5], {}, gpus_on_host=4)
    assert extra["CUDA_VISIBLE_DEVICES"] == ""  # it sees no GPU at all


def test_the_default_run_starts_one_worker_per_gpu(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(auto, "visible_gpu_count", lambda: 4)
    config = pytester.parseconfig("-p", "twolayer", "--impl", "all")
    assert auto.decide(config, 16, implementations=9, chosen=True) == 4


def test_a_users_cuda_visible_devices_narrows_the_gpus(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(
        Path, "glob", lambda self, pattern: [Path(f"/dev/nvidia{i}") for i in range(4)]
    )
    assert probe.visible_gpus({}) == ["0", "1", "2", "3"]
    assert probe.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
