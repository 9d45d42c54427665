"""A test leaves the process as it found it: every kind of process-global state is seen,
named and restored, and a check is judged on it without pytest. tests/e2e/test_global_state.py
runs nets that change it beside correct ones."""

from __future__ import annotations

import gc
import os
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pytest_twolayer.checking.case import Case
from pytest_twolayer.hygiene import state
from pytest_twolayer.hygiene.state import Snapshot, StateLeftChanged, snapshot
from pytest_twolayer.zoo.numpy_bugs import NumpyBase

torch = pytest.importorskip("torch")


# --- the snapshot: each kind of state is seen, named before -> after, and restored -----------


def _set_env() -> None:
    os.environ["TWOLAYER_TEST_VARIABLE"] = "1"


def _seed_torch() -> None:
    torch.manual_seed(1234)


CHANGES: dict[str, tuple[str, Callable[[], object]]] = {
    # kind -> (what the change is named, how to make it)
    "grad mode": ("torch grad mode True -> False", lambda: torch.set_grad_enabled(False)),
    "default dtype": (
        "torch default dtype torch.float32 -> torch.float64",
        lambda: torch.set_default_dtype(torch.float64),
    ),
    "intra-op threads": (
        "torch intra-op threads",
        lambda: torch.set_num_threads(torch.get_num_threads() + 1),
    ),
    "deterministic": (
        "torch deterministic algorithms off -> on",
        lambda: torch.use_deterministic_algorithms(True),
    ),
    "matmul tf32": (
        "torch.backends.cuda.matmul.allow_tf32 False -> True",
        lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", True),
    ),
    "cudnn tf32": (
        "torch.backends.cudnn.allow_tf32 True -> False",
        lambda: setattr(torch.backends.cudnn, "allow_tf32", False),
    ),
    "matmul precision": (
        "torch float32 matmul precision 'highest' -> 'medium'",
        lambda: torch.set_float32_matmul_precision("medium"),
    ),
    "torch rng": ("torch's global RNG was reseeded (torch.manual_seed(", _seed_torch),
    "torch draw": ("torch's global RNG was drawn from", lambda: torch.rand(1)),
    "numpy errors": (
        "numpy error state (np.seterr) divide=warn invalid=warn over=warn under=ignore -> "
        "divide=warn invalid=warn over=raise under=ignore",
        lambda: np.seterr(over="raise"),
    ),
    "numpy rng": ("numpy's global RNG was drawn from", lambda: np.random.rand()),
    "numpy seed": ("numpy's global RNG was reseeded (np.random.seed)", lambda: np.random.seed(3)),
    "python random": ("Python's global random was drawn from", lambda: random.random()),
    "python seed": ("Python's global random was reseeded (random.seed)", lambda: random.seed(3)),
    "cwd": ("working directory", lambda: os.chdir(Path(os.getcwd()).parent)),
    "env": ("environment variable TWOLAYER_TEST_VARIABLE unset -> '1'", _set_env),
    "gc": ("Python garbage collection enabled True -> False", gc.disable),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_each_kind_of_change_is_named_and_restored(kind: str):
    named, change = CHANGES[kind]
    before = snapshot()
    try:
        change()
        found = state.changes(before, snapshot())
    finally:
        restored = state.restore(before, state.changes(before, snapshot()))
    assert [str(c) for c in found], kind
    assert any(str(c).startswith(named) for c in found), [str(c) for c in found]
    assert all(c.restored for c in restored), [str(c) for c in restored]
    assert state.changes(before, snapshot()) == []


def test_tensorflow_settings_are_seen_once_it_is_imported():
    tf = pytest.importorskip("tensorflow")
    before = snapshot()
    try:
        tf.config.experimental.enable_tensor_float_32_execution(False)
        tf.random.set_seed(7)
        found = [str(c) for c in state.changes(before, snapshot())]
    finally:
        state.restore(before, state.changes(before, snapshot()))
    assert "TensorFlow TF32 execution True -> False" in found
    assert "TensorFlow global seed None -> 7" in found
    assert state.changes(before, snapshot()) == []


def test_an_unchanged_process_shows_no_change():
    assert state.changes(snapshot(), snapshot()) == []


def test_variables_that_change_by_themselves_are_left_alone(monkeypatch: pytest.MonkeyPatch):
    before = snapshot()
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "another test (call)")  # pytest's
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor")  # torch's, on first use
    assert state.changes(before, snapshot()) == []


def test_a_framework_first_imported_may_set_variables_and_draw_from_random():
    before = snapshot()
    values = dict(before.values)
    values["environment"] = {**values["environment"], "TWOLAYER_FRAMEWORK_ADDED": "1"}
    values["Python random state"] = (3, (1,) * 625, None)
    values["working directory"] = "/elsewhere"
    before = Snapshot(before.values, frozenset())
    imported = Snapshot(values, frozenset({"tensorflow"}))
    not_imported = Snapshot(values, frozenset())
    assert [c.what for c in state.changes(before, imported)] == ["working directory"]
    assert {c.what for c in state.changes(before, not_imported)} == {
        "working directory",
        "environment variable TWOLAYER_FRAMEWORK_ADDED",
        "Python random state",
    }


def test_what_cannot_be_restored_is_said(tmp_path: Path):
    gone = tmp_path / "gone"
    gone.mkdir()
    here = os.getcwd()
    os.chdir(gone)
    before = snapshot()
    os.chdir(here)
    gone.rmdir()
    (restored,) = state.restore(before, state.changes(before, snapshot()))
    assert not restored.restored
    assert str(restored).startswith(f"working directory '{gone}' -> '{here}' (could not be ")
    assert "FileNotFoundError" in str(restored)
    assert os.getcwd() == here


class _Polluter(NumpyBase):
    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        os.environ["TWOLAYER_TEST_VARIABLE"] = "step"
        return super().step(x, y)


def test_left_as_found_judges_a_check_without_pytest():
    from pytest_twolayer.conformance.test_update import check_update_follows_rule

    case = Case("polluter", _Polluter, "cpu", "float64")
    with pytest.raises(StateLeftChanged) as verdict:
        state.left_as_found(check_update_follows_rule, case)
    assert str(verdict.value).splitlines()[0] == (
        "[global_state_untouched] impl=polluter device=cpu dtype=float64 seed=0: "
        "step() left process-global state changed: environment variable "
        "TWOLAYER_TEST_VARIABLE unset -> 'step'"
    )
    assert "TWOLAYER_TEST_VARIABLE" not in os.environ
    state.left_as_found(check_update_follows_rule, Case("ok", NumpyBase, "cpu", "float64"))


# --- the rule: one cause, one verdict ------------------------------------------------------


def _case() -> Case:
    return Case("mine", NumpyBase, "cpu", "float64")


@pytest.mark.parametrize(
    ("watching", "culprits", "judged_apart", "blamed"),
    [
        ("__init__", ["__init__()"], True, "__init__()"),  # the hygiene test of that call
        ("step", ["__init__()"], True, None),  # another call's test: not its cause
        (None, ["__init__()"], True, None),  # any other test keeps its own verdict
        (None, ["__init__()"], False, "__init__()"),  # nothing else judges it: this test
        (None, [], True, "test_mine"),  # no single call made it: the test that did
        ("step", [], True, "test_mine"),
    ],
)
def test_a_change_is_one_verdict_on_the_call_that_made_it(
    watching: str | None, culprits: list[str], judged_apart: bool, blamed: str | None
) -> None:
    found = "torch grad mode True -> False"
    verdict = state.changed_state_verdict(
        _case(), "test_mine", found, culprits, None, watching=watching, judged_apart=judged_apart
    )
    if blamed is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert f": {blamed} left process-global state changed: {found}" in str(verdict)
