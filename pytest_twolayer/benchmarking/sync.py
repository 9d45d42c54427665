"""Waiting for a device to finish, so a timer measures the work and not only its launch."""

from __future__ import annotations

import sys
from collections.abc import Callable


def synchronizer(device: str) -> Callable[[], None]:
    """A function that returns once every framework in use has finished its queued work on
    ``device``. On cpu every call is synchronous already; on cuda, torch and TensorFlow
    (whichever are imported) are both waited for."""
    if device != "cuda":
        return _nothing
    waits: list[Callable[[], None]] = []
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        waits.append(torch.cuda.synchronize)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        sync_devices = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
        if sync_devices is not None:
            waits.append(sync_devices)

    def wait() -> None:
        for wait_for in waits:
            wait_for()

    return wait


def _nothing() -> None:
    return None
