"""How the judge reads a forked host's end from the pipe the fork server writes it into."""

from __future__ import annotations

import os
import subprocess

import pytest

from pytest_twolayer.sealed.forking import Forked


def forked(said: bytes | None) -> Forked:
    read, write = os.pipe()
    if said is not None:
        os.write(write, said)
        os.close(write)
    return Forked(1234, read) if said is not None else _open(read, write)


def _open(read: int, write: int) -> Forked:
    host = Forked(1234, read)
    host.write = write  # type: ignore[attr-defined]  # kept open: the host still runs
    return host


@pytest.mark.parametrize(("said", "code"), [(b"0", 0), (b"3", 3), (b"-11", -11), (b"", -9)])
def test_the_end_the_server_wrote_is_the_hosts_return_code(said: bytes, code: int):
    """A status the server wrote, or nothing at all (the server ended: killed with the run)."""
    host = forked(said)
    assert host.wait(1) == code
    assert host.returncode == code
    assert host.poll() == code


def test_a_host_still_running_has_no_return_code_yet():
    host = forked(None)
    assert host.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        host.wait(0.01)
    os.write(host.write, b"-9")  # type: ignore[attr-defined]
    assert host.wait(1) == -9
