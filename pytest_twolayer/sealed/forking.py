"""Starting implementation hosts: forked from a server that has imported the heavy frameworks
once, instead of a new Python that imports them again for every host.

A host that starts from nothing imports numpy, the suite's host code and torch before the
implementation: about 2 s each for a torch net here, paid by every implementation of a run
(and again for each one the least-recently-used rule ends). The fork server
(:mod:`.fork_server`) imports them once, in a process of its own that runs nothing else, and
forks each host from it: the host starts in milliseconds, shares the frameworks' pages with
its siblings, and is still a process of its own that has run none of the implementation's
code. TensorFlow is not imported there: TensorFlow does not support being forked once
imported.

Where the server cannot run (no ``fork``, no ``socket.send_fds``) a host is a new Python
(:func:`spawned`), as before.
"""

from __future__ import annotations

import atexit
import os
import select
import socket
import subprocess
import sys
from typing import Protocol


class HostProcess(Protocol):
    """What the judge needs of a host's process: its id, whether it ended, how."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Forked:
    """A host the fork server forked, read as a :class:`subprocess.Popen` is: the server
    writes how it ended (its exit code, or minus the signal) into a pipe of its own."""

    def __init__(self, pid: int, status: int) -> None:
        self.pid = pid
        self.status = status  # the read end of the pipe
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None and self._ready(0) else self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._ready(timeout):
                raise subprocess.TimeoutExpired("implementation host", timeout or 0)
            said = os.read(self.status, 32).strip()
            os.close(self.status)
            # Nothing said: the server itself ended (killed with the run); the host with it.
            self.returncode = int(said) if said.lstrip(b"-").isdigit() else -9
        return self.returncode

    def _ready(self, timeout: float | None) -> bool:
        return bool(select.select([self.status], [], [], timeout)[0])


class ForkServer:
    """The judge's end of one fork server, started on first use."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: socket.socket | None = None
        self.registered = False  # whether the judging process's exit closes it

    def ensure(self) -> socket.socket:
        if self.process is None or self.process.poll() is not None or self.channel is None:
            self.close()  # a server that ended: its socket closed and its process reaped
            if not self.registered:  # ended with the judging process, before its objects go
                atexit.register(self.close)
                self.registered = True
            ours, theirs = socket.socketpair()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest_twolayer.sealed.fork_server", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # the judge's Ctrl-C is not the server's
            )
            theirs.close()
            self.channel = ours
        return self.channel

    def fork(self, channel: socket.socket, folder: str) -> Forked:
        server = self.ensure()
        status_read, status_write = os.pipe()
        try:
            socket.send_fds(server, [folder.encode()], [channel.fileno(), status_write])
            answer = server.recv(32)
        finally:
            os.close(status_write)
        if not answer.strip().isdigit():
            os.close(status_read)
            self.close()
            raise OSError("the fork server did not start the host")
        return Forked(int(answer), status_read)

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()  # the server exits when it reads the end
            self.channel = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


SERVER = ForkServer()
"""The judging process's fork server (each xdist worker has its own)."""


def available() -> bool:
    return hasattr(os, "fork") and hasattr(socket, "send_fds")


def spawned(channel: socket.socket, folder: str) -> HostProcess:
    """A host that is a new Python (``python -m pytest_twolayer.sealed.child``)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_twolayer.sealed.child",
            str(channel.fileno()),
            str(os.getpid()),
            folder,
        ],
        pass_fds=(channel.fileno(),),
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # the judge's Ctrl-C is not the host's
    )


def start(channel: socket.socket, folder: str) -> HostProcess:
    """A host serving ``channel`` (the host's end of a socket pair) in ``folder``."""
    if available():
        try:
            return SERVER.fork(channel, folder)
        except OSError:
            pass  # no server: a host of its own
    return spawned(channel, folder)
