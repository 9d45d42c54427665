"""The fork server: imports the frameworks once, then forks one implementation host per
request of the judging process (:mod:`.forking`).

Run as ``python -m pytest_twolayer.sealed.fork_server FD``, FD its end of a socket pair
with the judge. A request is the host's folder as bytes, with two file descriptors: the
host's end of its channel to the judge, and the write end of a pipe into which the server
writes, once the host has ended, its exit code (minus the signal that killed it). The
answer is the host's process id. The server runs no implementation code: a host is forked
before it imports anything of its implementation.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import select
import signal
import socket
import sys
from typing import NoReturn

PRELOADED = (
    "numpy",
    "pytest_twolayer.sealed.child",
    "pytest_twolayer.run.selection",
    "pytest_twolayer.hygiene.state",
    "torch",
    "torch._dynamo",
)
"""What the server imports before it forks any host (each only if it is installed).

``torch._dynamo`` is what the first ``torch.optim`` optimizer imports (``Optimizer.__init__``
is wrapped by ``torch._disable_dynamo``): about 1.2 s here, which every torch host paid again
in its first ``__init__``, where one process pays it once. Importing it starts no thread, so
forking after it is as safe as after ``torch``.

``pytest_twolayer.run.selection`` (which imports pytest, 90 ms) describes the implementation a
host loads, and ``pytest_twolayer.hygiene.state`` (10 ms) takes its first state mark: each
host imported them again, 100 of its 130 ms start with the numpy net."""


def preload() -> None:
    for name in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def die_with_the_judge() -> None:
    judge = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != judge:
        os._exit(1)


def serve(judge: socket.socket) -> None:
    """Fork a host per request; tell each host's pipe how it ended; return when the judge
    closes its end."""
    woken_read, woken_write = os.pipe()
    os.set_blocking(woken_read, False)
    os.set_blocking(woken_write, False)
    signal.set_wakeup_fd(woken_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the pipe
    ended_to: dict[int, int] = {}  # host pid -> the write end of its status pipe
    while True:
        ready, _, _ = select.select([judge.fileno(), woken_read], [], [])
        if woken_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(woken_read, 4096)
            reap(ended_to)
        if judge.fileno() in ready:
            message, fds, _, _ = socket.recv_fds(judge, 4096, 2)
            if not message or len(fds) != 2:
                return
            channel, status = fds
            pid = os.fork()
            if pid == 0:
                kept = (woken_read, woken_write, status, *ended_to.values())
                become_host(judge, kept, channel, message)
            os.close(channel)
            ended_to[pid] = status
            judge.sendall(b"%d" % pid)


def reap(ended_to: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        write = ended_to.pop(pid, None)
        if write is not None:
            with contextlib.suppress(OSError):
                os.write(write, b"%d" % os.waitstatus_to_exitcode(status))
            os.close(write)


def become_host(
    judge: socket.socket, server_fds: tuple[int, ...], channel: int, folder: bytes
) -> NoReturn:
    """In the forked child: nothing of the server's is kept, then the host's life."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    judge.close()
    for fd in server_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    from pytest_twolayer.sealed.child import forked_main

    forked_main(socket.socket(fileno=channel), os.fsdecode(folder))


def main(argv: list[str]) -> int:
    die_with_the_judge()
    judge = socket.socket(fileno=int(argv[1]))
    preload()
    serve(judge)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
