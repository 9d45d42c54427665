"""Run on every xdist worker's gateway before its pytest starts: the worker's host described,
the worker's share of that host applied, and a channel kept open for the selection.

The controller sends this module's source to each new gateway (``gateway.remote_exec``), on
whichever host the gateway runs (popen, ``socket=``, ``ssh=``, ``via=`` a proxy): what a
worker may use is decided there, from that host's own cores and GPUs, never from the
controller's. It runs in the fresh interpreter that becomes the worker, before pytest (and
numpy, whose BLAS pool sizes itself when imported) is loaded, so it uses the standard
library only; the controller imports it too, for the pure planning functions.

Two workers on two cores that each start a 2-thread OpenBLAS, torch and TensorFlow pool run
four busy threads on two cores; the spinning threads then cost more than the second worker
gains. Each worker therefore gets a disjoint share of its host's cores, thread pools of that
size and, while GPUs last, a GPU of its own: two workers timing steps on one GPU would each
measure the other's work, so a worker beyond the host's GPU count gets none.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import queue
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",  # torch's intra-op pool and OpenMP builds of BLAS
    "OPENBLAS_NUM_THREADS",  # numpy's OpenBLAS
    "MKL_NUM_THREADS",  # numpy/torch built against MKL
    "TF_NUM_INTRAOP_THREADS",  # TensorFlow's kernels
)
INTEROP_VARIABLE = "TF_NUM_INTEROP_THREADS"  # TensorFlow's op scheduler: one op at a time here
GPU_VARIABLE = "CUDA_VISIBLE_DEVICES"
HOST_FRAMEWORKS = ("numpy", "torch", "tensorflow", "jax")
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    # label -> the distributions that provide it (aliases: the first installed wins)
    "pytest": ("pytest",),
    "pytest-xdist": ("pytest-xdist",),
    "pytest-twolayer": ("pytest-twolayer",),
    "numpy": ("numpy",),
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos"),
}
HEARTBEAT_SECONDS = 5.0
"""How often a worker tells the controller it is alive, on its probe's channel, whatever its
main thread is doing: a worker never heard from again has lost its host (see
pytest_twolayer.parallel.heartbeat)."""
HEARTBEAT = ("alive",)
BOX = "_pytest_twolayer_worker_box"
"""The module (in ``sys.modules`` of the worker's process) holding its selection channel."""


class WorkerPlan(NamedTuple):
    """One worker's share of its host: the cores it runs on, its pools' size, its GPU."""

    cores: tuple[int, ...]
    threads: int
    gpu: str | None  # the CUDA_VISIBLE_DEVICES entry it may use; None: no GPU for it
    pinned: bool  # False when there are more workers than cores (shares cannot be disjoint)


def visible_gpus(environ: Mapping[str, str]) -> list[str]:
    """The NVIDIA GPUs this host lets a process use, known without importing a framework:
    the driver's device files, narrowed to ``CUDA_VISIBLE_DEVICES`` when it is set."""
    present = sorted(
        p.name[len("nvidia") :]
        for p in Path("/dev").glob("nvidia*")
        if p.name[len("nvidia") :].isdigit()
    )
    visible = environ.get(GPU_VARIABLE)
    if visible is None:
        return present
    named = [d.strip() for d in visible.split(",") if d.strip()]
    return named[: len(present)]


def available_cores() -> list[int]:
    """The cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no affinity API; count them instead
        return list(range(os.cpu_count() or 1))


def plan_workers(workers: int, cores: Sequence[int], gpus: Sequence[str]) -> list[WorkerPlan]:
    """Split ``cores`` into ``workers`` disjoint, near-equal shares; the first workers get
    one GPU each, the others none (never two on one GPU)."""
    cores = sorted(cores)
    plans: list[WorkerPlan] = []
    for i in range(workers):
        gpu = gpus[i] if i < len(gpus) else None
        if workers <= len(cores):
            start, stop = len(cores) * i // workers, len(cores) * (i + 1) // workers
            share = tuple(cores[start:stop])
            plans.append(WorkerPlan(share, len(share), gpu, True))
        else:
            plans.append(WorkerPlan((cores[i % len(cores)],), 1, gpu, False))
    return plans


def worker_environment(
    plan: WorkerPlan, environ: Mapping[str, str], *, gpus_on_host: int
) -> dict[str, str]:
    """Variables to set in a worker before it imports anything; the user's own settings win
    (a ``CUDA_VISIBLE_DEVICES`` of the user's narrows the GPUs the plan chose from)."""
    env: dict[str, str] = {}
    for name in THREAD_VARIABLES:
        if name not in environ:
            env[name] = str(plan.threads)
    if INTEROP_VARIABLE not in environ:
        env[INTEROP_VARIABLE] = "1"
    if gpus_on_host:
        # Hide every GPU but its own; a worker without one sees none.
        env[GPU_VARIABLE] = plan.gpu if plan.gpu is not None else ""
    return env


def pin(cores: Sequence[int]) -> bool:
    """Pin every thread of this process (and so every thread it starts) to ``cores``."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    tasks = Path("/proc/self/task")
    thread_ids = [int(p.name) for p in tasks.iterdir()] if tasks.is_dir() else [0]
    try:
        for thread_id in thread_ids:
            try:
                os.sched_setaffinity(thread_id, set(cores))
            except ProcessLookupError:  # the thread ended meanwhile
                continue
    except OSError:  # a container that forbids it: run unpinned
        return False
    return True


def installed_version(distributions: Sequence[str]) -> str | None:
    for distribution in distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def describe_host(environ: Mapping[str, str]) -> dict[str, Any]:
    """This host as a worker sees it: name, cores, GPUs, Python, installed frameworks."""
    packages = {label: installed_version(names) for label, names in DISTRIBUTIONS.items()}
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "cores": len(available_cores()),
        "gpus": len(visible_gpus(environ)),
        # find_spec of a top-level name reads the import path; nothing is imported
        "frameworks": [f for f in HOST_FRAMEWORKS if importlib.util.find_spec(f) is not None],
        "packages": packages,
    }


def private_temp_dir() -> str:
    """A temporary folder of this worker's own, made the process's temp dir (frameworks put
    caches there: torch's inductor writes ``torchinductor_<user>``); the worker removes it
    when its session ends, so a host's temp dir is left as the run found it."""
    folder = tempfile.mkdtemp(prefix="pytest-twolayer-worker-")
    for name in ("TMPDIR", "TEMP", "TMP"):
        os.environ[name] = folder
    tempfile.tempdir = None  # read the variables again
    return folder


def prepare(slot: int, workers_on_host: int) -> dict[str, Any]:
    """Describe this host, then take this worker's share of it (``slot`` of
    ``workers_on_host`` workers there): thread-pool sizes and GPU in the environment, the
    process pinned to its cores, a private temp dir."""
    host = describe_host(os.environ)
    gpus = visible_gpus(os.environ)
    plan = plan_workers(workers_on_host, available_cores(), gpus)[slot]
    env = worker_environment(plan, os.environ, gpus_on_host=len(gpus))
    os.environ.update(env)
    pinned = plan.pinned and pin(plan.cores)
    temp = private_temp_dir()
    return {
        "temp": temp,
        "host": host,
        "plan": {
            "cores": list(plan.cores) if pinned else [],
            "threads": plan.threads,
            "gpu": plan.gpu,
        },
    }


class Box:
    """What a worker's plugin finds in ``sys.modules[BOX]``: the channel to the controller, an
    inbox of what the controller sent on it (``None`` once the channel closed: the controller
    is gone), and the worker's private temp dir. A thread sends the heartbeat meanwhile."""

    def __init__(self, channel: Any, temp: str) -> None:
        self.channel = channel
        self.temp = temp
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.closed = threading.Event()
        threading.Thread(target=self._listen, name="twolayer-inbox", daemon=True).start()
        threading.Thread(target=self._beat, name="twolayer-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self.closed.wait(HEARTBEAT_SECONDS):
            try:
                self.channel.send(HEARTBEAT)
            except Exception:  # the channel closed: nobody is listening any more
                return

    def _listen(self) -> None:
        while True:
            try:
                self.inbox.put(self.channel.receive())
            except Exception:  # the channel closed
                self.inbox.put(None)
                self.closed.set()
                return


def open_box(gateway: Any, temp: str) -> Any:
    """A channel that outlives this remote execution (execnet closes the one it ran on when
    it ends), kept where the worker's plugin finds it; returned for the controller."""
    channel = gateway.newchannel()
    sys.modules[BOX] = Box(channel, temp)  # type: ignore[assignment]  # any object may live there
    return channel


if __name__ == "__channelexec__":
    # execnet runs this on the worker's host with `channel` in its globals.
    remote: Any = globals()["channel"]
    slot, count = remote.receive()
    prepared = prepare(slot, count)
    remote.send((prepared, open_box(remote.gateway, prepared["temp"])))
