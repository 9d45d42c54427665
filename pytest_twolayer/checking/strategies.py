"""Hypothesis strategies for property-based checks: small dims, 1s included."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir, storage_directory

from pytest_twolayer.spec.dims import Dims

ANY_DIMS_EXAMPLES = 10
"""Examples per property-based check: each builds an instance, so they are kept few; the
fixed-dims checks carry the statistical weight, these hunt for dims-specific bugs."""


def small_dims() -> st.SearchStrategy[Dims]:
    """``Dims`` with every size from 1 to 9: degenerate batches and layers of width one, and
    sizes distinct enough that a swapped dimension shows."""
    size = st.integers(min_value=1, max_value=9)
    return st.builds(Dims, N=size, D_in=size, H=size, D_out=size)


def for_any_dims(seed: int) -> Callable[[Callable[[Dims], None]], Callable[[], None]]:
    """Decorate ``check(dims)`` into a property run over :func:`small_dims`, reproducibly.

    The examples derive from the suite's seed (so a failure reproduces with
    ``--twolayer-seed``), nothing is written to an example database nor to the working
    folder (see :func:`private_storage`), and there is no deadline (a first call into a
    framework may be slow).
    """

    def decorate(check: Callable[[Dims], None]) -> Callable[[], None]:
        wrapped: Any = given(dims=small_dims())(check)
        wrapped = settings(
            max_examples=ANY_DIMS_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(wrapped)
        seeded: Callable[[], None] = hypothesis_seed(seed)(wrapped)

        @functools.wraps(seeded)
        def property_test() -> None:
            with private_storage():
                seeded()

        return property_test

    return decorate


STORAGE_VARIABLE = "HYPOTHESIS_STORAGE_DIRECTORY"


@contextlib.contextmanager
def private_storage() -> Iterator[None]:
    """Hypothesis's storage in a temporary folder for the duration, unless the user named one
    (``HYPOTHESIS_STORAGE_DIRECTORY``).

    Without an example database hypothesis still writes to its storage, by default
    ``.hypothesis/`` in the working folder: a cache of the constants in the modules loaded
    (it steers its draws towards them; the draws do not depend on the cache). A check of the
    suite run from a user's home or an unrelated project must leave that folder as it found
    it; the user's own property tests, outside this, keep hypothesis's storage where it was.
    """
    if os.environ.get(STORAGE_VARIABLE):
        yield
        return
    previous = storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="twolayer-hypothesis-") as folder:
        set_hypothesis_home_dir(folder)
        try:
            yield
        finally:
            set_hypothesis_home_dir(previous)
