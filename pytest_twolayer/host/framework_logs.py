"""Frameworks' start-up logs: kept out of the suite's output unless the user asked for them.

Importing TensorFlow on a machine without a GPU prints seven lines to stderr, one of them
``E0000 ... failed call to cuInit: INTERNAL: CUDA error``, which reads like a real failure.
TensorFlow (and XLA) read ``TF_CPP_MIN_LOG_LEVEL`` (0: everything, 1: no INFO, 2: no
WARNING, 3: no ERROR) when their C++ logging starts: a run sets it to 3 unless the user set it
(their setting wins), before any framework is imported, so workers started by the run
inherit it. Some lines are printed before that logging starts and ignore the level (absl's
``WARNING: All log messages before absl::InitializeLog() ...`` and the INFO line after it):
:func:`filtered_stderr` drops those while implementations are imported, by the same rule.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, MutableMapping

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
QUIET = "3"  # ERROR too: on a machine without a GPU the errors are the cuInit noise

SEVERITIES = "IWEF"  # INFO, WARNING, ERROR, FATAL: a line's rank is its index here
LOG_LINE = re.compile(
    r"(?:(?P<glog>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\s]+:\d+\] )"  # absl / glog
    r"|(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: (?P<tsl>[IWEF]) [^\]\s]+:\d+\] )"  # older tsl
    r"|(?P<absl>WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def quiet_by_default(environ: MutableMapping[str, str] = os.environ) -> Callable[[], None]:
    """Set the frameworks' log level to :data:`QUIET` unless it is set; return what undoes it
    (the plugin's own tests run pytest in their process)."""
    if LEVEL_VARIABLE in environ:
        return lambda: None
    environ[LEVEL_VARIABLE] = QUIET

    def undo() -> None:
        if environ.get(LEVEL_VARIABLE) == QUIET:
            del environ[LEVEL_VARIABLE]

    return undo


def level(environ: MutableMapping[str, str] = os.environ) -> int:
    """The minimum severity shown, as the frameworks read it (0 when unset or not a number)."""
    value = environ.get(LEVEL_VARIABLE, "").strip()
    return int(value) if value.isdigit() else 0


def severity(line: str) -> int | None:
    """The rank of a framework's log line (see :data:`SEVERITIES`), None for any other line."""
    match = LOG_LINE.match(line)
    if match is None:
        return None
    if match["absl"]:
        return SEVERITIES.index("W")
    return SEVERITIES.index(match["glog"] or match["tsl"])


def kept(text: str, minimum: int) -> str:
    """``text`` without the framework log lines below ``minimum``."""
    shown = []
    for line in text.splitlines(keepends=True):
        rank = severity(line)
        if rank is None or rank >= minimum:
            shown.append(line)
    return "".join(shown)


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """While the body runs, what reaches file descriptor 2 (C++ code writes there, not to
    ``sys.stderr``) is held back, then written on without the framework log lines below the
    level in force. A no-op when the level shows everything."""
    minimum = level()
    if minimum == 0:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            rest = kept(held.read().decode(errors="replace"), minimum)
            if rest:
                os.write(2, rest.encode())
