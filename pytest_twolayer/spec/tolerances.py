"""Per-dtype tolerances for comparing an implementation with the float64 reference.

Error analysis (Higham, "Accuracy and Stability of Numerical Algorithms", ch. 3; the
probabilistic bound of Higham & Mary 2019): a length-``K`` dot product computed with unit
roundoff ``u`` has a relative error of about ``sqrt(K) * u`` with overwhelming probability
(worst case ``K * u``). A loss, forward pass or gradient of this network is a chain of
``layers + 1`` such products (``layers`` = 2 plus the middle repeats), and errors along the
chain add, so the normwise relative error is about ``(layers + 1) * sqrt(K) * u`` with ``K``
the largest inner dimension. We allow ``SAFETY`` times that.

For the tutorial dims (``K = 1000``) this gives about 1.8e-4 (float32) and 3.4e-13
(float64) at depth 0. A float32 implementation that silently computes in TF32
(``u = 2**-11``) is off by about 5e-4 and fails; a float64 implementation that computes in
float32 anywhere is off by about 1e-6 and fails.
"""

from __future__ import annotations

import math

from pytest_twolayer.spec.dims import Dims

UNIT_ROUNDOFF: dict[str, float] = {"float32": 2.0**-24, "float64": 2.0**-53}

SAFETY = 32.0
"""Headroom over the probabilistic bound: the bound is a typical size, not a maximum."""

KINK_MARGIN: dict[str, float] = {"float32": 1e-5, "float64": 1e-11}
"""Smallest ``|pre-activation| / RMS`` at which the suite compares gradients.

A float32 pre-activation carries an absolute error of about ``u * RMS`` (a few 1e-8 of
its layer's RMS), so a ReLU whose input is 1e-5 of the RMS away from 0 cannot flip under
rounding: 100x headroom. Points closer to a kink are redrawn.
"""

UPDATE_RTOL: dict[str, float] = {"float32": 1e-3, "float64": 1e-8}
"""Tolerance on one step's displacement ``p_new - p_old``, relative to its reference norm.

The suite scales the data so that one step moves the parameters by about 1% of their norm
(Adam: by ``lr`` per element). Storing ``p_new`` rounds it by ``u * |p|``, i.e.
``u / 0.01`` = 6e-6 of the displacement in float32; the gradient adds its own ~2e-4 at
most. A learning rate off by 0.1% or more, a wrong beta, or a missing bias correction
moves the displacement by far more.
"""


def rtol(dtype: str, dims: Dims, depth: int = 0) -> float:
    """Normwise relative tolerance of a loss, forward output or gradient in ``dtype``."""
    inner = max(dims.N, dims.D_in, dims.H, dims.D_out)
    layers = 2 + depth
    return SAFETY * (layers + 1) * math.sqrt(inner) * UNIT_ROUNDOFF[dtype]


ADAM_SIGN_MARGIN: dict[str, float] = {"float32": 1e-3, "float64": 1e-9}
"""Adam elements whose first moment is this close to 0 (relative to its RMS) are not compared.

Adam moves each element by about ``lr * sign(m)``. A float32 gradient element carries an
error of about ``sqrt(K) * u`` = 2e-6 of the RMS, so below 1e-3 of the RMS (500x headroom)
the sign is rounding's choice; that excludes about 0.08% of the elements. In float64 the
margin is 1e-9 and excludes essentially none.
"""
