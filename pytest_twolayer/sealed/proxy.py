"""A stand-in class for an implementation that lives in a host: the checks see the contract
(class attributes, the constructor, the six methods) and every call is made in the host.

The class attributes are rebuilt here from what the host declared (``tl.SGD``/``tl.Adam`` made
anew from numbers), so nothing of the implementation's own objects reaches the judge. A
native object (what ``to_device`` returned) is a :class:`~.values.Native` handle; reading it
back as numpy (``np.asarray(native)``) asks the host.
"""

from __future__ import annotations

from typing import Any

from pytest_twolayer.benchmarking.crossing import Remote
from pytest_twolayer.sealed.host import HostBroken, HostEnded, ImplementationHost, remote_error
from pytest_twolayer.spec.contract import METHODS
from pytest_twolayer.spec.optimizers import SGD, Adam


def rebuild_optimizer(data: dict[str, Any]) -> SGD | Adam:
    if data.get("kind") == "SGD":
        return SGD(lr=float(data["lr"]), momentum=float(data["momentum"]))
    if data.get("kind") == "Adam":
        beta1, beta2 = (float(b) for b in data["betas"])
        return Adam(lr=float(data["lr"]), betas=(beta1, beta2), eps=float(data["eps"]))
    raise HostBroken(f"an optimizer the contract does not know: {data!r}")


class HostedInstance(Remote):
    """An instance living in ``host``, named by its reference there."""

    _host: ImplementationHost
    _ref: int
    _generation: int

    def _request(self, header: dict[str, Any], what: str, args: list[Any]) -> Any:
        if self._generation != self._host.generation:
            raise HostEnded("this instance's process ended in an earlier call")
        return self._host.request({**header, "ref": self._ref}, what=what, args=args)

    def _call(self, method: str, *args: Any) -> Any:
        reply = self._request({"op": "call", "method": method}, f"{method}()", list(args))
        return reply["value"]

    # -- what the benchmark needs (benchmarking.crossing.Remote)
    def _twolayer_round_trip(self, *args: Any) -> None:
        self._request({"op": "echo"}, "a round trip", list(args))

    def _twolayer_steps(
        self, device: str, count: int, *args: Any
    ) -> tuple[list[Any], Exception | None]:
        reply = self._request(
            {"op": "steps", "sync": device, "count": count},
            "step()" if count == 1 else f"{count} steps()",
            list(args),
        )
        losses, failed = reply["value"], reply.get("failed")
        if type(losses) is not list or len(losses) > count:
            raise HostBroken(f"a round of {count} steps answered with {losses!r:.80}")
        if failed is not None and (type(failed) is not dict or len(losses) == count):
            raise HostBroken(f"a round of {count} steps answered with {failed!r:.80}")
        return losses, None if failed is None else remote_error(failed)

    def _twolayer_crossing_bound(self) -> float:
        return self._host.crossing_bound_s

    def _twolayer_memory(self, device: str) -> list[int]:
        reply = self._request({"op": "memory", "device": device}, "reading its memory", [])
        return _readings(reply.get("value"))

    def _twolayer_minor_faults(self) -> int:
        return self._host.minor_faults()

    def __del__(self) -> None:
        try:
            if self._generation == self._host.generation:
                self._host.released.append(self._ref)
        except Exception:
            pass


def _readings(readings: Any) -> list[int]:
    if type(readings) is not list or not all(type(n) is int for n in readings):
        raise HostBroken(f"memory readings that are not whole numbers: {readings!r:.80}")
    return readings


def _source(found: Any) -> tuple[str, int] | None:
    """The file and line the host found the class at (only a warning's location: the host
    could name any)."""
    if type(found) is list and len(found) == 2 and type(found[0]) is str and type(found[1]) is int:
        return found[0], found[1]
    return None


def _method(name: str) -> Any:
    def call(self: HostedInstance, *args: Any) -> Any:
        return self._call(name, *args)

    call.__name__ = call.__qualname__ = name
    return call


def hosted_class(host: ImplementationHost, loaded: dict[str, Any]) -> type:
    """A class with the implementation's name and declarations whose instances live in
    ``host``."""
    declared = loaded["declared"]
    names = loaded["class"]

    def construct(self: HostedInstance, *args: Any, **kwargs: Any) -> None:
        host.ensure()
        reply = host.request({"op": "new"}, what="__init__()", args=list(args), kwargs=kwargs)
        object.__setattr__(self, "_host", host)
        object.__setattr__(self, "_ref", int(reply["ref"]))
        object.__setattr__(self, "_generation", host.generation)

    namespace: dict[str, Any] = {
        "__init__": construct,
        "__module__": str(names["module"]),
        "__qualname__": str(names["qualname"]),
        "__doc__": f"{names['qualname']}, running in its own process (sealed verdicts).",
        "devices": tuple(declared["devices"]),
        "dtypes": tuple(declared["dtypes"]),
        "depths": tuple(int(d) for d in declared["depths"]),
        "optimizer": rebuild_optimizer(loaded["optimizer"]),
        "_twolayer_source": _source(names.get("source")),
    }
    if declared.get("expected_failures"):
        namespace["expected_failures"] = dict(declared["expected_failures"])
    for method in METHODS:
        namespace[method] = _method(method)
    return type(str(names["name"]), (HostedInstance,), namespace)
