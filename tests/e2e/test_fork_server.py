"""The fork server's lifetime, seen from the judge's end: closing it ends the server and
leaves no socket open; a server that ended on its own is replaced on the next host's start,
its stale socket closed, and no socket is left for the garbage collector to find (a
ResourceWarning, an error under the own tests' filterwarnings)."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator

import pytest

from pytest_twolayer.sealed import forking

pytestmark = pytest.mark.skipif(not forking.available(), reason="no fork server here")


@pytest.fixture
def server() -> Iterator[forking.ForkServer]:
    own = forking.ForkServer()
    yield own
    own.close()


def started(server: forking.ForkServer) -> tuple[socket.socket, int]:
    channel = server.ensure()
    assert server.process is not None
    return channel, server.process.pid


def test_closing_ends_the_server_and_its_socket(server: forking.ForkServer):
    channel, pid = started(server)
    assert server.ensure() is channel  # running: the same server, not another
    server.close()
    assert channel.fileno() == -1  # closed, not left to the garbage collector
    assert server.channel is None
    assert server.process is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped


def test_a_server_that_ended_is_replaced_and_its_socket_closed(server: forking.ForkServer):
    stale, pid = started(server)
    os.kill(pid, signal.SIGKILL)
    assert server.process is not None
    server.process.wait()
    fresh, new_pid = started(server)
    assert stale.fileno() == -1
    assert fresh is not stale
    assert new_pid != pid
    assert server.process.poll() is None


def test_the_judges_exit_closes_it(server: forking.ForkServer, monkeypatch: pytest.MonkeyPatch):
    """Registered once with atexit, however often the server is replaced."""
    registered: list[object] = []
    monkeypatch.setattr(forking.atexit, "register", registered.append)
    for _ in range(2):
        started(server)
        server.close()
    assert registered == [server.close]
