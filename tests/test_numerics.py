"""``ir/ops/numerics.erf`` (NumPy has no erf) against ``math.erf`` on dense grids, at the
precision its docstring claims: 6 ulp in float64, and float32 results that are ``math.erf``
rounded to float32 (within 1 ulp), over the Taylor part (|x| < 1), each Chebyshev piece of
erfc(x)·e^(x²) (1..2, 2..4, 4..6) and the saturated tail."""
import math

import numpy as np
import pytest

from chainrule.ir.ops.numerics import erf

#: every region, its edges from both sides, and the tails
GRID = np.concatenate([np.linspace(-8.0, 8.0, 200_001), np.linspace(-1e-3, 1e-3, 2001),
                       [k + d for k in (-6.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0, 6.0) for d in (-1e-12, 0.0, 1e-12)],
                       [1e-300, -1e-300, 5e-324, 30.0, -1e30]])


def test_erf_float64_is_within_6_ulp_of_math_erf():
    want = np.array([math.erf(v) for v in GRID])
    got = erf(GRID)
    assert got.dtype == np.float64 and got.shape == GRID.shape
    ulp = np.spacing(np.abs(want))  # the spacing of float64 at each exact value
    worst = np.max(np.abs(got - want) / np.maximum(ulp, np.finfo(np.float64).smallest_subnormal))
    assert worst <= 6, f"erf is {worst:.1f} ulp from math.erf"


def test_erf_float32_is_math_erf_rounded_to_float32():
    x = GRID.astype(np.float32)
    want = np.array([math.erf(float(v)) for v in x]).astype(np.float32)
    got = erf(x)
    assert got.dtype == np.float32
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_erf_special_values(dt):
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e4, -1e4], dt)
    with np.errstate(all="raise"):
        got = erf(x)
    assert got.dtype == dt
    np.testing.assert_array_equal(got, [1, -1, np.nan, 0, 0, 1, -1])
    assert np.signbit(got[4]) and not np.signbit(got[3])  # erf is odd: erf(−0) = −0
    assert erf(np.array(0.5, dt)).shape == ()  # 0-d in, 0-d out
