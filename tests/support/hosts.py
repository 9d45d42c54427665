"""Two "remote hosts" on this machine, for the tests of runs across hosts: each an execnet
socket server on loopback, in a private mount namespace with a /tmp of its own (``unshare``,
as root), so a worker on one host shares no /tmp with the controller or the other host. Only
the Python environment the tests run in is bound back into it where it lives under /tmp (a
CI's venv made by ``mktemp``): a host has its Python installed.

Where namespaces are unavailable (not root, no ``unshare``), the hosts fall back to separate
working folders on the shared /tmp, and :attr:`Host.isolated` says so.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import execnet

from pytest_twolayer.hygiene import watched

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

    def kill(self) -> None:
        """Take the host down at once, as a preempted machine goes: its server and every worker
        it started (one process group: the server leads its own session) get SIGKILL."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def freeze(self) -> None:
        """Stop the host without a word, as a machine whose network is gone is to its peers:
        its processes get SIGSTOP (connections stay open, nothing answers on them).
        :meth:`kill` ends them."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def tmp_entries(self) -> list[str]:
        """Every path under this host's /tmp but its (empty) working folder and the Python
        environment bound into it (:func:`paths_to_keep`)."""
        if not self.isolated:
            return sorted(str(p) for p in Path(self.workdir).rglob("*"))
        listing = subprocess.run(
            ["nsenter", "-t", str(self.process.pid), "-m", "find", "/tmp", "-mindepth", "1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        kept = [Path(k) for k in paths_to_keep()]

        def environment(path: Path) -> bool:  # a kept path, inside one, or a folder above one
            return any(path.is_relative_to(k) or k.is_relative_to(path) for k in kept)

        return sorted(p for p in listing if p != self.workdir and not environment(Path(p)))


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


def wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    status = process.poll()
    ended = "" if status is None else f" (it exited with status {status})"
    raise RuntimeError(f"no socket server came up on port {port}{ended}")


STASH_CANDIDATES = ("/mnt", "/media", "/srv", "/opt")
"""Folders outside /tmp where a host's namespace may mount the shared /tmp for a moment."""


def paths_to_keep() -> list[str]:
    """What a host's server and workers need from the shared /tmp: this Python environment
    (CI makes its venv with ``mktemp``) and whatever it imports from there (a clone under
    /tmp). Everything else under /tmp stays out of the host's sight."""
    tmp = Path("/tmp").resolve()
    found = {
        Path(p).resolve()
        for p in (sys.prefix, *sys.path)
        if p and Path(p).is_dir() and Path(p).resolve().is_relative_to(tmp)
    }
    kept: list[Path] = []
    for path in sorted(found):
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return [str(p) for p in kept]


def isolated_command(workdir: str, serve: str) -> list[str]:
    """A shell in a private mount namespace: a fresh tmpfs on /tmp, the paths this Python
    needs bound back into it from the shared /tmp, then the server in ``workdir``."""
    steps = []
    keep = paths_to_keep()
    if keep:
        stash = next(d for d in STASH_CANDIDATES if os.path.isdir(d))
        steps.append(f"mount --bind /tmp {stash}")  # the shared /tmp, before it is covered
        steps.append("mount -t tmpfs tmpfs /tmp")
        for path in keep:
            inside = os.path.join(stash, os.path.relpath(path, "/tmp"))
            steps.append(f"mkdir -p {shlex.quote(path)}")
            steps.append(f"mount --bind {shlex.quote(inside)} {shlex.quote(path)}")
        steps.append(f"umount -l {stash}")
    else:
        steps.append("mount -t tmpfs tmpfs /tmp")
    steps += [f"mkdir {workdir}", f"cd {workdir}", f"exec {serve}"]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", " && ".join(steps)]


def start_host(name: str, fallback_root: Path) -> Host:
    port = free_port()
    serve = f"{shlex.quote(sys.executable)} -u {shlex.quote(str(SERVER))} 127.0.0.1:{port}"
    if namespaces_available():
        workdir = f"/tmp/{name}"
        command = isolated_command(workdir, serve)
        isolated = True
    else:
        folder = fallback_root / name
        folder.mkdir(parents=True)
        workdir = str(folder)
        command = ["sh", "-c", f"cd {shlex.quote(workdir)} && exec {serve}"]
        isolated = False
    # A real host's HOME (pytester points HOME into its own folder under /tmp): frameworks keep
    # their settings there (~/.keras, matplotlib's cache), as on any machine. And none of the
    # variables torch set in this process when an earlier test ran it in-process: its
    # TORCHINDUCTOR_CACHE_DIR names this /tmp, which the host's workers would then write to.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(watched.IGNORED_PREFIXES)
    }
    env["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    log = fallback_root / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_listening(port, process)
    except RuntimeError as exc:
        stop(process)
        raise RuntimeError(f"{exc}; host {name} said: {log.read_text().strip()!r}") from None
    return Host(name, port, process, isolated, workdir)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server (and reap it: a Popen dropped unreaped warns in a later test)."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    if process.poll() is None:
        process.kill()
        process.wait()


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
            stop(host.process)


def across(hosts: list[Host], workers_per_host: int = 2) -> list[str]:
    """The xdist options that run ``workers_per_host`` workers on each host, through the
    hosts as proxy gateways (what the xdist maintainers recommend for several per host)."""
    options: list[str] = []
    for host in hosts:
        options += ["--px", host.px, "--tx", f"{workers_per_host}*popen//via={host.name}"]
    return options
