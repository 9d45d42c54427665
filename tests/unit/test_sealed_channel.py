"""The framing between judge and host: a message comes back as it was sent, and one that fits
the socket's buffer is one write (the reader wakes once per message: every write to a waiting
reader is a wake-up, which costs tens of microseconds between the CPUs of a virtual machine);
a larger one arrives whole, however many writes it took."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from pytest_twolayer.sealed.channel import Channel


class CountingSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.writes = sock, 0

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)

    def sendmsg(self, parts: list[memoryview]) -> int:
        self.writes += 1
        return self.sock.sendmsg(parts)


@pytest.fixture
def pair() -> Any:
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


@pytest.mark.parametrize(
    ("sizes", "writes"),
    [((), 1), ((8, 800, 40_000), 1), ((8 << 20, 3), None)],
    ids=["header-only", "small-buffers", "large-buffer"],
)
def test_a_message_is_one_write_unless_it_is_large(
    pair: Any, sizes: tuple[int, ...], writes: int | None
):
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
    if writes is not None:  # a large one: a blocking socket may take it whole, or in pieces
        assert counting.writes == writes
