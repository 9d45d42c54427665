"""The input layouts the suite passes: each holds the values it was made from, in the layout
it names; the built-ins' ``to_device`` reads each as those values."""

from __future__ import annotations

import numpy as np
import pytest

import pytest_twolayer as tl
from pytest_twolayer.checking.layouts import LAYOUTS
from pytest_twolayer.run.registry import Registry, installed_entry_points

SHAPES = [(64, 1000), (1, 5), (7, 13)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_holds_the_values_it_names(layout: str, shape: tuple[int, int]):
    a = np.random.default_rng(0).standard_normal(shape)
    arranged = LAYOUTS[layout](a)
    assert np.array_equal(arranged, a)
    assert arranged.dtype == a.dtype
    if layout == "Fortran-ordered array":
        assert arranged.flags.f_contiguous
        assert arranged.flags.c_contiguous == (1 in shape)
    else:
        assert arranged.base is not None  # a view of a larger or reversed array
    if layout == "reversed view":
        assert all(stride < 0 for stride in arranged.strides)
    if layout.endswith("strided view") and min(shape) > 1:
        assert not arranged.flags.c_contiguous
        assert np.isnan(arranged.base).sum() == a.size  # the gaps are NaN


@pytest.mark.parametrize("name", ["numpy", "tensor"])
def test_built_ins_read_every_layout_as_the_values(name: str):
    registry = Registry()
    registry.add_entry_points(installed_entry_points())
    cls = registry.get(name).load()
    net = cls(tl.Dims(N=7, D_in=13, H=11, D_out=5), device="cpu", dtype="float64", seed=0)
    a = np.random.default_rng(1).standard_normal((7, 13))
    expected = net.forward(net.to_device(a))
    for layout, arrange in LAYOUTS.items():
        assert np.array_equal(net.forward(net.to_device(arrange(a))), expected), layout
