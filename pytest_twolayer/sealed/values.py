"""What crosses between the judging process and an implementation host: a closed set of
plain values, encoded as JSON plus raw array buffers.

Nothing is pickled: unpickling what the host sends would run the host's code in the judge.
Anything outside the set (a tensor, a list subclass, a custom float) arrives as an
:class:`Opaque` whose class carries the original type's name, so that a check's message
(``forward(x) returned Tensor, expected numpy.ndarray``) reads as it would in one process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC_KINDS = "biufc"
"""Array and scalar dtype kinds that cross as data: bool, ints, unsigned, floats, complex."""

MAX_DEPTH = 32
"""Containers nested deeper than this cross as opaque values (a hostile host could send a
structure that exhausts the judge's stack)."""


Frame = bytes | bytearray
"""A frame as it arrives: the channel hands its bytearray on, uncopied."""


class Opaque:
    """A value the host could not send as data: only its type's name and a short repr.

    :func:`opaque` makes a subclass per type name, so ``type(value).__name__`` is the name of
    the host's type, as a check's message expects.
    """

    type_name = "object"

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_OPAQUE_TYPES: dict[str, type[Opaque]] = {}


def opaque(type_name: str, text: str) -> Opaque:
    """An :class:`Opaque` whose class is named ``type_name``."""
    safe = type_name if type_name.isidentifier() else "object"
    cls = _OPAQUE_TYPES.get(safe)
    if cls is None:
        cls = type(safe, (Opaque,), {"type_name": safe})
        _OPAQUE_TYPES[safe] = cls
    return cls(text)


@dataclass(frozen=True)
class Native:
    """A host-side object (what ``to_device`` returned) named by its id; only its host can
    use it. ``type_name`` is for messages."""

    host: int  # the id of the host that holds it
    ref: int
    type_name: str


class Encoder:
    """Turns values into JSON-able data plus the array buffers it refers to by index.
    ``array`` and ``other`` decide what an array and a value outside the set become (the
    host keeps them; the judge refuses them)."""

    def __init__(self) -> None:
        self.buffers: list[bytes | memoryview] = []

    def buffer(self, data: bytes | memoryview) -> int:
        self.buffers.append(data)
        return len(self.buffers) - 1

    def encode(self, value: Any, depth: int = 0) -> Any:
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            return {"f": repr(value)}  # JSON has no inf or nan; repr round-trips exactly
        if depth > MAX_DEPTH:
            return self.other(value)
        if type(value) is list:
            return [self.encode(v, depth + 1) for v in value]
        if type(value) is tuple:
            return {"T": [self.encode(v, depth + 1) for v in value]}
        if type(value) is dict:
            return {
                "D": [
                    [self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()
                ]
            }
        if type(value) is np.ndarray and value.dtype.kind in NUMERIC_KINDS:
            return self.array(value)
        if (
            isinstance(value, np.generic)
            and type(value) is np.dtype(type(value)).type
            and value.dtype.kind in NUMERIC_KINDS
        ):
            return {"S": value.dtype.str, "b": self.buffer(value.tobytes())}
        return self.other(value)

    def array(self, value: np.ndarray) -> Any:
        return self.array_of(value, value.tobytes())  # C order, whatever the layout

    def array_of(self, value: np.ndarray, raw: bytes) -> Any:
        """``value`` as data, its values being ``raw`` (its bytes in C order)."""
        return {"A": self.buffer(raw), "dtype": value.dtype.str, "shape": list(value.shape)}

    def other(self, value: Any) -> Any:
        return {"O": type(value).__name__, "repr": _short_repr(value)}


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a hostile __repr__ must not break the host's reply
        text = f"<{type(value).__name__}: repr raised {type(exc).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


class DecodeError(ValueError):
    """What arrived is not a value of the set (a broken or hostile host)."""


class Decoder:
    """Turns that data and its buffers back into values; ``native`` and ``array`` may be
    specialised by each side (handles, tracked arrays)."""

    def __init__(self, buffers: list[Frame]) -> None:
        self.buffers = buffers

    def decode(self, data: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH + 1:
            raise DecodeError("values nested too deep")
        if data is None or type(data) in (bool, int, str):
            return data
        if type(data) is list:
            return [self.decode(v, depth + 1) for v in data]
        if type(data) is not dict or len(data) == 0:
            raise DecodeError(f"not a value: {type(data).__name__}")
        if "f" in data:
            return float(data["f"])
        if "T" in data:
            return tuple(self.decode(v, depth + 1) for v in data["T"])
        if "D" in data:
            return {self._key(k, depth): self.decode(v, depth + 1) for k, v in data["D"]}
        if "A" in data:
            return self.array(data)
        if "S" in data:
            dtype = self.numeric_dtype(data["S"])
            return np.frombuffer(self.buffer(data["b"]), dtype=dtype, count=1)[0]
        if "O" in data:
            return opaque(str(data["O"]), str(data.get("repr", "")))
        if "H" in data:
            return self.native(data)
        raise DecodeError(f"unknown value tag {sorted(data)!r}")

    def _key(self, key: Any, depth: int) -> Any:
        value = self.decode(key, depth + 1)
        try:
            hash(value)
        except TypeError:
            raise DecodeError("an unhashable dict key") from None
        return value

    def buffer(self, index: Any) -> Frame:
        if type(index) is not int or not 0 <= index < len(self.buffers):
            raise DecodeError(f"no buffer {index!r}")
        return self.buffers[index]

    @staticmethod
    def numeric_dtype(text: Any) -> np.dtype[Any]:
        try:
            dtype = np.dtype(str(text))
        except TypeError:
            raise DecodeError(f"not a dtype: {text!r}") from None
        if dtype.kind not in NUMERIC_KINDS:
            raise DecodeError(f"not a numeric dtype: {text!r}")
        return dtype

    def array(self, data: dict[str, Any]) -> np.ndarray:
        dtype = self.numeric_dtype(data["dtype"])
        shape = tuple(int(n) for n in data["shape"])
        raw = self.buffer(data["A"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dtype.itemsize != len(raw):
            raise DecodeError(f"an array of {shape} {dtype} in {len(raw)} bytes")
        array: np.ndarray = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return array

    def native(self, data: dict[str, Any]) -> Any:
        raise DecodeError("a native object where none can be")


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def loads(raw: Frame) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"not JSON: {exc}") from None
