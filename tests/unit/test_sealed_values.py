"""What crosses between the judge and a host is data of a closed set, decoded without running
anything the host sent."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_twolayer.sealed.values import DecodeError, Decoder, Encoder, Opaque, dumps, loads


def round_trip(value: object) -> object:
    encoder = Encoder()
    data = loads(dumps(encoder.encode(value)))
    return Decoder([bytes(b) for b in encoder.buffers]).decode(data)


@pytest.mark.parametrize(
    "value",
    [None, True, 3, -(2**70), "w1", 1.5, [1, [2.0]], (1, (2,)), {"w1": 1, 3: (4,)}],
)
def test_plain_values_come_back_equal_and_of_their_type(value: object):
    back = round_trip(value)
    assert back == value
    assert type(back) is type(value)


def test_floats_that_json_cannot_spell_come_back():
    back = round_trip([math.inf, -math.inf, math.nan, 0.1])
    assert back[:2] == [math.inf, -math.inf]
    assert math.isnan(back[2])
    assert back[3] == 0.1


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool", "complex128"])
def test_arrays_come_back_with_dtype_shape_and_values(dtype: str):
    array = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    back = round_trip({"a": array, "view": array[::-1, ::2]})
    assert isinstance(back, dict)
    for key, expected in (("a", array), ("view", array[::-1, ::2])):
        assert back[key].dtype == expected.dtype
        assert back[key].shape == expected.shape
        assert np.array_equal(back[key], expected)
        assert back[key].flags.writeable
        assert back[key].flags.owndata


def test_numpy_scalars_keep_their_type():
    back = round_trip((np.float32(0.25), np.float64(2.0), np.int32(7)))
    assert [type(v) for v in back] == [np.float32, np.float64, np.int32]
    assert back == (0.25, 2.0, 7)


class Tensor:
    def __repr__(self) -> str:
        return "tensor([1.])"


class FloatSubclass(float):
    pass


@pytest.mark.parametrize(
    ("value", "name"),
    [(Tensor(), "Tensor"), (FloatSubclass(1.0), "FloatSubclass"), (np.array(["a"]), "ndarray")],
)
def test_what_is_not_data_arrives_opaque_under_its_type_name(value: object, name: str):
    back = round_trip(value)
    assert isinstance(back, Opaque)
    assert type(back).__name__ == name


def test_an_array_of_objects_is_not_data():
    assert isinstance(round_trip(np.array([object()])), Opaque)


@pytest.mark.parametrize(
    ("data", "buffers", "why"),
    [
        ({"A": 0, "dtype": "O", "shape": [1]}, [b"x" * 8], "not a numeric dtype"),
        ({"A": 0, "dtype": "<f8", "shape": [2]}, [b"x" * 8], "in 8 bytes"),
        ({"A": 1, "dtype": "<f8", "shape": [1]}, [b"x" * 8], "no buffer"),
        ({"Z": 1}, [], "unknown value tag"),
        ({"H": 1}, [], "native"),
        ({"D": [[[1], 2]]}, [], "unhashable"),
    ],
)
def test_what_is_not_a_value_is_refused(data: object, buffers: list[bytes], why: str):
    with pytest.raises(DecodeError, match=why):
        Decoder(buffers).decode(data)


def test_nesting_beyond_the_limit_is_refused_not_a_crash():
    data: object = 1
    for _ in range(200):
        data = [data]
    with pytest.raises(DecodeError, match="nested too deep"):
        Decoder([]).decode(data)
    with pytest.raises(DecodeError):
        loads(b"[" * 100_000 + b"]" * 100_000)
