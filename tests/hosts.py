"""Two "remote hosts" on this machine, for the tests of runs across hosts: each an execnet
socket server on loopback, in a private mount namespace with a /tmp of its own (``unshare``,
as root), so a worker on one host shares no /tmp with the controller or the other host.

Where namespaces are unavailable (not root, no ``unshare``), the hosts fall back to separate
working folders on the shared /tmp, and :attr:`Host.isolated` says so.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import execnet

SERVER = Path(execnet.__file__).parent / "script" / "socketserver.py"


@dataclass
class Host:
    """A socket server standing in for a host; ``isolated`` when it has a /tmp of its own."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    isolated: bool
    workdir: str  # where its workers start (inside its own /tmp when isolated)

    @property
    def px(self) -> str:
        return f"id={self.name}//socket=127.0.0.1:{self.port}"

    def tmp_entries(self) -> list[str]:
        """Every path under this host's /tmp but its (empty) working folder."""
        if not self.isolated:
            return sorted(str(p) for p in Path(self.workdir).rglob("*"))
        listing = subprocess.run(
            ["nsenter", "-t", str(self.process.pid), "-m", "find", "/tmp", "-mindepth", "1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return sorted(p for p in listing if p != self.workdir)


def namespaces_available() -> bool:
    """Whether this process may make private mount namespaces (root with util-linux)."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no socket server came up on port {port}")


def start_host(name: str, fallback_root: Path) -> Host:
    port = free_port()
    serve = f"{sys.executable} -u {SERVER} 127.0.0.1:{port}"
    if namespaces_available():
        workdir = f"/tmp/{name}"
        command = [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"mount -t tmpfs tmpfs /tmp && mkdir {workdir} && cd {workdir} && exec {serve}",
        ]  # fmt: skip
        isolated = True
    else:
        folder = fallback_root / name
        folder.mkdir(parents=True)
        workdir = str(folder)
        command = ["sh", "-c", f"cd {workdir} && exec {serve}"]
        isolated = False
    # A real host's HOME (pytester points HOME into its own folder under /tmp): frameworks keep
    # their settings there (~/.keras, matplotlib's cache), as on any machine.
    env = dict(os.environ, HOME=pwd.getpwuid(os.getuid()).pw_dir)
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    wait_listening(port)
    return Host(name, port, process, isolated, workdir)


@contextlib.contextmanager
def two_hosts(fallback_root: Path) -> Iterator[list[Host]]:
    """Hosts ``h1`` and ``h2``, stopped on the way out."""
    hosts = []
    try:
        for name in ("h1", "h2"):
            hosts.append(start_host(name, fallback_root))
        yield hosts
    finally:
        for host in hosts:
            host.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                host.process.wait(10)
            if host.process.poll() is None:
                host.process.kill()


def across(hosts: list[Host], workers_per_host: int = 2) -> list[str]:
    """The xdist options that run ``workers_per_host`` workers on each host, through the
    hosts as proxy gateways (what the xdist maintainers recommend for several per host)."""
    options: list[str] = []
    for host in hosts:
        options += ["--px", host.px, "--tx", f"{workers_per_host}*popen//via={host.name}"]
    return options
