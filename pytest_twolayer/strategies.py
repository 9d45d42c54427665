"""Hypothesis strategies for property-based checks: small dims, 1s included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from pytest_twolayer.dims import Dims

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
    ``--twolayer-seed``), nothing is written to an example database, and there is no
    deadline (a first call into a framework may be slow).
    """

    def decorate(check: Callable[[Dims], None]) -> Callable[[], None]:
        wrapped: Any = given(dims=small_dims())(check)
        wrapped = settings(
            max_examples=ANY_DIMS_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(wrapped)
        property_test: Callable[[], None] = hypothesis_seed(seed)(wrapped)
        return property_test

    return decorate
