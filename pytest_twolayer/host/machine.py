"""What this machine offers a run: its devices, its cores, the threads a process may use.

Found without importing a framework that nothing else needs."""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Mapping

from pytest_twolayer.host.probe import (
    DISTRIBUTIONS,
    available_cores,
    installed_version,
    visible_gpus,
)

__all__ = ["DISTRIBUTIONS", "available_cores"]

from pytest_twolayer.host.framework_logs import filtered_stderr


def _torch_cuda_reason() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "cuda is not available to torch on this machine"


def _tensorflow_cuda_reason() -> str | None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None
    return "tensorflow sees no GPU on this machine"


CUDA_REASONS: dict[str, Callable[[], str | None]] = {
    "torch": _torch_cuda_reason,
    "tensorflow": _tensorflow_cuda_reason,
}
"""Per framework that can run on cuda: why it cannot here (None when it can). Each imports its
framework: ask one that is imported already, or one that is needed anyway."""


@functools.cache
def framework_cuda_reason(framework: str) -> str | None:
    """Why ``framework`` cannot use cuda on this machine; None when it can, or when this module
    does not know how to ask it."""
    ask = CUDA_REASONS.get(framework)
    if ask is None:
        return None
    with filtered_stderr():  # the first device query of a framework logs
        return ask()


@functools.lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """Why ``cuda`` cannot be used here, or None when it can.

    PyTorch answers when installed (importing it is needed by its implementations anyway);
    otherwise TensorFlow is asked.
    """
    for framework in CUDA_REASONS:
        if importlib.util.find_spec(framework) is not None:
            return framework_cuda_reason(framework)
    return "neither torch nor tensorflow is installed"


def unavailable_reason(device: str) -> str | None:
    """Why ``device`` cannot be used on this machine, or None when it can."""
    if device == "cpu":
        return None
    if device == "cuda":
        return cuda_unavailable_reason()
    return f"unknown device {device!r}"


def visible_gpu_count() -> int:
    """NVIDIA GPUs this process may use, known without importing a framework."""
    return len(visible_gpus(os.environ))


def thread_budget(environ: Mapping[str, str] = os.environ) -> int:
    """The thread-pool size this process was given (all its cores when none was)."""
    value = environ.get("OMP_NUM_THREADS")
    if value and value.isdigit() and int(value) > 0:
        return int(value)
    return len(available_cores())


def package_version(label: str) -> str:
    """The installed version of ``label`` (see :data:`DISTRIBUTIONS`), or "not installed"."""
    return installed_version(DISTRIBUTIONS.get(label, (label,))) or "not installed"
