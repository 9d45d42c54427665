"""Memory over the tutorial run: what the process's allocators hold before every step, and
whether that grows without levelling off.

**What is read.** On the host, the bytes glibc's ``malloc`` has handed out and not taken back
(``mallinfo2()``: heap chunks in use plus mmapped chunks). numpy's arrays, torch's CPU
tensors (torch's CPU allocator has no public statistics; it allocates with ``malloc``) and
TensorFlow's CPU buffers all live there, and a freed buffer leaves the count at once. The
resident set size (RSS) does not: freed memory stays resident for reuse, so a leak first fills
what earlier tests freed (a leak of 5 KiB per step showed no RSS growth at all over 500 steps
late in a session) and a new heap arena shows as a jump of hundreds of KiB. RSS, from
``/proc/self/statm``, is the fallback where ``mallinfo2`` is missing (macOS, musl; glibc
before 2.33); there growth is reported but only judged against a limit given explicitly. On
cuda the device memory that torch's and TensorFlow's allocators hold
(``torch.cuda.memory_allocated``, ``tf.config.experimental.get_memory_info``) is read too.

**The statistic.** One sample before every step and one after the last; the growth is the
median of the last :func:`window` samples minus the median of the first samples of the second
half, per step between the two windows' centres. Warm-up allocations (gradients, optimizer
state, a graph's caches: all made in the first steps) fall in the first half; the medians
ignore a single sample's transient. A leak of one step's output grows by its size every step.
"""

from __future__ import annotations

import ctypes
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MIN_JUDGED_STEPS = 100
"""Fewer steps cannot tell a leak from the warm-up: their growth is reported, not judged."""

DEFAULT_MAX_GROWTH = 1024.0
"""Bytes per step a correct implementation may grow by over the second half of its run.

Measured on the nine built-ins (``scripts/seed_sweep.py``, whose default sweep also measures
memory; 200 seeds each, one process): the host allocator's growth is at most 18 to 25 B per
step for the fixed-depth nets (the lists that record each step's loss and time) and 202 B for
the dynamic net; a net that keeps each step's output (64 x 10 float32, 2.5 KiB) with its
autograd graph grows by ~5 KiB per step, and the numpy net keeping its float64 output by
~5 KiB. 1 KiB sits five times above the worst correct growth and five times below the
smallest such leak."""


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return None
    function.restype = _MallInfo2
    function.argtypes = []
    return function


_MALLINFO2 = _mallinfo2() if sys.platform.startswith("linux") else None
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def malloc_in_use() -> int:
    """Bytes malloc holds for the process: heap chunks in use and mmapped chunks."""
    assert _MALLINFO2 is not None
    info = _MALLINFO2()
    return int(info.uordblks + info.hblkhd)


def resident_set() -> int:
    """The process's resident set size in bytes (0 where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def device_in_use() -> int:
    """Bytes torch's and TensorFlow's cuda allocators hold (each only if already imported)."""
    total = 0
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        total += int(torch.cuda.memory_allocated())
    tf = sys.modules.get("tensorflow")
    if tf is not None and tf.config.list_logical_devices("GPU"):
        total += int(tf.config.experimental.get_memory_info("GPU:0")["current"])
    return total


@dataclass(frozen=True)
class Source:
    """Where memory is read: a name for the reports, a reader, and whether its growth is judged
    against the default limit (RSS is too coarse for that)."""

    name: str
    read: Callable[[], int]
    judged_by_default: bool


HOST_MALLOC = Source("host malloc", malloc_in_use, judged_by_default=True)
HOST_RSS = Source("host RSS", resident_set, judged_by_default=False)
DEVICE = Source("cuda allocators", device_in_use, judged_by_default=True)


def sources(device: str) -> list[Source]:
    """What is read for a run on ``device``: the host's allocator (or RSS), and the device's."""
    host = HOST_MALLOC if _MALLINFO2 is not None else HOST_RSS
    return [host, DEVICE] if device == "cuda" else [host]


ROUND_WINDOW = 3
"""Samples per median, at least, where a sample is taken every few steps (sealed runs read the
memory between timed rounds of 20: the tutorial's run gives 26 samples)."""


def window(steps: int) -> int:
    """Samples per median: 5% of the run (25 of the tutorial's 500 steps), at least one."""
    return max(1, steps // 20)


def growth_per_step(samples: Sequence[int], every: int = 1) -> float | None:
    """Bytes per step over the second half of a run (``samples``: one before each step, one
    after the last; with ``every`` > 1, one before each round of that many steps); None for a
    run too short to judge (see :data:`MIN_JUDGED_STEPS`)."""
    intervals = len(samples) - 1
    if intervals < 2:
        return None
    half, width = intervals // 2, max(1, window(intervals * every) // every)
    if every > 1:  # a median of one sample would not ignore its transient
        width = max(width, min(ROUND_WINDOW, intervals // 4))
    width = min(width, intervals - half)
    start = statistics.median(samples[half : half + width])
    end = statistics.median(samples[len(samples) - width :])
    distance = (len(samples) - 1 - (width - 1) / 2) - (half + (width - 1) / 2)
    return float(end - start) / (distance * every) if distance > 0 else None


def read_all(device: str) -> list[int]:
    """One reading of every source for ``device``, in :func:`sources`' order."""
    return [source.read() for source in sources(device)]


class MemoryMeter:
    """Samples every source of a run; :meth:`figures` summarizes them for the reports.

    ``reading`` reads every source at once elsewhere (in an implementation's host, whose
    memory it is), in :func:`sources`' order; by default this process's are read."""

    def __init__(
        self, device: str, reading: Callable[[], list[int]] | None = None, every: int = 1
    ) -> None:
        self.every = every  # steps between two samples
        self.sources = sources(device)
        self.samples: list[list[int]] = [[] for _ in self.sources]
        self.reading = reading if reading is not None else lambda: read_all(device)

    def sample(self) -> None:
        values = self.reading()
        if len(values) != len(self.sources):
            raise ValueError(f"{len(values)} memory readings for {len(self.sources)} sources")
        for value, samples in zip(values, self.samples, strict=True):
            samples.append(int(value))

    def figures(self) -> list[dict[str, Any]]:
        """Per source: start, peak above start, end and growth per step (bytes)."""
        out = []
        for source, samples in zip(self.sources, self.samples, strict=True):
            if not samples:
                continue
            start = samples[0]
            out.append(
                {
                    "source": source.name,
                    "start_bytes": start,
                    "peak_bytes": max(samples) - start,
                    "end_bytes": samples[-1],
                    "growth_bytes_per_step": growth_per_step(samples, self.every),
                    "steps": (len(samples) - 1) * self.every,
                    "judged_by_default": source.judged_by_default,
                }
            )
        return out
