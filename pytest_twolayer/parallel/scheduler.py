"""An xdist scheduler that keeps every check of one implementation on one worker.

A worker then imports only the frameworks of the implementations it is given, warms each
implementation's kernels once, and one implementation that crashes its worker loses only
its own running check. Written against xdist's scheduler protocol rather than on top of
``LoadScopeScheduling``, whose crash handling puts the crashed test back in the queue
(``loadgroup`` plus a worker restart hangs in xdist 3.8).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

Node = Any  # xdist.workermanage.WorkerController (xdist ships no type information)

LOW_WATERMARK = 2
"""A worker is given its next group when fewer of its tests than this are left: the test it
runs needs the next one queued to know its teardown, so an empty queue would stall it."""


class GroupScheduling:
    """An implementation of xdist's ``Scheduling`` protocol (``xdist/scheduler/protocol.py``;
    ``tests/unit/test_scheduling.py`` checks every member is here).

    Schedule whole groups of tests (one per implementation), costliest first, each to a
    worker that already imported what the group needs when one can take it.

    ``group_of(nodeid)`` names a test's group; ``needs(group)`` the frameworks it imports;
    ``cost(group, tests)`` estimates its run time (framework imports included);
    ``preloaded(node)`` names the frameworks a worker imported before its first group;
    ``eligible(group, node)`` says whether a worker's host can run a group (its frameworks
    are installed there, a GPU for cuda cases): a group goes to an eligible worker, or to
    any worker when none of the live ones is eligible (it then fails there, visibly).

    ``host_lost(node)`` says whether a worker that went down went with its host (the host
    is gone, see :mod:`.losses`): then nothing it held is its fault, and every test it held,
    the one it was running included, is queued again, each group whole, for another worker;
    ``rescheduled(node, nodeids)`` is told which.
    """

    def __init__(
        self,
        numnodes: int,
        group_of: Callable[[str], str],
        needs: Callable[[str], frozenset[str]] = lambda group: frozenset(),
        cost: Callable[[str, int], float] = lambda group, tests: float(tests),
        log: Any = None,
        preloaded: Callable[[Node], frozenset[str]] = lambda node: frozenset(),
        eligible: Callable[[str, Node], bool] = lambda group, node: True,
        host_lost: Callable[[Node], bool] = lambda node: False,
        rescheduled: Callable[[Node, list[str]], None] = lambda node, nodeids: None,
    ) -> None:
        self.numnodes = numnodes
        self.group_of = group_of
        self.needs = needs
        self.cost = cost
        self.log = log or (lambda *args: None)
        self.preloaded = preloaded
        self.eligible = eligible
        self.host_lost = host_lost
        self.rescheduled = rescheduled
        self.imported: dict[Node, frozenset[str]] = {}  # node -> frameworks it has imported
        self.collection: list[str] | None = None
        self.queue: OrderedDict[str, list[int]] = OrderedDict()  # group -> test indices
        self.pending: dict[Node, list[int]] = {}  # node -> indices sent, not yet complete
        self.collections: dict[Node, list[str]] = {}

    # -- what DSession asks ------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self.pending)

    @property
    def collection_is_completed(self) -> bool:
        """Every initial worker has collected (replacements join a completed collection)."""
        return self.collection is not None or len(self.collections) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.queue:
            return False
        return all(not pending for pending in self.pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.queue) or any(self.pending.values())

    # -- what DSession tells -----------------------------------------------------------
    def add_node(self, node: Node) -> None:
        assert node not in self.pending
        self.pending[node] = []
        self.imported[node] = self.preloaded(node)

    def add_node_collection(self, node: Node, collection: Sequence[str]) -> None:
        assert node in self.pending
        if self.collection is not None and list(collection) != self.collection:
            # A replacement worker collected something else: never give it work.
            self.log(f"worker {node} collected different tests; not scheduling on it")
            return
        self.collections[node] = list(collection)

    def mark_test_complete(self, node: Node, item_index: int, duration: float = 0) -> None:
        self.pending[node].remove(item_index)
        self._feed(node)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("only the worksteal scheduler moves single tests")

    def remove_pending_tests_from_node(self, node: Node, indices: Sequence[int]) -> None:
        raise NotImplementedError("only the worksteal scheduler moves single tests")

    def remove_node(self, node: Node) -> str | None:
        """Forget ``node``. If it died mid-group, return the test it was running (xdist
        reports that one as crashed) and queue the rest of the group first, to run again;
        if its host was lost, queue everything it held and return None (no crash)."""
        pending = self.pending.pop(node, [])  # a worker shut down unused was dropped already
        self.imported.pop(node, None)
        self.collections.pop(node, None)
        if not pending or self.collection is None:
            return None
        lost = self.host_lost(node)
        crashed, rest = (None, pending) if lost else (pending[0], pending[1:])
        if rest:
            self._requeue_first(rest)
        if lost:
            self.rescheduled(node, [self.collection[i] for i in rest])
        for other in self.nodes:
            self._feed(other)
        return None if crashed is None else self.collection[crashed]

    def _requeue_first(self, indices: list[int]) -> None:
        """Queue ``indices`` ahead of everything else, in their order, one entry per group
        (a worker holds the tail of one group and maybe the next group whole); the first
        worker to ask takes a group whole."""
        assert self.collection is not None
        groups: dict[str, list[int]] = {}
        for index in indices:
            groups.setdefault(self.group_of(self.collection[index]), []).append(index)
        for group in reversed(groups):
            self.queue[group] = groups[group] + self.queue.pop(group, [])
            self.queue.move_to_end(group, last=False)

    def unjudged(self) -> list[str]:
        """The node ids no worker holds any more and none will run: queued, or held by a
        worker that is gone (the run's end, with no worker left)."""
        if self.collection is None:
            return []
        held = [i for pending in self.pending.values() for i in pending]
        queued = [i for indices in self.queue.values() for i in indices]
        return [self.collection[i] for i in sorted(set(held) | set(queued))]

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is None:
            collections = list(self.collections.values())
            if any(c != collections[0] for c in collections[1:]):
                self.log("workers collected different tests; not scheduling")
                return
            self.collection = collections[0]
            groups: dict[str, list[int]] = {}
            for index, nodeid in enumerate(self.collection):
                groups.setdefault(self.group_of(nodeid), []).append(index)
            # Costliest first (longest-processing-time order): the last groups handed out are
            # cheap, so workers finish close together.
            for group, indices in sorted(groups.items(), key=lambda kv: -self.cost(*kv_len(kv))):
                self.queue[group] = indices
            # One group each first, so small runs spread out too; workers that imported
            # frameworks already choose first, so the others take what needs none of them.
            for node in sorted(self.nodes, key=lambda n: -len(self.imported.get(n, ()))):
                first = self._next_group_for(node)
                if first is not None:
                    self._give(node, first)
        for node in self.nodes:
            self._feed(node)

    # -- internals ---------------------------------------------------------------------
    def _next_group_for(self, node: Node) -> str | None:
        """The costliest queued group ``node`` may take that runs on a framework it imported
        already; failing that, the costliest it may take (groups needing no framework fill
        in as they come); None when it may take none."""
        candidates = [group for group in self.queue if self._may_take(group, node)]
        imported = self.imported.get(node, frozenset())
        for group in candidates:
            needs = self.needs(group)
            if needs and needs <= imported:
                return group
        return candidates[0] if candidates else None

    def _may_take(self, group: str, node: Node) -> bool:
        """``node`` can run ``group``, or no live worker can (it runs, and fails, anywhere)."""
        if self.eligible(group, node):
            return True
        live = [other for other in self.nodes if not other.shutting_down]
        return not any(self.eligible(group, other) for other in live)

    def _feed(self, node: Node) -> None:
        """Top ``node`` up with groups while it is about to run dry; once nothing queued is
        for it, shut it down, which makes it run the tests it holds (a worker keeps its last
        test until it learns the next one or that there is none)."""
        if node.shutting_down or node not in self.collections:
            return
        while len(self.pending[node]) < LOW_WATERMARK:
            group = self._next_group_for(node)
            if group is None:
                break
            self._give(node, group)
        if self._next_group_for(node) is None:
            node.shutdown()

    def _give(self, node: Node, group: str) -> None:
        indices = self.queue.pop(group)
        self.log(f"group {group!r} ({len(indices)} tests) -> {node}")
        self.imported[node] = self.imported.get(node, frozenset()) | self.needs(group)
        self.pending[node].extend(indices)
        node.send_runtest_some(indices)


def kv_len(item: tuple[str, list[int]]) -> tuple[str, int]:
    """``(group, number of tests)`` for the cost estimate."""
    return item[0], len(item[1])
