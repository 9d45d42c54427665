"""Which devices this machine offers, found without importing a framework twice."""

from __future__ import annotations

import functools
import importlib.util


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


def cuda_device_count() -> int:
    """How many GPUs cuda offers here (0 when none); asks the framework that answered above."""
    if cuda_unavailable_reason() is not None:
        return 0
    if importlib.util.find_spec("torch") is not None:
        import torch

        return int(torch.cuda.device_count())
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))
