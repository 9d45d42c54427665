"""The point search finds a test point for every valid declaration at every dims the suite
draws, against the reference alone: a check that cannot find one is the suite's failure
(``suite error``), so it must never happen to a correct implementation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_twolayer.checking import points
from pytest_twolayer.checking.case import SuiteError
from pytest_twolayer.checking.points import NoTestPoint, draw_point, is_kink_free
from pytest_twolayer.checking.strategies import small_dims
from pytest_twolayer.spec import reference
from pytest_twolayer.spec.contract import expected_param_names
from pytest_twolayer.spec.dims import Dims
from pytest_twolayer.spec.optimizers import SGD, Adam

EXAMPLES = 3000  # each is two point searches at sizes up to 9: about 10 s in all

RULES = (SGD(lr=1e-6), SGD(lr=1e-4, momentum=0.9), Adam(lr=1e-4))
"""Each kind of declared optimizer: plain SGD, SGD with momentum, Adam."""


@st.composite
def declarations(draw: st.DrawFn) -> tuple[tuple[int, ...], frozenset[str]]:
    """Any non-empty set of depths, and any parameter set valid for it: every weight it
    needs, each bias present or not."""
    depths = tuple(sorted(draw(st.sets(st.integers(0, 5), min_size=1, max_size=4))))
    weights = {"w1", "w2"} | ({"wm"} if max(depths) > 0 else set())
    biases = draw(st.sets(st.sampled_from(sorted("b" + w[1:] for w in weights))))
    names = frozenset(weights | biases)
    assert expected_param_names(depths, set(names)) is None
    return depths, names


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(
    declaration=declarations(),
    dims=small_dims(),
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from(("float32", "float64")),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_declaration_gets_a_point_at_every_dims(
    declaration: tuple[tuple[int, ...], frozenset[str]],
    dims: Dims,
    rule: SGD | Adam,
    dtype: str,
    seed: int,
) -> None:
    depths, names = declaration
    for for_update in (True, False):
        point = draw_point(
            names, dims, depths, rule, dtype, np.random.default_rng(seed), for_update=for_update
        )
        assert set(point.params) == names
        assert is_kink_free(point.params, point.x, depths, dtype)
        for value in (*point.params.values(), point.x, point.y):
            assert np.array_equal(points.representable(value, dtype), value)


def test_an_exact_zero_behind_dead_units_is_no_kink() -> None:
    """Without biases, a row whose hidden units are all dead feeds exact zeros to the next
    layer: no rounding moves them, and counting them as kinks failed every draw at width 1."""
    params = {"w1": np.array([[1.0]]), "wm": np.array([[1.0]]), "w2": np.array([[1.0]])}
    x = np.array([[1.0], [-1.0]])  # the second row's unit is dead: exactly 0 above it
    # The nearest is the first layer's -1 (its RMS is 1); counted, the 0 above it made it 0.
    assert reference.kink_distance(params, x, depth=1) == 1.0


def test_a_real_kink_is_still_a_kink() -> None:
    """The broken twin: a pre-activation near 0 from inputs that are not all 0 is a kink."""
    params = {"w1": np.array([[1.0]]), "wm": np.array([[1.0]]), "w2": np.array([[1.0]])}
    x = np.array([[1.0], [1e-9]])
    assert reference.kink_distance(params, x, depth=1) < 1e-8


def test_a_search_that_gives_up_is_the_suites_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(points, "MAX_ATTEMPTS", 0)
    with pytest.raises(NoTestPoint, match="no kink-free test point") as raised:
        draw_point({"w1", "w2"}, Dims(2, 2, 2, 2), (0,), SGD(1e-6), "float64",
                   np.random.default_rng(0))  # fmt: skip
    assert isinstance(raised.value, SuiteError)
