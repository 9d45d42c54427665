"""Lost hosts as units: the controller's record of them, the one line the terminal and the
Markdown summary say per host, the JSON schema's fields, merge keeping them, the option that
makes a loss fail the run, and whether a host still answers."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import execnet
import jsonschema
import pytest

from pytest_twolayer.merge import merged_host
from pytest_twolayer.parallel import lost_workers
from pytest_twolayer.parallel.losses import SILENT_SECONDS, Losses
from pytest_twolayer.parallel.lost_workers import LostWorkers
from pytest_twolayer.parallel.reachability import address_of, answers, why_gone
from pytest_twolayer.report import markdown
from pytest_twolayer.report.json_report import schema
from pytest_twolayer.report.lost_hosts import LostHostsFail, lines
from pytest_twolayer.report.matrix import build
from pytest_twolayer.report.run_failures import RunFailures

CUT_OFF = "test_update.py::test_update_follows_rule[numpy-cpu-float64]"


def lost_h1() -> Losses:
    losses = Losses()
    losses.lose("h1", "connection lost")
    losses.lose("h1", "a later reason")  # the first reason stays
    losses.worker_lost("h1", "gw0", ["numpy"], [CUT_OFF])
    losses.worker_lost("h1", "gw1", [], [])
    return losses


def test_a_lost_host_is_recorded_with_its_workers_and_rescheduled_checks() -> None:
    facts = lost_h1().facts("h1")
    assert facts["lost"]["reason"] == "connection lost"
    assert facts["lost"]["workers"] == ["gw0", "gw1"]
    assert facts["lost"]["running"] == ["numpy"]
    assert facts["rescheduled"] == [CUT_OFF]
    assert lost_h1().facts("h2") == {"lost": None, "rescheduled": []}


def test_one_line_per_lost_host_names_it_and_what_it_ran() -> None:
    hosts = {"h1": lost_h1().facts("h1"), "h2": Losses().facts("h2")}
    (line,) = lines(hosts)
    assert line.startswith("host h1 lost ")
    assert "(connection lost): workers gw0, gw1; running numpy; 1 check rescheduled" in line


def test_with_no_worker_left_the_error_names_the_lost_hosts() -> None:
    losses = lost_h1()
    losses.lose("h2", "no answer at 10.0.0.12:8888")
    assert losses.unjudged_message().startswith(
        "hosts h1 (connection lost), h2 (no answer at 10.0.0.12:8888) lost before this check"
    )


def host_facts(losses: Losses, name: str) -> dict[str, Any]:
    share = {"cores": [0], "threads": 1, "gpu": None}
    return {"cores": 2, "gpus": 0, "workers": {"gw0": share}, **losses.facts(name)}


def test_the_schema_takes_the_lost_and_rescheduled_fields() -> None:
    whole = schema()
    hosts_schema = whole["properties"]["environment"]["properties"]["hosts"]
    validator = jsonschema.Draft202012Validator({**hosts_schema, "$defs": whole["$defs"]})
    validator.validate({"h1": host_facts(lost_h1(), "h1"), "h2": host_facts(Losses(), "h2")})
    broken = host_facts(lost_h1(), "h1")
    del broken["lost"]["reason"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"h1": broken})


def test_merge_keeps_a_loss_either_shard_saw() -> None:
    lost = host_facts(lost_h1(), "h1")
    stayed = {**host_facts(Losses(), "h1"), "workers": {"gw3": {"threads": 1}}}
    for first, second in ((lost, stayed), (stayed, lost)):
        merged = merged_host(merged_host(None, first), second)
        assert merged["lost"] == lost["lost"]
        assert merged["rescheduled"] == [CUT_OFF]
        assert set(merged["workers"]) == {"gw0", "gw3"}


@pytest.mark.parametrize(("lost", "status"), [(True, 1), (False, 0)])
def test_the_option_makes_a_lost_host_fail_the_run(lost: bool, status: int) -> None:
    losses = lost_h1() if lost else Losses()
    failures = RunFailures()
    session = SimpleNamespace(exitstatus=pytest.ExitCode.OK)
    fails = LostHostsFail(lambda: {"h1": losses.facts("h1")}, failures)
    fails.pytest_sessionfinish(session)  # type: ignore[arg-type]
    assert int(session.exitstatus) == status
    assert len(failures.found) == int(lost)


def test_a_host_answers_while_its_server_listens() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        address = server.getsockname()
        assert answers(address)
        spec = execnet.XSpec(f"socket={address[0]}:{address[1]}")
        assert address_of(spec) == address
        assert why_gone(spec, None, None) is None
    assert not answers(address)
    assert why_gone(spec, None, None) == f"no answer at {address[0]}:{address[1]}"


def test_a_proxied_worker_whose_proxy_has_ended_lost_its_host() -> None:
    spec = execnet.XSpec("popen//via=h1")
    assert why_gone(spec, execnet.XSpec("id=h1//socket=127.0.0.1:1"), None) == "connection lost"
    ended = SimpleNamespace(hasreceiver=lambda: False)
    assert why_gone(spec, None, ended) == "connection lost"
    assert why_gone(execnet.XSpec("popen"), None, None) is None  # a local worker: a crash


def new_watcher(**dsession: Any) -> LostWorkers:
    """The controller's watcher of workers on host h1, over a stand-in for xdist's DSession."""
    config = SimpleNamespace(getoption=lambda name: [])
    watcher = LostWorkers(config, Losses(), lambda worker: "h1", lambda node: False)  # type: ignore[arg-type]
    watcher.dsession = SimpleNamespace(**dsession)
    return watcher


def proxied_worker(receiver_ends_after: int | None) -> tuple[LostWorkers, Any]:
    """A worker through proxy h1 whose proxy's receiver ends once it has been asked
    ``receiver_ends_after`` times (None: never, as a host whose worker crashed)."""
    asked = []

    def hasreceiver() -> bool:
        asked.append(1)
        return receiver_ends_after is None or len(asked) <= receiver_ends_after

    proxy = SimpleNamespace(hasreceiver=hasreceiver)
    watcher = new_watcher(nodemanager=SimpleNamespace(group={"h1": proxy}))
    node = SimpleNamespace(gateway=SimpleNamespace(spec=execnet.XSpec("popen//via=h1")))
    return watcher, node


def test_a_host_is_asked_again_while_its_end_is_still_arriving(monkeypatch) -> None:
    """A killed host's proxy may still receive for a moment after its worker went down: one
    look would take the loss for a crash of the check running there."""
    monkeypatch.setattr(lost_workers, "SETTLE_TICK_SECONDS", 0.0)
    watcher, node = proxied_worker(receiver_ends_after=3)
    assert watcher._settled_why_gone(node, None) == "connection lost"


def test_a_host_that_keeps_answering_had_a_crash(monkeypatch) -> None:
    monkeypatch.setattr(lost_workers, "SETTLE_SECONDS", 0.05)
    monkeypatch.setattr(lost_workers, "SETTLE_TICK_SECONDS", 0.0)
    watcher, node = proxied_worker(receiver_ends_after=None)
    monkeypatch.setattr(lost_workers, "why_gone", lambda spec, proxy_spec, proxy: None)
    assert watcher._settled_why_gone(node, None) is None


def watching(*workers: str) -> tuple[LostWorkers, list[tuple[str, dict[str, Any]]]]:
    """A watchdog over running workers ``workers``, and what it posts to xdist's queue."""
    posted: list[tuple[str, dict[str, Any]]] = []

    class Node(SimpleNamespace):
        __hash__ = object.__hash__  # xdist keeps its nodes in a set

    nodes = {
        Node(gateway=SimpleNamespace(id=w, spec=execnet.XSpec("popen")), shutting_down=False)
        for w in workers
    }
    watcher = new_watcher(
        sched=object(), _active_nodes=nodes, queue=SimpleNamespace(put=posted.append)
    )
    return watcher, posted


def test_a_worker_silent_since_it_came_up_is_lost_too() -> None:
    """A host may freeze before its worker's first heartbeat: silence is timed from when the
    worker was first seen."""
    watcher, posted = watching("gw0", "gw1")
    watcher.heard_from("gw1")
    start = watcher.heard["gw1"]
    watcher.look(start)  # gw0 first seen: its silence starts here
    watcher.look(start + SILENT_SECONDS / 2)
    assert posted == []
    watcher.heard["gw1"] = start + SILENT_SECONDS  # gw1 beats on
    watcher.look(start + SILENT_SECONDS + 1)
    assert [(event, str(kwargs["node"].gateway.id)) for event, kwargs in posted] == [
        ("errordown", "gw0")
    ]
    assert watcher.silent == {"gw0": f"no heartbeat for {SILENT_SECONDS:g} s"}


def test_the_markdown_summary_says_the_terminals_line() -> None:
    said = lines({"h1": lost_h1().facts("h1")})
    text = markdown.render(build([], ["numpy"], ["cpu"]), [], 0, [], said)
    assert f"- **{said[0]}**" in text
    assert "host h1 lost" not in markdown.render(build([], ["numpy"], ["cpu"]), [], 0, [], [])
