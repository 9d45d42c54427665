"""Balancing which xdist worker imports which implementation to describe it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pytest_twolayer.parallel.shares import describing_shares, guess_frameworks


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable package ``guessed`` whose ``__init__`` would fail if imported."""
    root = tmp_path / "guessed"
    root.mkdir()
    (root / "__init__.py").write_text("raise RuntimeError('the guess must import nothing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return root


def write(package: Path, name: str, source: str) -> str:
    (package / f"{name}.py").write_text(textwrap.dedent(source))
    return f"guessed.{name}:Net"


def test_frameworks_are_read_from_the_module_source_without_importing_it(package: Path) -> None:
    target = write(
        package,
        "both",
        """
        import numpy as np
        import torch.nn
        try:
            from tensorflow import keras
        except ImportError:
            keras = None

        def later():
            import jax  # runs only when called: not an import-time framework
        """,
    )
    assert guess_frameworks(target) == {"torch", "tensorflow"}
    assert "guessed" not in sys.modules
    assert "guessed.both" not in sys.modules


def test_a_module_without_frameworks_or_source_guesses_none(package: Path) -> None:
    assert guess_frameworks(write(package, "plain", "import numpy\n")) == frozenset()
    assert guess_frameworks(write(package, "broken", "import (\n")) == frozenset()
    assert guess_frameworks("guessed.absent:Net") == frozenset()
    assert guess_frameworks("nowhere_at_all.module:Net") == frozenset()
    assert guess_frameworks("a class given without an import path") == frozenset()


def test_the_tensorflow_implementation_is_described_apart_from_the_torch_ones() -> None:
    names = ["autograd", "dynamic", "numpy", "optim", "tf-static"]
    guesses = {n: frozenset({"torch"}) for n in ("autograd", "dynamic", "optim")}
    guesses["tf-static"] = frozenset({"tensorflow"})
    shares = describing_shares(names, guesses, 2)
    assert shares == [["tf-static"], ["autograd", "dynamic", "numpy", "optim"]]


@pytest.mark.parametrize("workers", [1, 2, 3, 5, 8])
def test_every_implementation_is_described_exactly_once(workers: int) -> None:
    names = [f"impl{i}" for i in range(6)]
    guesses = {n: frozenset({"torch"} if i % 2 else {"tensorflow"}) for i, n in enumerate(names)}
    shares = describing_shares(names, guesses, workers)
    assert len(shares) == workers
    assert sorted(n for share in shares for n in share) == sorted(names)
    for share in shares:  # in the registry's order within a share
        assert share == sorted(share, key=names.index)
