"""The implementation host: the child process that imports one implementation and makes every
contract call on it, answering the judging process with plain data.

Run as ``python -m pytest_twolayer.sealed.child FD``, FD one end of a socket pair. Nothing here
is trusted by the judge: the implementation may rewrite any of it. What the judge relies on
is only that whatever comes back is decoded as data (:mod:`.values`), and that it can kill
this process.

Arrays keep the semantics of one process. An argument is rebuilt with its layout over a copy
of all the memory behind it, and what a call writes there is sent back and written into the
judge's array. An array the host returns is kept here: what the caller writes into its copy is
written into the original before the next call (so a ``params()`` that returns views into the
net is caught by the caller's writes), and what a later call writes into the original is sent
back into the caller's copy.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import sys
import traceback
from typing import Any, NoReturn

import numpy as np

from pytest_twolayer.benchmarking.memory import read_all
from pytest_twolayer.benchmarking.sync import synchronizer
from pytest_twolayer.sealed.channel import Channel, ChannelClosed
from pytest_twolayer.sealed.confinement import confine
from pytest_twolayer.sealed.values import Decoder, Encoder, Frame
from pytest_twolayer.spec.dims import Dims

BUILTIN_ERRORS = {
    cls.__name__: cls
    for cls in (
        ArithmeticError, AssertionError, AttributeError, BufferError, EOFError, FloatingPointError,
        ImportError, IndexError, KeyError, LookupError, MemoryError, ModuleNotFoundError,
        NameError, NotImplementedError, OSError, OverflowError, RecursionError, RuntimeError,
        TypeError, UnboundLocalError, ValueError, ZeroDivisionError, KeyboardInterrupt,
        SystemExit, Exception, BaseException,
    )
}  # fmt: skip
"""The exception types a judge recreates by name; any other is its nearest such base."""


class HostEncoder(Encoder):
    """Replies: arrays are kept for two-way sync, anything else the host holds is a handle."""

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host

    def array(self, value: np.ndarray) -> Any:
        raw = value.tobytes()  # sent, and kept as what the caller last saw: one copy
        data = self.array_of(value, raw)
        data["sync"] = self.host.retain(value, raw)
        data["ro"] = not value.flags.writeable
        return data


class HostDecoder(Decoder):
    """Requests: arguments rebuilt with their layout, natives and instances by reference."""

    def __init__(self, host: Host, buffers: list[Frame]) -> None:
        super().__init__(buffers)
        self.host = host

    def decode(self, data: Any, depth: int = 0) -> Any:
        if type(data) is dict and "Dims" in data:
            return Dims(*(int(n) for n in data["Dims"]))
        if type(data) is dict and "V" in data:
            return self.host.argument(self, data)
        return super().decode(data, depth)

    def native(self, data: dict[str, Any]) -> Any:
        return self.host.objects[int(data["H"])]


class Host:
    """The objects of one implementation: instances, natives, arrays it returned."""

    def __init__(self, channel: Channel, protections: dict[str, str] | None = None) -> None:
        self.channel = channel
        self.protections = dict(protections or {})  # as found before the implementation
        self.cls: Any = None
        self.objects: dict[int, Any] = {}
        self.next_ref = 1
        # sync id -> (the array, its shape and bytes when last synced; compared bitwise, as
        # the judge compares its copies: see host.Tracked)
        self.retained: dict[int, tuple[np.ndarray, tuple[int, ...], bytes]] = {}
        self.sync_of: dict[int, int] = {}  # id(array) -> sync id
        self.arguments: list[tuple[int, np.ndarray, bytes]] = []  # (token, its bytes, as sent)
        self.mark: Any = None  # the process-global state at the start of a test

    # -- references
    def keep(self, obj: Any) -> int:
        ref = self.next_ref
        self.next_ref += 1
        self.objects[ref] = obj
        return ref

    def retain(self, array: np.ndarray, raw: bytes) -> int:
        """The sync id of ``array``, returned now with the bytes ``raw``."""
        sync = self.sync_of.get(id(array))
        if sync is None or self.retained.get(sync, (None,))[0] is not array:
            sync = self.next_ref
            self.next_ref += 1
            self.sync_of[id(array)] = sync
        self.retained[sync] = (array, array.shape, raw)
        return sync

    def argument(self, decoder: HostDecoder, data: dict[str, Any]) -> np.ndarray:
        """The caller's array rebuilt as one process would see it: the array that owns its
        memory (same dtype, shape and order, holding a copy of every byte behind it), and
        the argument as that array itself or as a view into it (``a.base`` is that array)."""
        sent = bytes(decoder.buffer(data["V"]))
        owner = data["base"]
        base_dtype = decoder.numeric_dtype(owner["dtype"])
        shape = tuple(int(n) for n in owner["shape"])
        base: np.ndarray = np.empty(shape, base_dtype, order="F" if owner["order"] == "F" else "C")
        memory = base.reshape(-1, order="A").view(np.uint8)  # every byte of it, in memory order
        if memory.size != len(sent):
            raise ValueError(f"an argument of {memory.size} bytes sent in {len(sent)}")
        memory[...] = np.frombuffer(sent, dtype=np.uint8)
        if owner.get("is_value") is True:
            array = base
        else:
            array = np.ndarray(
                tuple(int(n) for n in data["shape"]),
                dtype=decoder.numeric_dtype(data["dtype"]),
                buffer=base,
                offset=int(data["offset"]),
                strides=tuple(int(n) for n in data["strides"]),
            )
        if data.get("ro"):
            array.flags.writeable = False
        self.arguments.append((int(data["token"]), memory, sent))
        return array

    def release(self, refs: list[int]) -> None:
        """Let go of what the caller let go of, before the request runs: nothing of it may be
        held while the request reads the memory (a local holding the last array released
        counted 1.6 MB of ``params()`` as the implementation's at the first reading)."""
        for ref in refs:
            self.objects.pop(ref, None)
            array = self.retained.pop(ref, (None,))[0]
            if array is not None:
                self.sync_of.pop(id(array), None)

    # -- one request
    def serve(self) -> None:
        while True:
            try:
                header, buffers = self.channel.receive()
            except ChannelClosed:
                return
            reply, reply_buffers = self.handle(header, buffers)
            self.channel.send(reply, reply_buffers)
            if header.get("op") == "exit":
                return
            # Nothing of one request is held while the next is awaited: a memory reading
            # between rounds counted the arrays the last reply sent (1.5 MB of params() and
            # gradients() at the tutorial's dims) as the implementation's.
            del header, buffers, reply, reply_buffers

    def handle(
        self, header: dict[str, Any], buffers: list[Frame]
    ) -> tuple[dict[str, Any], list[Any]]:
        decoder = HostDecoder(self, buffers)
        self.apply_writes(header, decoder)
        self.release([int(ref) for ref in header.get("release", [])])
        encoder = HostEncoder(self)
        op = header.get("op")
        reply: dict[str, Any] = {}
        try:
            if op == "load":
                reply = self.load(header)
            elif op == "new":
                args = decoder.decode(header["args"])
                kwargs = decoder.decode(header["kwargs"])
                reply = {"ref": self.keep(self.cls(*args, **kwargs))}
            elif op == "call":
                target = self.objects[int(header["ref"])]
                args = decoder.decode(header["args"])
                method = str(header["method"])
                result = getattr(target, method)(*args)
                if method == "to_device":  # the native form stays here, whatever it is
                    reply = {"value": {"H": self.keep(result), "type": type(result).__name__}}
                else:
                    reply = {"value": self.encode_result(encoder, result)}
            elif op == "steps":  # timed: each step synced, its work done, not only launched
                reply = self.timed_round(header, decoder, encoder)
            elif op == "native":
                reply = {"value": encoder.encode(to_numpy(self.objects[int(header["ref"])]))}
            elif op == "mark":
                reply = self.mark_state()
            elif op == "state":
                reply = self.state_since_mark()
            elif op == "culprits":
                reply = self.culprits(header)
            elif op == "protections":  # asked before the implementation is imported
                reply = {"protections": self.protections}  # plain JSON, not a value
            elif op == "echo":  # a timed step's crossing, with nothing called
                decoder.decode(header["args"])
                reply = {"value": None}
            elif op == "memory":
                reply = {"value": read_all(str(header["device"]))}
            elif op in ("exit", "ping"):
                reply = {}
            else:
                reply = {"error": f"unknown op {op!r}"}
        except BaseException as exc:  # the implementation's exit or Ctrl-C is its verdict too
            reply = {"raised": describe_exception(exc)}
        reply["mutated"] = self.mutated_arguments(encoder)
        reply["updates"] = self.updated_returns(encoder)
        return reply, encoder.buffers

    def timed_round(
        self, header: dict[str, Any], decoder: HostDecoder, encoder: HostEncoder
    ) -> dict[str, Any]:
        """A round of the benchmark: ``count`` synced steps back to back, their losses as
        values. A step that raises ends the round: what came before is kept, and the exception
        is described beside it, so the judge names the step that raised. Nothing else runs
        between the steps: reading the memory (``mallinfo2``, 12 us here) would be timed too,
        where one process reads it untimed; the judge reads it between rounds."""
        target = self.objects[int(header["ref"])]
        args = decoder.decode(header["args"])
        device = str(header["sync"])
        sync = synchronizer(device)
        losses: list[Any] = []
        failed: dict[str, Any] | None = None
        collecting = gc.isenabled()
        gc.disable()  # as the judge does around a timed run in one process
        try:
            for _ in range(int(header["count"])):
                try:
                    loss = target.step(*args)
                    sync()
                except BaseException as exc:
                    failed = describe_exception(exc)
                    break
                # As data at once: one process drops a returned loss when it has read it, so
                # keeping the round's objects would show in the memory read before each step.
                losses.append(self.encode_result(encoder, loss))
                del loss
        finally:
            if collecting:
                gc.enable()
        reply: dict[str, Any] = {"value": losses}
        if failed is not None:
            reply["failed"] = failed
        return reply

    def encode_result(self, encoder: HostEncoder, result: Any) -> Any:
        """The result as data; what is not data stays here as a native, by reference."""
        if result is None or type(result) in (bool, int, float, str, list, tuple, dict):
            return encoder.encode(result)
        if type(result) is np.ndarray and result.dtype.kind in "biufc":
            return encoder.encode(result)
        if isinstance(result, np.generic):
            return encoder.encode(result)
        return {"H": self.keep(result), "type": type(result).__name__}

    def apply_writes(self, header: dict[str, Any], decoder: HostDecoder) -> None:
        """What the caller wrote into arrays this host returned, into their originals."""
        for sync, index in header.get("writes", []):
            kept = self.retained.get(int(sync))
            if kept is None:
                continue
            original = kept[0]
            raw = decoder.buffer(index)
            new = np.frombuffer(raw, dtype=original.dtype).reshape(original.shape)
            if original.flags.writeable:
                np.copyto(original, new)
            self.retained[int(sync)] = (original, original.shape, original.tobytes())

    def mutated_arguments(self, encoder: Encoder) -> list[list[int]]:
        """The arguments of this request whose memory the call changed."""
        changed = []
        for token, memory, sent in self.arguments:
            now = memory.tobytes()  # compared bitwise, as the judge compares (host.Tracked)
            if now != sent:
                changed.append([token, encoder.buffer(now)])
        self.arguments = []
        return changed

    def updated_returns(self, encoder: Encoder) -> list[list[int]]:
        """Arrays returned earlier whose originals changed since (views into the net)."""
        updates = []
        for sync, (original, shape, seen) in list(self.retained.items()):
            now = original.tobytes()  # C order, whatever the array's layout
            if original.shape != shape or now != seen:
                updates.append([sync, encoder.buffer(now)])
                self.retained[sync] = (original, original.shape, now)
        return updates

    # -- process-global state, judged here where the implementation runs
    def mark_state(self) -> dict[str, Any]:
        from pytest_twolayer.hygiene import state

        self.mark = state.snapshot()
        return {}

    def state_since_mark(self) -> dict[str, Any]:
        """What changed since the mark, set back (as the guard does between tests)."""
        from pytest_twolayer.hygiene import state

        mark, self.mark = self.mark, None
        if mark is None:
            return {"changes": []}
        found = state.changes(mark, state.snapshot())
        if found:
            found = state.restore(mark, found)
        return {"changes": [str(change) for change in found]}

    def culprits(self, header: dict[str, Any]) -> dict[str, Any]:
        """The contract calls that change the state, each made once more and watched."""
        from pytest_twolayer.checking.case import Case
        from pytest_twolayer.hygiene import state

        dims = Dims(*(int(n) for n in header["dims"]))
        case = Case(
            str(header["name"]),
            self.cls,
            str(header["device"]),
            str(header["dtype"]),
            int(header["seed"]),
            dims,
        )
        return {"culprits": [str(c) for c in state.calls_that_change_state(case)]}

    def load(self, header: dict[str, Any]) -> dict[str, Any]:
        """Import the implementation and describe it, or say in one line why it cannot be."""
        from pytest_twolayer.run.registry import RegistrationError, Spec
        from pytest_twolayer.run.selection import Declared

        sys.path[:] = [str(p) for p in header.get("path", sys.path)]
        name, target, source = (str(header[key]) for key in ("name", "target", "source"))
        spec = Spec(name, target, source, loader_of(name, target, source))
        try:
            cls = spec.load()
        except RegistrationError as exc:
            return {"load_error": str(exc)}
        self.cls = cls
        return {
            "declared": Declared.of(cls).to_json(),
            "class": {
                "name": cls.__name__,
                "qualname": cls.__qualname__,
                "module": cls.__module__,
                "source": source_of(cls),
            },
            "optimizer": optimizer_data(cls.optimizer),
        }


def loader_of(name: str, target: str, source: str) -> Any:
    """The loader the registration has in one process, so that a failure reads the same: an
    entry point's own ``load``; an import path (a class registered as an object is found by
    its module and qualified name) for the others."""
    import importlib.metadata

    from pytest_twolayer.run.registry import ENTRY_POINT, ENTRY_POINT_GROUP, import_path_loader

    if source == ENTRY_POINT:
        return importlib.metadata.EntryPoint(name, target, ENTRY_POINT_GROUP).load
    return import_path_loader(target)


def source_of(cls: type) -> list[Any] | None:
    """Where the class is defined (file, line), for a warning the judge raises at it."""
    import inspect

    try:
        return [inspect.getsourcefile(cls) or "<unknown>", inspect.getsourcelines(cls)[1]]
    except Exception:  # a built class, a zip: the warning says it all without it
        return None


def optimizer_data(rule: Any) -> dict[str, Any]:
    """The declared update as data, for the judge to rebuild a ``tl.SGD`` or ``tl.Adam``."""
    from pytest_twolayer.spec.optimizers import SGD, Adam

    if isinstance(rule, SGD):
        return {"kind": "SGD", "lr": float(rule.lr), "momentum": float(rule.momentum)}
    if isinstance(rule, Adam):
        return {
            "kind": "Adam",
            "lr": float(rule.lr),
            "betas": [float(b) for b in rule.betas],
            "eps": float(rule.eps),
        }
    return {"kind": "unknown", "repr": repr(rule)}


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """What a judge needs to raise the same verdict: the type's name, its nearest built-in
    base, and the message's first line."""
    base = next(
        (c.__name__ for c in type(exc).__mro__ if BUILTIN_ERRORS.get(c.__name__) is c), "Exception"
    )
    try:
        text = str(exc)
    except Exception:
        text = ""
    return {
        "type": type(exc).__name__,
        "base": base,
        "message": text[:2000],
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }


def to_numpy(native: Any) -> np.ndarray | None:
    """A numpy copy of a native array (numpy, torch, TensorFlow), or None if unknown."""
    for read in (
        lambda: native.detach().cpu().numpy(),  # torch
        lambda: native.numpy(),  # TensorFlow eager
        lambda: np.asarray(native),
    ):
        try:
            array = np.array(read(), copy=True)
        except Exception:
            continue
        if array.dtype.kind in "biufc":
            return array
    return None


def die_with_the_judge(judge: int) -> None:
    """Ask Linux to kill this process when the judging process dies (it may be killed with
    no chance to end its hosts); elsewhere the host ends when its socket closes."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != judge:  # it died before the request took effect
        os._exit(1)


def enter_the_pid_namespace(channel_fd: int) -> None:
    """Start the new PID namespace's first process, which starts the host as its second and
    returns there; this process and the first only wait. The implementation must not be the
    first process: a namespace's first process ignores the signals it sends itself (an
    ``os.kill(os.getpid(), SIGSEGV)`` would return). The first reports how the host ended
    through a pipe and exits, ending every process left in the namespace; this process then
    ends as the host ended (the same status or signal), so the judge reads the host's end."""
    report, told = os.pipe()
    first = os.fork()
    if first == 0:
        os.close(report)
        _die_with_parent()
        host = os.fork()
        if host == 0:
            os.close(told)
            _die_with_parent()
            return
        os.close(channel_fd)
        _, status = os.waitpid(host, 0)
        os.write(told, str(status).encode())
        os._exit(0)
    os.close(told)
    os.close(channel_fd)
    os.waitpid(first, 0)
    said = os.read(report, 32)
    end_as(int(said) if said.strip().isdigit() else None)


def end_as(status: int | None) -> NoReturn:
    """Exit as a process that ended with wait ``status`` did (None: killed)."""
    code = -int(signal.SIGKILL) if status is None else os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


def serve_confined(sock: socket.socket, folder: str | None) -> None:
    """Confine this process (before anything of the implementation is imported), then serve
    the judge on ``sock`` until it closes."""
    protections: dict[str, str] = {}
    if folder is not None:
        protections, forks = confine(folder)
        if forks:
            enter_the_pid_namespace(sock.fileno())
    Host(Channel(sock), protections).serve()


def forked_main(sock: socket.socket, folder: str) -> NoReturn:
    """A host forked by the fork server (:mod:`.fork_server`): a session of its own (the
    judge stops and kills it by its process group), dead with the server, which dies with the
    judge; it never returns into the server's code."""
    os.setsid()
    server = os.getppid()
    _die_with_parent()
    if os.getppid() != server:  # the server died before the request took effect
        os._exit(1)
    try:
        serve_confined(sock, folder)
    finally:
        os._exit(0)


def main(argv: list[str]) -> int:
    if len(argv) > 2:
        die_with_the_judge(int(argv[2]))
    sock = socket.socket(fileno=int(argv[1]))
    serve_confined(sock, argv[3] if len(argv) > 3 else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
