"""What the operating system can take away from an implementation host before it imports the
implementation: the network, write access to every folder but a private one, a process tree
that can outlive it, core dumps.

Linux namespaces do it without root where unprivileged user namespaces are enabled (and as
root): a network namespace holds no interface but a loopback that is down; a mount namespace
gets every mount read-only but the host's private folder; in a PID namespace the
implementation's process is the first, and every process it starts dies with it, whatever
session or group it moves to. Each protection is tried on its own, and each that the system
refuses is reported with why, so the run's header and the JSON report say what was in effect
(docs/trust.md).

Runs in the host, before anything of the implementation: nothing here may import a framework.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_REMOUNT, MS_PRIVATE = 4096, 16384, 32, 1 << 18
SYS_MOUNT_SETATTR = 442  # the same number on every Linux architecture (new since 5.12)
MOUNT_ATTR_RDONLY, AT_RECURSIVE, AT_FDCWD = 0x1, 0x8000, -100

PROTECTIONS = ("process", "folder", "network", "filesystem", "processes", "core dumps")
"""What a host reports, in this order: its own process (always), a private working and temp
folder (always), then what the system may refuse."""


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _checked(result: int) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def _why(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    return f"unavailable ({name or exc.strerror})"


def _own_identity_inside() -> None:
    """In a new user namespace, keep this user's ids (unmapped, they read as 'nobody')."""
    uid, gid = os.getuid(), os.getgid()
    with open("/proc/self/setgroups", "w") as setgroups:
        setgroups.write("deny")
    with open("/proc/self/uid_map", "w") as uid_map:
        uid_map.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as gid_map:
        gid_map.write(f"{gid} {gid} 1")


WORKING = "work"
TEMPORARY = "tmp"
"""The private folder's two parts: the working folder and the temp folder are two folders, as
they are in one process, so that an implementation's ``os.chdir(tempfile.gettempdir())``
changes its working folder there too, and is judged as it is in one process."""


def private_folder(folder: str) -> str:
    """Work and keep temporary files in ``folder``: relative paths an implementation writes
    land there, not in the user's folder or a report's."""
    sys.path[:] = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    temporary = os.path.join(folder, TEMPORARY)
    for part in (WORKING, TEMPORARY):
        os.makedirs(os.path.join(folder, part), exist_ok=True)
    os.chdir(os.path.join(folder, WORKING))
    for variable in ("TMPDIR", "TEMP", "TMP", "XDG_CACHE_HOME", "MPLCONFIGDIR"):
        os.environ[variable] = temporary
    tempfile.tempdir = None  # computed again from TMPDIR on next use
    return "private working and temp folder"


def read_only_but(libc: ctypes.CDLL, folder: str) -> str:
    """Every mount of this mount namespace read-only, but ``folder`` (a bind mount of itself
    made writable again). The namespace's mounts are private first, so that nothing done here
    reaches the system's."""
    _checked(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    syscall: Callable[..., int] = libc.syscall
    _checked(
        syscall(
            SYS_MOUNT_SETATTR,
            ctypes.c_int(AT_FDCWD),
            b"/",
            ctypes.c_uint(AT_RECURSIVE),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        )
    )
    path = folder.encode()
    _checked(libc.mount(path, path, None, MS_BIND, None))
    _checked(libc.mount(None, path, None, MS_BIND | MS_REMOUNT, None))
    os.chdir(os.path.join(folder, WORKING))  # it was the read-only one under the new mount
    return "read-only but the private folder"


def confine(folder: str) -> tuple[dict[str, str], bool]:
    """Apply every protection the system allows; return what is in effect (by
    :data:`PROTECTIONS`) and whether the caller must fork to enter its new PID namespace."""
    found = {"process": "its own", "folder": private_folder(folder)}
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        found["core dumps"] = "off"
    except (OSError, ValueError) as exc:
        found["core dumps"] = f"unavailable ({exc})"
    libc = _libc()
    if libc is None:
        for name in ("network", "filesystem", "processes"):
            found[name] = "unavailable (not Linux)"
        return found, False
    if os.geteuid() != 0:  # a user namespace first: it grants what the others need
        try:
            _checked(libc.unshare(CLONE_NEWUSER))
            _own_identity_inside()
        except OSError as exc:
            for name in ("network", "filesystem", "processes"):
                found[name] = f"{_why(exc)}: no user namespace"
            return found, False
    wanted = (
        ("network", CLONE_NEWNET, "none (a network namespace of its own)"),
        ("filesystem", CLONE_NEWNS, ""),
        ("processes", CLONE_NEWPID, "a PID namespace: none outlives the host"),
    )
    forks = False
    for name, flag, effect in wanted:
        try:
            _checked(libc.unshare(flag))
            found[name] = effect if flag != CLONE_NEWNS else read_only_but(libc, folder)
            forks = forks or flag == CLONE_NEWPID
        except OSError as exc:
            found[name] = _why(exc)
    return {name: found[name] for name in PROTECTIONS}, forks


def summary(found: dict[str, str]) -> str:
    """One line for the run's header."""
    if "probe" in found:
        return f"protections unknown: the probe {found['probe']}"
    return "; ".join(f"{name}: {found.get(name, 'unknown')}" for name in PROTECTIONS)


PROBE_SECONDS = 10


def probe() -> dict[str, str]:
    """What :func:`confine` gets on this machine, tried in a short process of its own (this
    file run as a script: the standard library only, nothing imported from the suite) in a
    folder removed afterwards. For a judging process that starts no host of its own (the
    xdist controller), so that its header still says what the hosts get; the JSON report
    keeps what the workers' hosts reported. Not a fork of this process: it may be running
    threads (execnet's), and its state is none of the probe's business."""
    folder = tempfile.mkdtemp(prefix="twolayer-probe-")
    done: object = None
    try:
        done = subprocess.run(
            [sys.executable, "-I", os.path.abspath(__file__), folder],
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
            check=False,
        )
        found = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        found, done = None, exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if type(found) is not dict:
        return {"probe": f"failed ({_probe_failure(done)})"}
    return {str(k): str(v) for k, v in found.items()}


def _probe_failure(done: object) -> str:
    if isinstance(done, subprocess.CompletedProcess):
        last = (done.stderr or "").strip().splitlines()
        return f"exit status {done.returncode}: {last[-1] if last else 'no message'}"
    return str(done)


if __name__ == "__main__":  # the probe: confine this process, say what held
    print(json.dumps(confine(sys.argv[1])[0]))
