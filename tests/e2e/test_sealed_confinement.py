"""What the operating system takes from an implementation host (where it allows it): the
network, write access outside the host's private folder, and any process that would outlive
the host. Each attempt is made by the implementation's module when it is imported, as a
submitted implementation would; each protection the system refuses is skipped with what the
host reported, never passed."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_twolayer.run.registry import REGISTER_HOOK, Spec, import_path_loader
from pytest_twolayer.sealed import confinement
from pytest_twolayer.sealed.confinement import PROTECTIONS, probe, summary
from pytest_twolayer.sealed.host import ImplementationHost
from pytest_twolayer.sealed.sealing import Sealing
from tests.support.sessions import run_as_user

ATTEMPTS = """
import os, socket, subprocess, sys, time

from pytest_twolayer.implementations.numpy_net import NumpyNet

OUTSIDE = {outside!r}
PORT = {port}
TRIED = {{}}

try:
    with open(os.path.join(OUTSIDE, "written-by-the-host.txt"), "w") as f:
        f.write("escaped")
    TRIED["outside"] = "written"
except OSError as exc:
    TRIED["outside"] = type(exc).__name__

with open("relative.txt", "w") as f:  # the working folder: the host's private one
    f.write("mine")
TRIED["cwd"] = os.getcwd()

try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
    TRIED["network"] = "connected"
except OSError as exc:
    TRIED["network"] = type(exc).__name__

# A grandchild in a session of its own: out of the host's process group, it would write
# outside after the host is gone, if it lived.
subprocess.Popen(
    [sys.executable, "-c",
     "import time, sys; time.sleep(1.5); open(sys.argv[1], 'w').write('lingered')",
     os.path.join(OUTSIDE, "lingered.txt")],
    start_new_session=True,
)


class Attempts(NumpyNet):
    def forward(self, x):
        return [TRIED["outside"], TRIED["cwd"], TRIED["network"]]
"""


@pytest.fixture
def attempts(tmp_path: Path) -> Any:
    """The attempts' module, a folder outside the host and a listening loopback socket; the
    host's reply to ``forward`` and its protections."""
    outside = tmp_path / "outside"
    outside.mkdir()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    (tmp_path / "attempts.py").write_text(
        textwrap.dedent(ATTEMPTS.format(outside=str(outside), port=port))
    )
    sealing = Sealing()
    sys.path.insert(0, str(tmp_path))
    try:
        target = "attempts:Attempts"
        loaded = sealing.load(Spec("attempts", target, REGISTER_HOOK, import_path_loader(target)))
        assert loaded.error is None, loaded.error
        host = sealing.hosts["attempts"]
        folder = host.folder
        net = loaded.cls(_dims(), device="cpu", dtype="float64", seed=0)
        outside_write, cwd, network = net.forward(net.to_device(_x()))
        yield {
            "outside": outside,
            "written": outside_write,
            "cwd": cwd,
            "folder": folder,
            "network": network,
            "protections": dict(host.protections),
            "host": host,
            "server": server,
        }
    finally:
        sys.path.remove(str(tmp_path))
        sealing.close()
        server.close()


def _dims() -> Any:
    from pytest_twolayer import TUTORIAL_DIMS

    return TUTORIAL_DIMS


def _x() -> Any:
    import numpy as np

    return np.zeros((_dims().N, _dims().D_in))


def needs(found: dict[str, str], protection: str) -> None:
    if found.get(protection, "").startswith("unavailable"):
        pytest.skip(f"{protection}: {found[protection]} on this system")


def test_every_host_reports_each_protection(attempts: dict[str, Any]):
    found = attempts["protections"]
    assert list(found) == list(PROTECTIONS)
    assert found["process"] == "its own"
    assert all(value for value in found.values())
    assert summary(found).count(";") == len(PROTECTIONS) - 1


def test_the_probe_finds_what_a_host_gets(attempts: dict[str, Any]):
    """A judging process that starts no host (the xdist controller) says in its header what
    the probe found: the protections this machine gave the host, each in the same words."""
    assert probe() == attempts["protections"]


def test_a_probe_that_cannot_run_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(confinement.sys, "executable", "/nonexistent/python")
    found = probe()
    assert list(found) == ["probe"]
    assert summary(found).startswith("protections unknown: the probe failed (")
    assert "/nonexistent/python" in summary(found)


def test_an_xdist_runs_header_names_the_protections(tmp_path: Path):
    """The controller starts no host, yet its header is the one a host's protections give."""
    done = run_as_user(
        ["pytest", "-p", "twolayer", "--impl", "numpy", "-n", "2", "-k", "implementation_loads"],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    header = [line for line in done.stdout.splitlines() if line.startswith("twolayer: sealed")]
    assert header == [
        "twolayer: sealed verdicts: each implementation in a process of its own; "
        + summary(probe())
    ]


def test_the_working_folder_is_the_hosts_own(attempts: dict[str, Any]):
    # its working folder and its temp folder: two folders in it, as they are two in one process
    assert Path(attempts["cwd"]).resolve().parent == Path(attempts["folder"]).resolve()
    assert not Path("relative.txt").exists()


def test_nothing_outside_the_private_folder_is_writable(attempts: dict[str, Any]):
    needs(attempts["protections"], "filesystem")
    assert attempts["written"] in ("OSError", "PermissionError")
    assert not (attempts["outside"] / "written-by-the-host.txt").exists()


def test_there_is_no_network(attempts: dict[str, Any]):
    needs(attempts["protections"], "network")
    assert attempts["network"] != "connected"
    attempts["server"].settimeout(0.1)
    with pytest.raises(TimeoutError):
        attempts["server"].accept()


def test_no_process_of_the_host_outlives_it(attempts: dict[str, Any]):
    """The grandchild left the host's process group and sleeps before it writes; it dies
    with the host's PID namespace, so it never writes. (Outside a PID namespace it lives on:
    a process group kill misses it.)"""
    needs(attempts["protections"], "processes")
    host: ImplementationHost = attempts["host"]
    lingering = _processes_naming(attempts["outside"])
    assert lingering, "the grandchild did not start"
    host.kill()
    assert _gone(lingering), _processes_naming(attempts["outside"])
    assert not (attempts["outside"] / "lingered.txt").exists()


def _processes_naming(folder: Path) -> list[int]:
    """This system's live processes whose command line names ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(folder) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _gone(pids: list[int]) -> bool:
    """Whether every one of ``pids`` has ended, waiting for it up to 10 s: a namespace's
    processes are killed as its first one exits, a moment after the host is reaped."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return True
        time.sleep(0.01)
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
