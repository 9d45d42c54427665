"""The xdist scheduler, the per-worker resource plan and node-id parsing, as units."""

from __future__ import annotations

import pytest

from pytest_twolayer.checking.suite import CaseKey, parse_nodeid
from pytest_twolayer.host.probe import (
    WorkerPlan,
    plan_workers,
    worker_environment,
)
from pytest_twolayer.parallel.scheduler import GroupScheduling


class FakeNode:
    """What the scheduler uses of xdist's WorkerController."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.name


NAMES = ["numpy", "tf-static", "tensor"]


def nodeid(check: str, case: str) -> str:
    module = "test_training.py" if check == "test_training" else "test_gradients.py"
    return f"{module}::{check}[{case}]"


COLLECTION = [
    nodeid("test_gradients_match_reference", "numpy-cpu-float64"),
    nodeid("test_gradients_match_reference", "tf-static-cpu-float32"),
    nodeid("test_gradients_match_reference", "tensor-cpu-float32"),
    nodeid("test_gradients_match_reference", "tensor-cpu-float64"),
    nodeid("test_training", "numpy-cpu-float64"),
    nodeid("test_training", "tf-static-cpu-float32"),
    nodeid("test_training", "tensor-cpu-float32"),
]
FRAMEWORKS = {
    "numpy": frozenset(),
    "tf-static": frozenset({"tensorflow"}),
    "tensor": frozenset({"torch"}),
}


def group_of(node_id: str) -> str:
    key = parse_nodeid(node_id, NAMES)
    assert key is not None
    return key.impl


def make(nodes: list[FakeNode], collection: list[str] = COLLECTION) -> GroupScheduling:
    sched = GroupScheduling(
        len(nodes),
        group_of,
        needs=lambda group: FRAMEWORKS[group],
        cost=lambda group, tests: tests + (5 if group == "tf-static" else 0),
    )
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, collection)
    sched.schedule()
    return sched


def impls_of(node: FakeNode) -> set[str]:
    return {group_of(COLLECTION[i]) for i in node.sent}


def run_all(sched: GroupScheduling, nodes: list[FakeNode]) -> None:
    """Complete every sent test, in order, as workers would."""
    progress = True
    while progress:
        progress = False
        for node in nodes:
            pending = sched.pending.get(node, [])
            if pending:
                sched.mark_test_complete(node, pending[0])
                progress = True


def test_every_implementation_stays_on_one_worker_and_all_tests_run_once() -> None:
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    sched = make(nodes)
    run_all(sched, nodes)
    assert sched.tests_finished
    assert sorted(nodes[0].sent + nodes[1].sent) == list(range(len(COLLECTION)))
    assert not impls_of(nodes[0]) & impls_of(nodes[1])
    assert all(node.shutting_down for node in nodes)


def test_costliest_group_goes_out_first() -> None:
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    make(nodes)
    # tf-static costs 2 tests + 5 (its import) > tensor's 3 > numpy's 2
    assert impls_of(nodes[0]) >= {"tf-static"}
    assert group_of(COLLECTION[nodes[1].sent[0]]) == "tensor"


def test_a_worker_prefers_groups_whose_frameworks_it_imported() -> None:
    FRAMEWORKS["tensor2"] = frozenset({"torch"})
    try:
        names = [*NAMES, "tensor2"]
        collection = [*COLLECTION, nodeid("test_training", "tensor2-cpu-float32")]
        sched = GroupScheduling(
            1,
            lambda n: parse_nodeid(n, names).impl,  # type: ignore[union-attr]
            needs=lambda group: FRAMEWORKS[group],
            cost=lambda group, tests: {"tensor": 9, "tf-static": 8, "tensor2": 7, "numpy": 1}[
                group
            ],
        )
        node = FakeNode("gw0")
        sched.add_node(node)
        sched.add_node_collection(node, collection)
        sched.schedule()
        order = []
        while sched.pending[node]:
            index = sched.pending[node][0]
            group = parse_nodeid(collection[index], names).impl  # type: ignore[union-attr]
            if not order or order[-1] != group:
                order.append(group)
            sched.mark_test_complete(node, index)
        # after tensor (torch), tensor2 (torch, cheaper) comes before the costlier tf-static
        assert order == ["tensor", "tensor2", "tf-static", "numpy"]
    finally:
        del FRAMEWORKS["tensor2"]


def test_single_test_groups_spread_over_workers_and_run() -> None:
    collection = [nodeid("test_training", f"{n}-cpu-float32") for n in ("numpy", "tensor")]
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    make(nodes, collection)
    assert nodes[0].sent
    assert nodes[1].sent
    # nothing else to come: both are told, so each runs its only test instead of waiting
    assert all(node.shutting_down for node in nodes)


def test_more_workers_than_groups_shuts_the_idle_ones_down() -> None:
    collection = [nodeid("test_training", "numpy-cpu-float64")]
    nodes = [FakeNode("gw0"), FakeNode("gw1"), FakeNode("gw2")]
    sched = make(nodes, collection)
    busy = [n for n in nodes if n.sent]
    assert len(busy) == 1
    assert all(n.shutting_down for n in nodes)
    assert [len(sched.pending[n]) for n in nodes if not n.sent] == [0, 0]


def test_a_group_goes_to_a_worker_whose_host_can_run_it() -> None:
    """Only gw1 has torch (or the GPU) that tensor needs: it gets tensor, gw0 the others; a
    group no live worker can run goes anywhere rather than being lost."""
    collection = [nodeid("test_training", f"{n}-cpu-float32") for n in ("tensor", "numpy")]
    nodes = [FakeNode("gw0"), FakeNode("gw1")]

    def eligible(group: str, node: FakeNode) -> bool:
        return group != "tensor" or node.name == "gw1"

    sched = GroupScheduling(2, group_of, eligible=eligible)  # type: ignore[arg-type]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    assert [collection[i] for i in nodes[1].sent] == [collection[0]]
    assert [collection[i] for i in nodes[0].sent] == [collection[1]]
    nobody = GroupScheduling(1, group_of, eligible=lambda group, node: False)
    lone = FakeNode("gw0")
    nobody.add_node(lone)
    nobody.add_node_collection(lone, collection)
    nobody.schedule()
    assert sorted(lone.sent) == [0, 1]


def test_a_crash_reports_the_running_test_and_requeues_the_rest_of_its_group() -> None:
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    sched = make(nodes)
    victim = nodes[0]
    running = sched.pending[victim][0]
    rest = sched.pending[victim][1:]
    crashed = sched.remove_node(victim)
    assert crashed == COLLECTION[running]
    replacement = FakeNode("gw2")
    sched.add_node(replacement)
    sched.add_node_collection(replacement, COLLECTION)
    sched.schedule()
    run_all(sched, [nodes[1], replacement])
    assert sched.tests_finished
    assert set(rest) <= set(replacement.sent + nodes[1].sent)
    assert running not in replacement.sent + nodes[1].sent  # a crashed test is not rerun


def test_a_lost_host_requeues_everything_its_worker_held_and_reports_no_crash() -> None:
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    lost_nodes = {nodes[0]}
    told: list[tuple[FakeNode, list[str]]] = []
    sched = GroupScheduling(
        2,
        group_of,
        needs=lambda group: FRAMEWORKS[group],
        host_lost=lambda node: node in lost_nodes,
        rescheduled=lambda node, ids: told.append((node, ids)),
    )
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, COLLECTION)
    sched.schedule()
    held = list(sched.pending[nodes[0]])
    assert sched.remove_node(nodes[0]) is None  # nothing is the implementation's fault
    assert told == [(nodes[0], [COLLECTION[i] for i in held])]
    survivor_had = len(nodes[1].sent)
    run_all(sched, [nodes[1]])
    assert sched.tests_finished
    rerun = nodes[1].sent[survivor_had:]
    assert set(held) <= set(rerun)  # the cut-off test too, whole groups on one worker
    for group in {group_of(COLLECTION[i]) for i in held}:
        indices = [i for i, nodeid in enumerate(COLLECTION) if group_of(nodeid) == group]
        assert [i for i in rerun if i in indices] == [i for i in held if i in indices]


def test_with_no_worker_left_the_unjudged_tests_are_known() -> None:
    nodes = [FakeNode("gw0")]
    sched = GroupScheduling(1, group_of, host_lost=lambda node: True)
    sched.add_node(nodes[0])
    sched.add_node_collection(nodes[0], COLLECTION)
    sched.schedule()
    sched.mark_test_complete(nodes[0], nodes[0].sent[0])
    done = nodes[0].sent[0]
    sched.remove_node(nodes[0])
    assert sched.unjudged() == [n for i, n in enumerate(COLLECTION) if i != done]


def test_a_replacement_with_a_different_collection_gets_no_work() -> None:
    nodes = [FakeNode("gw0")]
    sched = make(nodes)
    sched.remove_node(nodes[0])
    stranger = FakeNode("gw1")
    sched.add_node(stranger)
    sched.add_node_collection(stranger, COLLECTION[:2])
    sched.schedule()
    assert stranger.sent == []


@pytest.mark.parametrize(
    ("workers", "cores", "expected"),
    [
        (2, [0, 1], [((0,), 1), ((1,), 1)]),
        (2, [0, 1, 2, 3, 4], [((0, 1), 2), ((2, 3, 4), 3)]),
        (1, [0, 1], [((0, 1), 2)]),
    ],
)
def test_workers_get_disjoint_core_shares(
    workers: int, cores: list[int], expected: list[tuple[tuple[int, ...], int]]
) -> None:
    plans = plan_workers(workers, cores, gpus=[])
    assert [(p.cores, p.threads) for p in plans] == expected
    assert all(p.pinned and p.gpu is None for p in plans)


def test_more_workers_than_cores_are_not_pinned_and_gpus_are_never_shared() -> None:
    plans = plan_workers(3, [0, 1], gpus=["0", "1"])
    assert [p.pinned for p in plans] == [False, False, False]
    assert [p.threads for p in plans] == [1, 1, 1]
    assert [p.gpu for p in plans] == ["0", "1", None]


def test_worker_environment_sizes_the_pools_but_the_users_settings_win() -> None:
    plan = WorkerPlan(cores=(2, 3), threads=2, gpu="1", pinned=True)
    env = worker_environment(plan, {"MKL_NUM_THREADS": "7"}, gpus_on_host=2)
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
    assert env["TF_NUM_INTRAOP_THREADS"] == "2"
    assert "MKL_NUM_THREADS" not in env
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    no_gpu = WorkerPlan((0,), 1, None, False)
    assert worker_environment(no_gpu, {}, gpus_on_host=2)["CUDA_VISIBLE_DEVICES"] == ""
    assert "CUDA_VISIBLE_DEVICES" not in worker_environment(no_gpu, {}, gpus_on_host=0)


@pytest.mark.parametrize(
    ("node_id", "expected"),
    [
        (
            "test_training.py::test_training[tf-static-cpu-float32]",
            CaseKey("tf-static", "cpu", "float32", "training", "training"),
        ),
        (
            "site/pytest_twolayer/conformance/test_gradients.py::test_depth_draws[tensor-cuda-float64]",
            CaseKey("tensor", "cuda", "float64", "gradients", "depth_draws"),
        ),
        (
            "test_contract.py::test_implementation_loads[numpy]",
            CaseKey("numpy", None, None, "contract", "implementation_loads"),
        ),
        (
            "tests/test_mine.py::test_custom[3-numpy-cpu-float64]",
            CaseKey("numpy", "cpu", "float64", "other", "custom"),
        ),
        ("tests/test_mine.py::test_custom[numpyish-cpu-float64]", None),
        ("tests/test_mine.py::test_plain", None),
    ],
)
def test_node_ids_read_back_into_cases(node_id: str, expected: CaseKey | None) -> None:
    assert parse_nodeid(node_id, [*NAMES, "numpy2"]) == expected


def test_workers_that_preloaded_a_framework_get_its_implementation_first() -> None:
    collection = [nodeid("test_training", f"{n}-cpu-float32") for n in ("numpy", "tensor")]
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    sched = GroupScheduling(
        2,
        group_of,
        needs=lambda group: FRAMEWORKS[group],
        cost=lambda group, tests: {"tensor": 2, "numpy": 1}[group],
        preloaded=lambda node: frozenset({"torch"}) if node.name == "gw1" else frozenset(),
    )
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, collection)
    sched.schedule()
    assert [group_of(collection[i]) for i in nodes[1].sent] == ["tensor"]
    assert [group_of(collection[i]) for i in nodes[0].sent] == ["numpy"]


def test_the_scheduler_implements_xdists_scheduling_protocol() -> None:
    from xdist.scheduler.protocol import Scheduling

    required = {name for name in vars(Scheduling) if not name.startswith("_")}
    missing = {name for name in required if not hasattr(GroupScheduling, name)}
    assert required
    assert not missing, sorted(missing)
