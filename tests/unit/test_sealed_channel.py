"""The framing between judge and host: a message comes back as it was sent, and a small one
is one write (the reader wakes once per message: every write to a waiting reader is a
wake-up, which costs tens of microseconds between the CPUs of a virtual machine)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from pytest_twolayer.sealed.channel import JOINED_BYTES, Channel


class CountingSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.writes = sock, 0

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)

    def sendall(self, data: bytes) -> None:
        self.writes += 1
        self.sock.sendall(data)


@pytest.fixture
def pair() -> Any:
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


@pytest.mark.parametrize(
    ("sizes", "writes"),
    [((), 1), ((8, 800), 1), ((JOINED_BYTES,), 4)],
    ids=["header-only", "small-buffers", "large-buffer"],
)
def test_a_message_is_one_write_unless_it_is_large(pair, sizes: tuple[int, ...], writes: int):
    left, right = pair
    counting = CountingSocket(left)
    buffers = [bytes([n % 251]) * n for n in sizes]
    sender = Channel(counting)  # type: ignore[arg-type]
    receiver = Channel(right)
    got: list[tuple[dict[str, Any], list[bytes]]] = []
    reader = threading.Thread(target=lambda: got.append(receiver.receive()))
    reader.start()  # read while it is written: a large message outgrows the socket's buffer
    sender.send({"op": "call", "n": 3}, buffers)
    reader.join(10)
    [(header, received)] = got
    assert header == {"op": "call", "n": 3, "frames": len(buffers)}
    assert received == buffers
    assert counting.writes == writes
