"""Argument checks every implementation needs, so adapters raise the contract's errors alike."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pytest_twolayer.spec.dims import Dims


def require_declared(cls: type, device: str, dtype: str) -> None:
    """Raise ``ValueError`` unless ``device`` and ``dtype`` are among ``cls``'s declarations."""
    declared_devices = tuple(getattr(cls, "devices", ()))
    declared_dtypes = tuple(getattr(cls, "dtypes", ()))
    if device not in declared_devices:
        raise ValueError(
            f"{cls.__name__} does not run on device {device!r}; it declares {declared_devices}"
        )
    if dtype not in declared_dtypes:
        raise ValueError(
            f"{cls.__name__} does not support dtype {dtype!r}; it declares {declared_dtypes}"
        )


def param_shapes(dims: Dims, names: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """The canonical shapes of ``names`` at ``dims``."""
    shapes = dims.param_shapes()
    return {name: shapes[name] for name in names}


def checked_params(
    params: Mapping[str, object], expected: Mapping[str, tuple[int, ...]], dtype: str
) -> dict[str, np.ndarray]:
    """Copies of ``params`` cast to ``dtype``, or ``ValueError`` for unknown, missing or
    mis-shaped names and for non-float arrays."""
    unknown = sorted(set(params) - set(expected))
    missing = sorted(set(expected) - set(params))
    if unknown or missing:
        raise ValueError(
            f"load() expects exactly {sorted(expected)}; unknown {unknown}, missing {missing}"
        )
    out: dict[str, np.ndarray] = {}
    for name, shape in expected.items():
        array = np.asarray(params[name])
        if array.shape != shape:
            raise ValueError(f"load(): {name} has shape {array.shape}, expected {shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"load(): {name} has dtype {array.dtype}, expected a float array")
        out[name] = np.array(array, dtype=dtype, copy=True)
    return out
