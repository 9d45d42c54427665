"""Fixtures of the conformance suite, for the shipped checks and for users' own tests.

Every fixture here is parametrized, through ``twolayer_case``, over the selected
implementations x devices x dtypes (see ``Selection.cases``); a test marked
``@pytest.mark.twolayer_dtypes("training")`` gets only each implementation's first dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_twolayer.benchmarking.gates import BenchmarkPlan
from pytest_twolayer.checking.case import Case
from pytest_twolayer.option_table import IMPL
from pytest_twolayer.run.collection import CaseParam
from pytest_twolayer.run.selection import Loaded
from pytest_twolayer.run.session import session_of
from pytest_twolayer.spec.contract import TwoLayerImplementation
from pytest_twolayer.spec.dims import TUTORIAL_DIMS, Dims

NOTHING_SELECTED = f"no implementation selected: run pytest with -p twolayer {IMPL.flag} NAME"


@pytest.fixture
def twolayer_case(request: pytest.FixtureRequest) -> Case:
    """The :class:`Case` under test: implementation class, device, dtype and seed."""
    param = getattr(request, "param", None)
    if not isinstance(param, CaseParam):
        pytest.skip(NOTHING_SELECTED)
    return param.case()


@pytest.fixture
def impl_class(twolayer_case: Case) -> type[TwoLayerImplementation]:
    """The implementation class under test."""
    return twolayer_case.cls


@pytest.fixture
def impl_name(twolayer_case: Case) -> str:
    """The registered name of the implementation under test."""
    return twolayer_case.name


@pytest.fixture
def device(twolayer_case: Case) -> str:
    """The device under test: ``"cpu"`` or ``"cuda"``."""
    return twolayer_case.device


@pytest.fixture
def dtype(twolayer_case: Case) -> str:
    """The dtype under test: ``"float32"`` or ``"float64"``."""
    return twolayer_case.dtype


@pytest.fixture
def twolayer_seed(twolayer_case: Case) -> int:
    """The run's seed (``--twolayer-seed``), from which all data and instances derive."""
    return twolayer_case.seed


@pytest.fixture
def dims() -> Dims:
    """The tutorial's dims, ``N, D_in, H, D_out = 64, 1000, 100, 10``."""
    return TUTORIAL_DIMS


@pytest.fixture
def impl(twolayer_case: Case) -> TwoLayerImplementation:
    """A fresh instance of the implementation under test, at the tutorial dims and the seed."""
    return twolayer_case.make(check="fixture impl")


@pytest.fixture
def data(twolayer_case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal float64 ``x`` of shape ``(N, D_in)`` and ``y`` of shape ``(N, D_out)``."""
    rng = twolayer_case.rng("data")
    d = twolayer_case.dims
    return rng.standard_normal((d.N, d.D_in)), rng.standard_normal((d.N, d.D_out))


@pytest.fixture
def twolayer_benchmark_settings(request: pytest.FixtureRequest) -> BenchmarkPlan:
    """The benchmark concern's steps and gates (``--twolayer-budget``, ...)."""
    return session_of(request.config).benchmark_settings()


@pytest.fixture
def twolayer_loaded(request: pytest.FixtureRequest) -> Loaded:
    """A selected implementation with its class, or with the reason it failed to load."""
    loaded = getattr(request, "param", None)
    if not isinstance(loaded, Loaded):
        pytest.skip(NOTHING_SELECTED)
    return loaded
