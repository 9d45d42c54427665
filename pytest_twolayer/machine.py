"""What this machine offers a run: its devices, its cores, the threads a process may use.

Found without importing a framework that nothing else needs."""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Mapping

from pytest_twolayer.probe import (
    DISTRIBUTIONS,
    available_cores,
    installed_version,
    visible_gpus,
)

__all__ = ["DISTRIBUTIONS", "available_cores"]


@functools.lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """Why ``cuda`` cannot be used here, or None when it can.

    PyTorch answers when installed (importing it is needed by its implementations anyway);
    otherwise TensorFlow is asked.
    """
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return None
        return "cuda is not available to torch on this machine"
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return None
        return "tensorflow sees no GPU on this machine"
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
