"""Imports outside the cyclic garbage collector: paused while implementations (and their
frameworks) are imported, the heap frozen afterwards, and the collector's on/off state put
back as it was, whatever the import did."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pytest_twolayer.implementations.numpy_net import NumpyNet

from pytest_twolayer.host.heap import imports_outside_the_collector
from pytest_twolayer.run.registry import COMMAND_LINE, RegistrationError, Spec


@pytest.fixture(autouse=True)
def collector_as_found() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()  # the rest of this test process keeps its heap collectable
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_then_back_as_it_was(enabled: bool):
    if enabled:
        gc.enable()
    else:
        gc.disable()
    with imports_outside_the_collector():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_what_the_import_made_is_frozen():
    gc.unfreeze()
    with imports_outside_the_collector():
        made = [[] for _ in range(1000)]  # tracked objects, as an import makes
    assert gc.get_freeze_count() >= len(made)


def test_a_failing_import_puts_the_collector_back_too():
    gc.enable()
    with pytest.raises(ImportError), imports_outside_the_collector():
        raise ImportError("no module named 'missing'")
    assert gc.isenabled()


def loads_seeing_the_collector(seen: list[bool], fails: bool) -> Spec:
    def loader() -> object:
        seen.append(gc.isenabled())
        if fails:
            raise ImportError("no module named 'missing'")
        return NumpyNet

    return Spec("seer", "tests.seer:Seer", COMMAND_LINE, loader)


@pytest.mark.parametrize("fails", [False, True])
def test_an_implementation_is_imported_outside_the_collector(fails: bool):
    gc.enable()
    seen: list[bool] = []
    spec = loads_seeing_the_collector(seen, fails)
    if fails:
        with pytest.raises(RegistrationError, match="seer"):
            spec.load()
    else:
        assert spec.load() is NumpyNet
    assert seen == [False]
    assert gc.isenabled()
