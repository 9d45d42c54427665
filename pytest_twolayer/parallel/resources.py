"""What each xdist worker may use: its cores, its thread pools' size, its GPU.

Two workers on two cores that each start a 2-thread OpenBLAS, torch and TensorFlow pool
run four busy threads on two cores; the spinning threads then cost more than the second
worker gains. Each worker therefore gets a disjoint share of the cores, pools of that
size (set in its environment before it imports anything) and, with several GPUs, one GPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",  # torch's intra-op pool and OpenMP builds of BLAS
    "OPENBLAS_NUM_THREADS",  # numpy's OpenBLAS
    "MKL_NUM_THREADS",  # numpy/torch built against MKL
    "TF_NUM_INTRAOP_THREADS",  # TensorFlow's kernels
)
INTEROP_VARIABLE = "TF_NUM_INTEROP_THREADS"  # TensorFlow's op scheduler: one op at a time here
CORES_VARIABLE = "TWOLAYER_WORKER_CORES"  # the cores a worker pins itself to


@dataclass(frozen=True)
class WorkerPlan:
    """One worker's share: the cores it runs on, its pool size, its GPU (index) if any."""

    cores: tuple[int, ...]
    threads: int
    gpu: int | None
    pinned: bool  # False when there are more workers than cores (shares cannot be disjoint)


def plan_workers(workers: int, cores: Sequence[int], gpus: int) -> list[WorkerPlan]:
    """Split ``cores`` into ``workers`` disjoint, near-equal shares; one GPU each, round-robin."""
    cores = sorted(cores)
    plans: list[WorkerPlan] = []
    for i in range(workers):
        gpu = i % gpus if gpus else None
        if workers <= len(cores):
            start, stop = len(cores) * i // workers, len(cores) * (i + 1) // workers
            share = tuple(cores[start:stop])
            plans.append(WorkerPlan(share, len(share), gpu, pinned=True))
        else:
            plans.append(WorkerPlan((cores[i % len(cores)],), 1, gpu, pinned=False))
    return plans


def worker_environment(plan: WorkerPlan, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables to set in a worker before it starts; the user's own settings win."""
    env: dict[str, str] = {}
    for name in THREAD_VARIABLES:
        if name not in environ:
            env[name] = str(plan.threads)
    if INTEROP_VARIABLE not in environ:
        env[INTEROP_VARIABLE] = "1"
    if plan.pinned:
        env[CORES_VARIABLE] = ",".join(map(str, plan.cores))
    if plan.gpu is not None and "CUDA_VISIBLE_DEVICES" not in environ:
        env["CUDA_VISIBLE_DEVICES"] = str(plan.gpu)
    return env


def pin_this_process(environ: Mapping[str, str] = os.environ) -> tuple[int, ...] | None:
    """Pin every thread of this process to the cores its plan named; None when not pinned.

    Threads already running (OpenBLAS starts its pool when numpy is imported) are pinned
    one by one; threads started later inherit the setting.
    """
    value = environ.get(CORES_VARIABLE)
    if not value or not hasattr(os, "sched_setaffinity"):
        return None
    cores = {int(c) for c in value.split(",")}
    tasks = Path("/proc/self/task")
    thread_ids = [int(p.name) for p in tasks.iterdir()] if tasks.is_dir() else [0]
    try:
        for thread_id in thread_ids:
            try:
                os.sched_setaffinity(thread_id, cores)
            except ProcessLookupError:  # the thread ended meanwhile
                continue
    except OSError:  # a container that forbids it: run unpinned
        return None
    return tuple(sorted(cores))
