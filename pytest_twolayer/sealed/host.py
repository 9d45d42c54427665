"""The judging side of an implementation host: start it, send it one request at a time, and
kill it when it overstays.

A request's answer is awaited against a deadline; past it, or when the judge is interrupted
(the per-check time limit's signal arrives in the judging process, which the implementation
cannot touch), the host is killed, never asked. A host that dies mid-call (``os._exit``, a
segfault, an abort) is :class:`HostEnded` naming the call; the next request starts a new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_twolayer.sealed import forking
from pytest_twolayer.sealed.channel import Channel, ChannelClosed
from pytest_twolayer.sealed.values import DecodeError, Decoder, Encoder, Frame, Native
from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.spec.ended import ImplementationEnded

REPLACED_BUILTINS = ("SystemExit", "KeyboardInterrupt", "GeneratorExit", "BaseException")
"""What the host's implementation raised that must not unwind the judge: they become plain
exceptions of the same name."""


TRUSTED_ROUND_TRIPS = 15
"""Empty round trips a host's start times before it imports the implementation."""
CROSSING_MARGIN = 1.5
"""How far the crossing a benchmark takes off may exceed the trusted one. Measured here, the
median of a host's first round trips was 92 to 186 us and of those in its benchmark 112 to
160 us: where the cap binds on an honest host, a few tens of microseconds per round of 20 steps
stay charged (about 1 us per step). A host that answers round trips slowly gains at most half
a round trip per round by it."""

ENDING_S = 5.0
"""How long a host whose channel closed may take to exit on its own before it is killed: its
status is what the verdict names, and a confined host's exit passes through two waiting
parents (milliseconds)."""


class HostEnded(ImplementationEnded):
    """The implementation's process ended or stopped answering during a call."""


class HostBroken(ImplementationEnded):
    """The host answered with something that is not a reply of the protocol."""


_REMOTE_ERRORS: dict[tuple[str, str], type[BaseException]] = {}


def remote_error(info: dict[str, Any]) -> Exception:
    """An exception of the host's type name over its nearest built-in base (a ``ValueError``
    subclass stays a ``ValueError``), with its message; nothing of the host's code runs."""
    import builtins

    name = str(info.get("type", "Exception"))
    base_name = str(info.get("base", "Exception"))
    base = getattr(builtins, base_name, Exception)
    if not (isinstance(base, type) and issubclass(base, BaseException)):
        base = Exception
    if base_name in REPLACED_BUILTINS or not issubclass(base, Exception):
        base = Exception
    key = (name, base.__name__)
    cls = _REMOTE_ERRORS.get(key)
    if cls is None:
        safe = name if name.isidentifier() else "Exception"
        cls = base if safe == base.__name__ and base_name not in REPLACED_BUILTINS else None
        if cls is None:
            cls = type(safe, (base,), {"__module__": "implementation"})
        _REMOTE_ERRORS[key] = cls
    error = cls(str(info.get("message", "")))
    assert isinstance(error, Exception)
    return error


@dataclass
class Tracked:
    """An array the host returned: the caller's copy and its bytes at the last sync.

    Bytes, compared bitwise: ``bytes ==`` is a memcmp, where ``np.array_equal(...,
    equal_nan=True)`` took 190 us for a 1000 x 100 float32 array here (every request compares
    every array the caller still holds, and a check holds its ``params()`` across dozens of
    calls). A write of -0.0 over 0.0 is a write too, and is passed on."""

    array: weakref.ref[np.ndarray]
    seen: bytes


class JudgeEncoder(Encoder):
    """Requests: arguments keep their layout and memory, natives go by reference."""

    def __init__(self, host: ImplementationHost) -> None:
        super().__init__()
        self.host = host
        self.arguments: dict[int, np.ndarray] = {}  # token -> the memory behind an argument

    def encode(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, Native):
            if value.host != self.host.generation:
                raise HostEnded(
                    f"a {value.type_name} made by an earlier process of this implementation"
                )
            return {"H": value.ref}
        if type(value) is Dims:
            return {"Dims": [value.N, value.D_in, value.H, value.D_out]}
        return super().encode(value, depth)

    def array(self, value: np.ndarray) -> Any:
        base = value
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base.base is not None or not (base.flags.c_contiguous or base.flags.f_contiguous):
            base = value = np.ascontiguousarray(value)  # memory numpy does not own: a copy
        memory = base.reshape(-1, order="A").view(np.uint8) if base.size else np.zeros(0, np.uint8)
        token = len(self.arguments)
        self.arguments[token] = memory
        offset = value.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        return {
            "V": self.buffer(memory.tobytes()),
            "token": token,
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "strides": list(value.strides),
            "offset": int(offset),
            "ro": not value.flags.writeable,
            # the array that owns the memory, rebuilt as such: a view's ``base`` is an array
            # of its dtype and shape there too, and an array that owns its memory has none
            "base": {
                "dtype": base.dtype.str,
                "shape": list(base.shape),
                "order": "C" if base.flags.c_contiguous else "F",
                "is_value": value is base,
            },
        }

    def other(self, value: Any) -> Any:
        raise TypeError(f"cannot send a {type(value).__name__} to an implementation host")


class JudgeDecoder(Decoder):
    """Replies: returned arrays are tracked, natives become handles of this host."""

    def __init__(self, host: ImplementationHost, buffers: list[Frame]) -> None:
        super().__init__(buffers)
        self.host = host

    def array(self, data: dict[str, Any]) -> np.ndarray:
        sync = data.get("sync")
        existing = self.host.tracked.get(sync) if type(sync) is int else None
        array = existing.array() if existing is not None else None
        fresh = super().array(data)
        if array is None or array.shape != fresh.shape or array.dtype != fresh.dtype:
            array = fresh
        else:  # the same array returned again, as one process would see it: same object
            writeable = array.flags.writeable
            array.flags.writeable = True
            array[...] = fresh
            array.flags.writeable = writeable
        if type(sync) is int:
            self.host.track(sync, array)
        if data.get("ro"):
            array.flags.writeable = False
        return array

    def native(self, data: dict[str, Any]) -> Any:
        return HostedNative(
            self.host.generation, int(data["H"]), str(data.get("type", "object")), self.host
        )


@dataclass(frozen=True)
class HostedNative(Native):
    """A native held by ``owner``; ``numpy()`` reads it back there (as the checks read a
    torch tensor or a TensorFlow tensor back)."""

    owner: ImplementationHost

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def numpy(self) -> np.ndarray:
        if self.host != self.owner.generation:
            raise HostEnded(f"a {self.type_name} made by an earlier process of this implementation")
        reply = self.owner.request({"op": "native", "ref": self.ref}, what="reading a native back")
        value = reply.get("value")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"a {self.type_name} that does not read back as numpy")
        return value


SOCKET_BUFFER_BYTES = 4 << 20
"""Asked of each end of a host's socket (the kernel caps it at ``net.core.wmem_max``): a
tutorial-sized ``params()``, 400 KB in float32, then crosses in one piece; with the default
208 KiB the reader woke for each piece (the call took about a fifth longer here)."""


def _proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command's name; None without it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (``/proc/PID/task/*/children`` is not in every
    kernel: every process's parent is read instead)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _proc_stat(int(entry.name))
                if stat is not None and len(stat) > 1 and int(stat[1]) == pid:
                    found.append(int(entry.name))
    return found


def widen(end: socket.socket) -> None:
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        with contextlib.suppress(OSError):
            end.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)


class ImplementationHost:
    """One implementation's host process, started on first use and after it ended."""

    def __init__(self, name: str, load: dict[str, Any]) -> None:
        self.name = name
        self.load_request = load  # what the host is told to import
        self.process: forking.HostProcess | None = None
        self.channel: Channel | None = None
        self.generation = 0
        self.loaded: dict[str, Any] | None = None
        self.tracked: dict[int, Tracked] = {}
        self.released: list[int] = []
        self.dead: list[tuple[int, int, object]] = []  # (sync, generation, weakref) let go of
        self.paused = False
        self.folder: str | None = None  # its private working and temp folder
        self.protections: dict[str, str] = {}  # what its confinement achieved (confinement)
        self.crossing_bound_s = 0.0  # set by each start, before the implementation is imported
        self._clock = time.perf_counter  # bound now: nothing imported later can swap it

    # -- the process
    def start(self) -> dict[str, Any]:
        """Start a process, load the implementation in it, and return what it declared."""
        if self.process is not None or self.channel is not None:
            # One that ended on its own, unseen by any call (a thread of its own exited it
            # between calls): its socket is closed, not left to the garbage collector, and
            # what it held goes with it (a new generation), as when a call sees it end.
            self.kill()
        parent, child = socket.socketpair()
        for end in (parent, child):
            widen(end)
        if self.folder is None:  # one per implementation and run: a restart finds it again
            self.folder = tempfile.mkdtemp(prefix=f"twolayer-host-{self.name}-")
        try:
            self.process = forking.start(child, self.folder)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.channel = Channel(parent)
        self.paused = False
        self.tracked.clear()
        self.released.clear()
        self.dead.clear()
        found = self.request({"op": "protections"}, what="confining it").get("protections")
        if type(found) is not dict or not all(type(v) is str for v in found.values()):
            self.kill()
            raise HostBroken("the implementation's process broke the protocol (protections)")
        self.protections = {str(k): v for k, v in found.items()}
        self.crossing_bound_s = self.trusted_crossing()
        self.loaded = self.request({"op": "load", **self.load_request}, what="importing it")
        return self.loaded

    def trusted_crossing(self) -> float:
        """:data:`CROSSING_MARGIN` times the median of :data:`TRUSTED_ROUND_TRIPS` empty round
        trips, timed here before the implementation is imported: the most a benchmark may take
        off its steps for a crossing (see :mod:`pytest_twolayer.benchmarking.crossing`)."""
        samples = []
        for _ in range(TRUSTED_ROUND_TRIPS):
            start = self._clock()
            self.request({"op": "echo"}, what="a round trip", args=[])
            samples.append(self._clock() - start)
        return CROSSING_MARGIN * statistics.median(samples)

    def remove_folder(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure(self) -> dict[str, Any]:
        if self.process is None or self.process.poll() is not None or self.loaded is None:
            return self.start()
        return self.loaded

    def kill(self) -> None:
        """End the process now, whatever it is doing; its whole session goes with it."""
        process, self.process = self.process, None
        self.generation += 1  # what the process held (instances, natives) is gone with it
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.loaded = None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
            os.killpg(process.pid, signal.SIGCONT)  # a stopped group dies only once resumed
        except (ProcessLookupError, PermissionError):  # not yet in a session of its own
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def close(self) -> None:
        """The end of the run for this host: killed, not asked to exit, so that none of its
        code (an ``atexit`` handler, a ``finally``) runs after its last check; its private
        folder goes with it."""
        self.kill()
        self.remove_folder()

    def pause(self) -> None:
        """Stop the host's whole process group: between its implementation's checks none of
        its threads or children may run (and burn a neighbour's benchmark)."""
        if not self.paused:
            self._signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.paused:
            self._signal(signal.SIGCONT)
            self.paused = False

    def _signal(self, number: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, number)

    # -- arrays shared with the caller
    def track(self, sync: int, array: np.ndarray) -> None:
        def released(ref: object, sync: int = sync, generation: int = self.generation) -> None:
            # Only noted here: a weakref callback runs wherever the array's last reference
            # goes, the garbage collector's passes included, which can fall inside a loop over
            # ``tracked`` (and changing it there raised "dictionary changed size").
            self.dead.append((sync, generation, ref))

        self.tracked[sync] = Tracked(weakref.ref(array, released), array.tobytes())

    def prune(self) -> None:
        """Forget the tracked arrays the caller let go of, and tell the host with the next
        request (``release``). An entry is forgotten only if it is still the one that died:
        a sync tracked again for a new array keeps it."""
        while self.dead:
            sync, generation, ref = self.dead.pop()
            entry = self.tracked.get(sync)
            if generation == self.generation and entry is not None and entry.array is ref:
                del self.tracked[sync]
                self.released.append(sync)

    def writes(self, encoder: Encoder) -> list[list[int]]:
        """What the caller wrote into returned arrays since the last sync."""
        self.prune()
        changed = []
        for sync, tracked in list(self.tracked.items()):
            array = tracked.array()
            if array is None:
                continue
            now = array.tobytes()  # C order, as the host reads it back
            if now != tracked.seen:
                changed.append([sync, encoder.buffer(now)])
                tracked.seen = now
        return changed

    def apply_updates(self, reply: dict[str, Any], buffers: list[Frame]) -> None:
        for sync, index in reply.get("updates", []):
            tracked = self.tracked.get(sync)
            array = tracked.array() if tracked is not None else None
            if tracked is None or array is None:
                continue
            raw = Decoder(buffers).buffer(index)
            new = np.frombuffer(raw, dtype=array.dtype)
            if new.size != array.size:
                raise HostBroken(f"an update of {new.size} values for an array of {array.size}")
            writeable = array.flags.writeable
            array.flags.writeable = True
            array[...] = new.reshape(array.shape)
            array.flags.writeable = writeable
            tracked.seen = array.tobytes()

    @staticmethod
    def apply_mutations(
        reply: dict[str, Any], buffers: list[Frame], arguments: dict[int, np.ndarray]
    ) -> None:
        """Write what a call did to its arguments' memory into the caller's arrays."""
        for token, index in reply.get("mutated", []):
            memory = arguments.get(token)
            raw = Decoder(buffers).buffer(index)
            if memory is None or len(raw) != memory.size:
                raise HostBroken("a mutation of an argument that was not sent")
            if memory.flags.writeable:
                memory[...] = np.frombuffer(raw, dtype=np.uint8)

    # -- requests
    def request(
        self,
        header: dict[str, Any],
        *,
        what: str,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its reply; raises what the call raised (rebuilt)."""
        if self.channel is None:
            raise HostEnded(f"{what}: the implementation's process is not running")
        self.resume()  # a ratio gate's reference runs in another implementation's test
        encoder = JudgeEncoder(self)
        if args is not None:
            header = {**header, "args": encoder.encode(args)}
        if kwargs is not None:
            header = {**header, "kwargs": encoder.encode(kwargs)}
        header = {**header, "writes": self.writes(encoder), "release": self.released}
        self.released = []
        try:
            self.channel.send(header, encoder.buffers)
            reply, buffers = self.channel.receive()
        except ChannelClosed:
            raise HostEnded(f"{self.ended()} during {what}") from None
        except (DecodeError, OSError) as exc:
            self.kill()
            raise HostBroken(f"the implementation's process broke the protocol ({exc})") from None
        except BaseException:
            self.kill()  # the time limit, Ctrl-C: the host is killed, not asked
            raise
        try:
            self.apply_mutations(reply, buffers, encoder.arguments)
            self.apply_updates(reply, buffers)
            if "value" in reply:
                reply["value"] = JudgeDecoder(self, buffers).decode(reply["value"])
        except (DecodeError, KeyError, TypeError, ValueError) as exc:
            self.kill()
            raise HostBroken(f"the implementation's process broke the protocol ({exc})") from None
        if "raised" in reply:
            if type(reply["raised"]) is not dict:
                self.kill()
                raise HostBroken("the implementation's process broke the protocol")
            raise remote_error(reply["raised"])
        if "error" in reply:
            raise HostBroken(str(reply["error"]))
        return reply

    def minor_faults(self) -> int:
        """The host's minor page faults so far, as the kernel counts them (``/proc``): read
        here, not asked of the host."""
        if self.process is None:
            raise HostEnded("the implementation's process is not running")
        stat = _proc_stat(self.host_pid())
        return 0 if stat is None else int(stat[7])  # minflt: the 8th field after the name

    def host_pid(self) -> int:
        """The process the implementation runs in. In a PID namespace (its start reported one,
        before the implementation was imported) that is the grandchild of the process
        started: the namespace's first process waits between them (child.py)."""
        pid = self.process.pid if self.process is not None else 0
        if not self.protections.get("processes", "").startswith("a PID namespace"):
            return pid
        for _ in range(2):
            children = _children_of(pid)
            if len(children) != 1:
                break  # gone, or no /proc (macOS): the figure reads 0 faults
            pid = children[0]
        return pid

    def ended(self) -> str:
        """How the process ended, once its end closed the channel: it is given a moment to
        finish ending on its own (a confined host's waiting parents pass its status on), then
        killed and reaped."""
        process = self.process
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=ENDING_S)
        self.kill()  # reaps it: its exit status is known after
        code = None if process is None else process.returncode
        if code is None:
            return "the implementation's process ended"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the implementation's process was killed by {name}"
        return f"the implementation's process exited with status {code}"
