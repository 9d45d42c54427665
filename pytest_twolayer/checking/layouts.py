"""Memory layouts of the numpy arrays the suite hands to ``to_device``.

The contract says ``to_device`` accepts any numpy float array whatever its layout: what a
user gets from a data set is often not C-contiguous (a column of a wider table, every other
row, a transposed or reversed view). The shapes and hygiene concerns pass each layout here
with the same values as a C-ordered array; a ``to_device`` that reads the raw buffer instead
of the array (``np.frombuffer(a.tobytes(order="A"))``, strides assumed to be C's) gets other
numbers. The gaps of a strided view hold NaN, so whatever reads them shows it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def fortran_ordered(a: np.ndarray) -> np.ndarray:
    """A copy in column-major (Fortran) order: ``a.T`` of a C-ordered array looks the same."""
    return np.asfortranarray(a)


def _every_other(axis: int) -> Callable[[np.ndarray], np.ndarray]:
    def view(a: np.ndarray) -> np.ndarray:
        shape = list(a.shape)
        shape[axis] *= 2
        wide = np.full(shape, np.nan, dtype=a.dtype)
        index = tuple(slice(None, None, 2) if i == axis else slice(None) for i in range(a.ndim))
        wide[index] = a
        return wide[index]

    return view


def reversed_view(a: np.ndarray) -> np.ndarray:
    """A view with negative strides (``x[::-1]``), which ``torch.from_numpy`` and
    ``torch.tensor`` refuse."""
    flipped = tuple(slice(None, None, -1) for _ in range(a.ndim))
    return np.ascontiguousarray(a[flipped])[flipped]


LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Fortran-ordered array": fortran_ordered,
    "column-strided view": _every_other(axis=1),  # every other column of a wider array
    "row-strided view": _every_other(axis=0),  # every other row
    "reversed view": reversed_view,  # negative strides
}
"""Each layout the suite passes besides C order, by the name its messages use; each maker
returns an array equal to its (2-D) argument."""
