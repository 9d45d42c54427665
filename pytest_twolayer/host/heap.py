"""Python's cyclic garbage collector, kept off the frameworks' objects.

torch and TensorFlow bring millions of objects that live as long as the process. Each full
collection walks every one of them (with both loaded, each is as slow as several checks;
the figures: docs/parallel.md#figures-behind-the-design), so the collector costs most where
these objects are made and where the process ends:

- **Imports.** Importing the implementations (and with them the frameworks) set off many
  full collections per process, each longer than the last: a noticeable share of an xdist
  worker's start-up (docs/parallel.md#how-fast-it-is).
  :func:`imports_outside_the_collector` pauses the collector for an import, then freezes the
  heap (``gc.freeze``): what exists then moves to a permanent generation that later
  collections skip. Modules, classes and functions stay alive anyway; only a reference
  cycle already garbage at that moment is never reclaimed. The collector's on/off state is
  put back as it was (the state guard watches it).
- **Exit.** Python's shutdown ends with a collection over everything still alive (several
  times longer than with the heap frozen), while the operating system reclaims the memory
  anyway: :func:`freeze_heap_at_exit`. Modules are still torn down and ``atexit`` handlers
  still run; only finalizers of objects caught in reference cycles at exit are skipped,
  which Python never guaranteed to run at shutdown. Under xdist the controller waits for its
  workers to exit, so each worker's shutdown is on the run's critical path too.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
from collections.abc import Iterator

_registered = False


@contextlib.contextmanager
def imports_outside_the_collector() -> Iterator[None]:
    """No cyclic collection during the block; afterwards the heap is frozen, and the
    collector is on again if it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def freeze_heap_at_exit() -> None:
    """Freeze the heap when the interpreter exits (registered once per process).

    Registered early, it runs late: ``atexit`` calls handlers in reverse order, so those
    that frameworks register when they are imported (later) run before it.
    """
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
