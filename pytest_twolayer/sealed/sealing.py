"""The hosts of one judging process: one per implementation, made when the implementation is
loaded, closed when the run ends.

Registered as a plugin by the plugin module when ``--twolayer-isolation process`` is in force;
the session loads every implementation through :meth:`Sealing.load`, so the judging process
never imports one.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.checking.contract_calls import label
from pytest_twolayer.hygiene import state
from pytest_twolayer.hygiene.guard import IMPLEMENTATION_FIXTURES, judged_apart, watched_call
from pytest_twolayer.option_table import ISOLATION
from pytest_twolayer.run.collection import CollectedCase, collected_case
from pytest_twolayer.run.registry import Spec
from pytest_twolayer.run.selection import Declared, Loaded
from pytest_twolayer.sealed.confinement import probe, summary
from pytest_twolayer.sealed.host import HostBroken, HostEnded, ImplementationHost
from pytest_twolayer.sealed.proxy import hosted_class

LIVE_HOSTS = 8
"""Hosts kept at once in one judging process (stopped between their implementation's checks);
the least recently used beyond them is ended and starts again when its implementation is next
checked. A torch host holds about 280 MB here (its two waiting parents included), and a run
may check hundreds of implementations. In one process, where an implementation's checks run
together and in the order the implementations were loaded, a host ends after its last check,
and loading makes room by ending the newest other host (the last needed): the nine built-ins
start ten hosts, one of them twice (described first, checked later)."""


class Sealing:
    """Loads implementations into hosts of their own and ends them with the run."""

    def __init__(self, live: int = LIVE_HOSTS) -> None:
        self.hosts: dict[str, ImplementationHost] = {}  # least recently used first
        self.live = live
        self.grouped = False  # whether an implementation's checks run together, in order
        self.protections: dict[str, str] = {}  # what the first host's confinement achieved

    def described(self) -> dict[str, Any]:
        """The run's isolation for the JSON report (see :func:`isolation_of`)."""
        return {"mode": "process", "protections": dict(self.protections)}

    def load(self, spec: Spec) -> Loaded:
        """``spec`` imported and described in a new host; a failure is kept as the error, in
        the words a load in this process would have used."""
        if spec.refusal is not None:
            return Loaded(spec, None, spec.refusal)
        unreachable = unreachable_by_name(spec)
        if unreachable is not None:
            return Loaded(spec, None, unreachable)
        host = ImplementationHost(
            spec.name,
            {"name": spec.name, "target": spec.target, "source": spec.source, "path": sys.path},
        )
        try:
            loaded = host.start()
        except (HostEnded, HostBroken) as exc:
            host.close()
            return Loaded(
                spec, None, f"implementation {spec.name!r} ({spec.source} {spec.target}): {exc}"
            )
        if not self.protections:  # every host of a run is confined alike
            self.protections = dict(host.protections)
        if "load_error" in loaded:
            host.close()
            return Loaded(spec, None, str(loaded["load_error"]))
        previous = self.hosts.pop(spec.name, None)
        if previous is not None:  # loaded again (by a worker that did not describe it)
            previous.close()
        self.hosts[spec.name] = host
        # The newest other host makes room: the checks take the implementations in the order
        # they were loaded, so the first loaded are the first needed again.
        self.make_room(keep=spec.name, newest_first=True)
        cls = hosted_class(host, loaded)
        return Loaded(spec, Declared.from_json(loaded["declared"]), None, cls)

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
        self.hosts.clear()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """In one process (``-n 0``) an implementation's checks run together, in the suite's
        order, as an xdist worker receives them. The suite's own order takes each check across
        every implementation in turn: with more implementations than :data:`LIVE_HOSTS`, the
        least recently used host, ended to make room, was always the next one needed, and
        nearly every test started a host again (the built-ins' run took 7x as long)."""
        if hasattr(config, "workerinput") or config.getoption("dist", "no") != "no":
            return  # a worker runs what the scheduler sends, group by group, in its order
        first_seen: dict[str | None, int] = {}

        def implementation_order(item: pytest.Item) -> int:
            return first_seen.setdefault(impl_of(item), len(first_seen))

        items[:] = sorted(items, key=implementation_order)
        self.grouped = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Only the host of this test's implementation may run during it."""
        mine = impl_of(item)
        if mine in self.hosts:
            self.hosts[mine] = self.hosts.pop(mine)  # the most recently used now
            self.make_room(keep=mine)
        for name, host in self.hosts.items():
            if name == mine:
                host.resume()
            else:
                host.pause()

    def make_room(self, keep: str, newest_first: bool = False) -> None:
        """End running hosts beyond :data:`LIVE_HOSTS`, never ``keep``'s: the least recently
        used first, or the newest first."""
        running = [name for name, host in self.hosts.items() if host.running() and name != keep]
        excess = len(running) + 1 - self.live
        for name in (running[::-1] if newest_first else running)[: max(0, excess)]:
            self.hosts[name].kill()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Where an implementation's checks run together (one process), its host ends after
        the last of them: nothing of it outlives its checks, its memory is free before the
        next implementation's benchmark, and no host is ended early to make room (a
        TensorFlow host's start costs seconds). A later call (a ratio gate's reference)
        starts it again."""
        self.after_check(impl_of(item), impl_of(nextitem) if nextitem is not None else None)

    def after_check(self, mine: str | None, following: str | None) -> None:
        """End ``mine``'s host if the next check is another implementation's, where an
        implementation's checks run together."""
        if self.grouped and mine in self.hosts and following != mine:
            self.hosts[mine].kill()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        """A test leaves its implementation's process as it found it: judged in the host,
        where the implementation runs, with the verdict the guard gives in one process."""
        return (yield from self.judged_around(item))

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        """The ``impl`` fixture constructs an instance during setup: that construction is
        judged in the host as the guard judges it in one process, naming ``__init__()``."""
        item = request.node
        if fixturedef.argname not in IMPLEMENTATION_FIXTURES or not isinstance(item, pytest.Item):
            return (yield)
        return (yield from self.judged_around(item, who=label("__init__")))

    def judged_around(
        self, item: pytest.Item, who: str | None = None
    ) -> Generator[None, object, object]:
        """The body of a hook wrapper: the host of ``item``'s implementation is marked before
        what the wrapper wraps, and judged after it (:meth:`judge_state`)."""
        collected = collected_case(item)
        host = self.hosts.get(collected.impl) if collected is not None else None
        if collected is None or host is None:
            return (yield)
        try:
            host.ensure()  # started now if it was ended: the mark must precede every call
            generation = host.generation
            host.request({"op": "mark"}, what="watching its process-global state")
        except (HostEnded, HostBroken):
            return (yield)  # the wrapped call meets the same and says so
        try:
            outcome = yield
        except BaseException as failure:
            self.judge_state(item, collected, host, generation, failure, who=who)
            raise
        self.judge_state(item, collected, host, generation, None, who=who)
        return outcome

    def judge_state(
        self,
        item: pytest.Item,
        collected: CollectedCase,
        host: ImplementationHost,
        generation: int,
        failure: BaseException | None,
        who: str | None = None,
    ) -> None:
        """The guard's verdict on what changed in the host since its mark; ``who`` names the
        call that made it where only one call ran (the ``impl`` fixture's construction)."""
        if host.generation != generation or not host.running():
            return  # the process the mark was taken in ended (a crash: its own verdict)
        if failure is not None and not isinstance(failure, Exception):
            return  # the time limit, Ctrl-C, skip, xfail: they say why the test stopped
        found = host.request({"op": "state"}, what="reading its process-global state")
        changes = [str(change) for change in found.get("changes", [])]
        case = collected.case()
        if not changes or case is None:
            return
        culprits = [who] if who is not None else self.culprits(host, case)
        test = str(getattr(item, "originalname", item.name))
        # the guard's rule, so both isolation modes read the same
        verdict = state.changed_state_verdict(
            case,
            test,
            "; ".join(changes),
            culprits,
            failure,
            watching=watched_call(item),
            judged_apart=judged_apart(item, collected.impl),
        )
        if verdict is not None:
            raise verdict from failure

    @staticmethod
    def culprits(host: ImplementationHost, case: Case) -> list[str]:
        """The calls that change the state alone, found by the host's replay."""
        request = {
            "op": "culprits",
            "name": case.name,
            "device": case.device,
            "dtype": case.dtype,
            "seed": case.seed,
            "dims": [case.dims.N, case.dims.D_in, case.dims.H, case.dims.D_out],
        }
        found = host.request(request, what="finding which call changed it").get("culprits")
        return [str(c) for c in found or []]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Every host ends before any report is written: nothing of an implementation outlives
        its checks."""
        self.close()

    def pytest_unconfigure(self) -> None:
        self.close()


def unreachable_by_name(spec: Spec) -> str | None:
    """Why a host cannot import ``spec``'s class by its module and qualified name (None when it
    can), in one line naming the registration and the way out.

    A host is a fresh process: it finds a class registered as an object only by importing its
    module and walking its qualified name, so a class made inside a function, or in the
    ``__main__`` script, has no name there. Refused, not run here with a warning: a verdict
    that silently stopped being sealed would be worth less than the user believes.
    """
    module, _, qualname = spec.target.partition(":")
    if "<locals>" in qualname.split("."):
        where = f"{qualname} is defined inside a function"
    elif module == "__main__":
        where = f"{qualname} is defined in the __main__ script, which a host does not run"
    else:
        return None
    return (
        f"implementation {spec.name!r} ({spec.source} {spec.target}) cannot run sealed: a host "
        f"imports a class by its module and name, and {where}; define it at the top level of "
        f"an importable module, or run it in the judging process with {ISOLATION.flag} none "
        f"(docs/trust.md)"
    )


def impl_of(item: pytest.Item) -> str | None:
    """The implementation a test checks (None for any other test)."""
    collected = collected_case(item)
    return collected.impl if collected is not None else None


NOT_SEALED = {"mode": "none", "protections": {}}


def isolation_of(sealing: Sealing | None) -> dict[str, Any]:
    """What the JSON report says of the run's isolation: ``none`` (in this process) or
    ``process`` with what the operating system allowed (:mod:`.confinement`)."""
    return dict(NOT_SEALED) if sealing is None else sealing.described()


def header_line(sealing: Sealing | None) -> str:
    """The run's header line on isolation: whether verdicts are sealed, and how."""
    if sealing is None:
        return (
            f"twolayer: isolation none: implementations run in this process, beside the judge "
            f"({ISOLATION.flag} process seals the verdicts: docs/trust.md)"
        )
    # No host yet (the xdist controller starts none): what a host started here would get.
    found = summary(sealing.protections or probe())
    return f"twolayer: sealed verdicts: each implementation in a process of its own; {found}"
