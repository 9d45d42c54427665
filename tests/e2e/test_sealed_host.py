"""An implementation host runs the implementation in a process of its own: the judging process
never imports it, whatever the implementation does in a call becomes that call's outcome, and
arrays keep the semantics they have in one process."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_twolayer import TUTORIAL_DIMS
from pytest_twolayer.outcomes.timeouts import TimeLimitExceeded, alarm
from pytest_twolayer.run.registry import REGISTER_HOOK, Spec, import_path_loader
from pytest_twolayer.sealed.host import HostEnded, ImplementationHost
from pytest_twolayer.sealed.sealing import Sealing

MODULE = "sealed_exhibits"
EXHIBITS = """
import os, signal, sys

from pytest_twolayer.implementations.numpy_net import NumpyNet


class Fine(NumpyNet):
    pass


class TouchesNewMemory(NumpyNet):
    def forward(self, x):
        hoard = bytearray(64 * 2**20)  # 16384 pages, each touched: a minor fault each
        for i in range(0, len(hoard), 4096):
            hoard[i] = 1
        return super().forward(x)


class ExitsInStep(NumpyNet):
    def step(self, x, y):
        os._exit(0)


class Segfaults(NumpyNet):
    def step(self, x, y):
        os.kill(os.getpid(), signal.SIGSEGV)


class HangsIgnoringSignals(NumpyNet):
    def step(self, x, y):
        for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        while True:
            pass


class ExitsWithSysExit(NumpyNet):
    def step(self, x, y):
        sys.exit(3)


class Interrupts(NumpyNet):
    def step(self, x, y):
        raise KeyboardInterrupt


class UnknownName(ValueError):
    pass


class RaisesItsOwnValueError(NumpyNet):
    def load(self, params):
        raise UnknownName("unknown parameter 'w9'")


class ReturnsViews(NumpyNet):
    def params(self):
        return {"w1": self.w1, "w2": self.w2}


class ZeroesItsInput(NumpyNet):
    def to_device(self, a):
        a[...] = 0.0
        return super().to_device(a)


class OverwritesWhatItReturned(NumpyNet):
    kept = None

    def forward(self, x):
        y = super().forward(x)
        if self.kept is None:
            self.kept = y
        else:
            self.kept[...] = y
        return self.kept


class ReturnsAList(NumpyNet):
    def forward(self, x):
        return super().forward(x).tolist()
"""


@pytest.fixture(scope="module")
def exhibits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sealed")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(EXHIBITS))
    (folder / "exits_on_import.py").write_text("import os\nos._exit(7)\n")
    return folder


def host_of(folder: Path, target: str) -> ImplementationHost:
    return ImplementationHost(
        target,
        {"name": "x", "target": target, "source": REGISTER_HOOK, "path": [str(folder), *sys.path]},
    )


@pytest.fixture
def make(exhibits: Path) -> Any:
    hosts: list[ImplementationHost] = []

    def make(name: str) -> tuple[Any, ImplementationHost]:
        sealing = Sealing()
        target = f"{MODULE}:{name}"
        loaded = sealing.load(Spec(name, target, REGISTER_HOOK, import_path_loader(target)))
        assert loaded.error is None, loaded.error
        hosts.extend(sealing.hosts.values())
        return loaded.cls, sealing.hosts[name]

    sys.path.insert(0, str(exhibits))
    yield make
    sys.path.remove(str(exhibits))
    for host in hosts:
        host.close()


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    d = TUTORIAL_DIMS
    return rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))


def instance(cls: Any) -> Any:
    return cls(TUTORIAL_DIMS, device="cpu", dtype="float64", seed=0)


def test_a_correct_net_answers_as_in_one_process_and_is_never_imported_here(make: Any):
    cls, _ = make("Fine")
    assert MODULE not in sys.modules
    assert (cls.__name__, cls.devices, cls.dtypes, cls.depths) == (
        "Fine",
        ("cpu",),
        ("float64", "float32"),
        (0,),
    )
    from pytest_twolayer.implementations.numpy_net import NumpyNet

    mine, theirs = instance(cls), NumpyNet(TUTORIAL_DIMS, device="cpu", dtype="float64", seed=0)
    x, y = data()
    xn, yn = mine.to_device(x), theirs.to_device(y)
    # Equal to the last few bits, not bit for bit: the host's BLAS threads are the fork
    # server's, fixed when it imported numpy (an earlier test of this worker may have set
    # OPENBLAS_NUM_THREADS=1), and another thread count may round a product differently.
    np.testing.assert_allclose(mine.forward(xn), theirs.forward(theirs.to_device(x)), rtol=1e-12)
    loss = mine.step(xn, mine.to_device(y))
    assert type(loss) is float
    assert loss == pytest.approx(theirs.step(theirs.to_device(x), yn), rel=1e-12, abs=0)
    assert MODULE not in sys.modules


def test_the_page_faults_counted_are_the_hosts_own(make: Any):
    """Read from the kernel for the process the implementation runs in, which in a PID
    namespace is two processes below the one started."""
    cls, host = make("TouchesNewMemory")
    net = instance(cls)
    x = net.to_device(data()[0])
    before = host.minor_faults()
    net.forward(x)
    assert host.minor_faults() - before > 10_000


def test_an_import_that_exits_is_a_load_error_naming_it(exhibits: Path):
    target = "exits_on_import:Net"
    sys.path.insert(0, str(exhibits))
    try:
        loaded = Sealing().load(Spec("gone", target, REGISTER_HOOK, import_path_loader(target)))
    finally:
        sys.path.remove(str(exhibits))
    assert loaded.declared is None
    assert loaded.error == (
        "implementation 'gone' (register hook exits_on_import:Net): the implementation's "
        "process exited with status 7 during importing it"
    )


@pytest.mark.parametrize(
    ("name", "ended"),
    [
        ("ExitsInStep", "exited with status 0"),
        ("Segfaults", "was killed by SIGSEGV"),
    ],
)
def test_a_call_that_ends_the_process_is_that_calls_outcome_and_the_next_starts_anew(
    make: Any, name: str, ended: str
):
    cls, _ = make(name)
    net = instance(cls)
    x, y = data()
    xn, yn = net.to_device(x), net.to_device(y)
    with pytest.raises(
        HostEnded, match=f"^the implementation's process {ended} during step\\(\\)$"
    ):
        net.step(xn, yn)
    with pytest.raises(HostEnded, match="earlier call"):
        net.forward(xn)
    again = instance(cls)
    assert again.forward(again.to_device(x)).shape == (TUTORIAL_DIMS.N, TUTORIAL_DIMS.D_out)
    with pytest.raises(HostEnded, match="earlier process"):
        again.forward(xn)  # a native of the process that ended


def test_a_process_that_ended_between_calls_is_started_anew_its_socket_closed(make: Any):
    """Ended unseen by any call (killed from outside here, as a thread of its own could exit
    it): the next call's start closes the old socket and its instances are of an earlier
    process."""
    cls, host = make("Fine")
    net = instance(cls)
    x = data()[0]
    xn = net.to_device(x)
    old, process = host.channel, host.process
    assert old is not None
    assert process is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    host.ensure()
    assert old.sock.fileno() == -1
    assert host.channel is not old
    with pytest.raises(HostEnded, match="earlier"):
        net.forward(xn)
    again = instance(cls)
    assert again.forward(again.to_device(x)).shape == (TUTORIAL_DIMS.N, TUTORIAL_DIMS.D_out)


def test_a_hang_that_ignores_every_signal_is_killed_from_outside(make: Any):
    cls, host = make("HangsIgnoringSignals")
    net = instance(cls)
    x, y = data()
    xn, yn = net.to_device(x), net.to_device(y)
    process = host.process
    assert process is not None
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded), alarm(1.0):
        net.step(xn, yn)
    assert time.monotonic() - start < 10
    assert process.poll() is not None  # killed, and reaped
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)


@pytest.mark.parametrize(
    ("name", "raised"), [("ExitsWithSysExit", "SystemExit"), ("Interrupts", "KeyboardInterrupt")]
)
def test_an_exit_or_an_interrupt_in_a_call_is_a_plain_exception_here(
    make: Any, name: str, raised: str
):
    cls, _ = make(name)
    net = instance(cls)
    x, y = data()
    with pytest.raises(Exception) as caught:  # noqa: PT011  (the type is checked by name)
        net.step(net.to_device(x), net.to_device(y))
    assert type(caught.value).__name__ == raised
    assert net.forward(net.to_device(x)).shape == (64, 10)  # the process lives on


def test_an_exception_keeps_its_name_message_and_builtin_base(make: Any):
    cls, _ = make("RaisesItsOwnValueError")
    with pytest.raises(ValueError, match=r"^unknown parameter 'w9'$") as caught:
        instance(cls).load({})
    assert type(caught.value).__name__ == "UnknownName"


def test_writes_into_returned_views_reach_the_net(make: Any):
    cls, _ = make("ReturnsViews")
    net = instance(cls)
    x, _ = data()
    xn = net.to_device(x)
    before = net.forward(xn)
    params = net.params()
    params["w1"][...] = 0.0
    assert np.array_equal(net.params()["w1"], params["w1"])
    assert not np.array_equal(net.forward(xn), before)


def test_a_copy_returned_is_the_callers_own(make: Any):
    cls, _ = make("Fine")
    net = instance(cls)
    params = net.params()
    params["w1"][...] = 0.0
    assert not np.array_equal(net.params()["w1"], params["w1"])


@pytest.mark.parametrize("layout", ["C", "F", "reversed view"])
def test_what_a_call_does_to_an_argument_is_done_to_the_callers_array(make: Any, layout: str):
    cls, _ = make("ZeroesItsInput")
    net = instance(cls)
    x, _ = data()
    base = np.asfortranarray(x) if layout == "F" else x.copy()
    argument = base[::-1] if layout == "reversed view" else base
    net.to_device(argument)
    assert not base.any()


def test_a_buffer_overwritten_after_it_was_returned_changes_the_callers_copy(make: Any):
    cls, _ = make("OverwritesWhatItReturned")
    net = instance(cls)
    x, _ = data()
    first = net.forward(net.to_device(x))
    kept = first.copy()
    net.forward(net.to_device(2 * x))
    assert not np.array_equal(first, kept)


def test_what_is_not_an_array_keeps_its_type(make: Any):
    cls, _ = make("ReturnsAList")
    net = instance(cls)
    got = net.forward(net.to_device(data()[0]))
    assert type(got) is list
    assert len(got) == 64


def test_a_native_reads_back_in_its_host(make: Any):
    cls, _ = make("Fine")
    net = instance(cls)
    x, _ = data()
    native = net.to_device(x)
    assert np.array_equal(native.numpy(), x)
