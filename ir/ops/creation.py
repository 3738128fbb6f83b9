"""Ops that make an array from their attributes alone, with no operands: ``ConstantOfShape`` (an
array filled with one value) and ``Range`` (an arithmetic progression).

ONNX gives their shape and bounds as inputs; the IR takes them as attributes (as Reshape's target),
so the IR text stays one short line however big the array is, where a ``Constant`` would print
every element:

    %mask: f32[512,512] = ConstantOfShape() {shape=[512, 512], value=1.0}
    %pos: i64[128] = Range() {limit=128}

Both are ``foldable``: the executors make the array once per set of bindings. Nothing flows back
through them (they have no operands).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, axis_list
from . import register
from .base import REQUIRED, Op


def scalar_of(v, dt: DType, what: str):
    """Attribute ``v``, one number, as NumPy's scalar of ``dt`` (an integer type takes whole numbers only)."""
    if not isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
        raise IRTypeError(f"{what} must be a number, got {v!r}")
    if not dt.is_float and dt != DType.bool and isinstance(v, (float, np.floating)) \
            and not (math.isfinite(v) and float(v).is_integer()):
        raise IRTypeError(f"{what} {v!r} is not a whole number, as {dt.value} needs")
    try:
        return dt.numpy.type(v)
    except OverflowError:
        raise IRTypeError(f"{what} {v!r} does not fit in {dt.value}") from None


@register
class ConstantOfShape(Op):
    """y = an array of ``shape`` with every element ``value`` (of ``dtype``)"""
    arity = (0, 0)
    attrs = {"shape": REQUIRED, "value": 0.0, "dtype": DType.f32}
    differentiable = False
    foldable = True

    def infer(self, ins, attrs):
        shape = axis_list(attrs["shape"], "ConstantOfShape shape")
        if any(d < 0 for d in shape):
            raise IRTypeError(f"ConstantOfShape shape must have sizes ≥ 0, got {attrs['shape']}")
        dt = DType.of(attrs["dtype"])
        scalar_of(attrs["value"], dt, "ConstantOfShape value")
        return [TensorType(shape, dt)]

    def kernel(self, attrs):
        shape, dt = tuple(attrs["shape"]), DType.of(attrs["dtype"])
        value = scalar_of(attrs["value"], dt, "ConstantOfShape value")
        return lambda: np.full(shape, value, dt.numpy)

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


def range_count(start, limit, delta, dt: DType) -> int:
    """ONNX's number of elements of a Range, max(⌈(limit − start)/delta⌉, 0): exact for integers,
    in float64 for floats (as ONNX's reference); -1 if it is not finite."""
    if not dt.is_float:
        return max(-((int(start) - int(limit)) // int(delta)), 0)
    n = (float(limit) - float(start)) / float(delta)
    return max(math.ceil(n), 0) if math.isfinite(n) else -1


@register
class Range(Op):
    """y = start, start + delta, start + 2·delta, … short of ``limit``: max(⌈(limit − start)/delta⌉, 0)
    numbers of ``dtype``, the i-th computed as start + i·delta"""
    arity = (0, 0)
    attrs = {"start": 0, "limit": REQUIRED, "delta": 1, "dtype": DType.i64}
    differentiable = False
    foldable = True

    def _bounds(self, attrs):
        dt = DType.of(attrs["dtype"])
        if dt == DType.bool:
            raise IRTypeError("Range needs a number dtype, got bool")
        start, limit, delta = (scalar_of(attrs[k], dt, f"Range {k}") for k in ("start", "limit", "delta"))
        if delta == 0:
            raise IRTypeError("Range delta must not be 0")
        n = range_count(start, limit, delta, dt)
        if n < 0:
            raise IRTypeError(f"Range from {start} to {limit} by {delta} has no finite length")
        return start, delta, n, dt

    def infer(self, ins, attrs):
        _, _, n, dt = self._bounds(attrs)
        return [TensorType((n,), dt)]

    def kernel(self, attrs):
        start, delta, n, dt = self._bounds(attrs)
        if dt.is_float:  # in float64, rounded once to dt
            return lambda: (float(start) + np.arange(n, dtype=np.float64) * float(delta)).astype(dt.numpy)
        return lambda: (int(start) + np.arange(n, dtype=np.int64) * int(delta)).astype(dt.numpy)

    def flops(self, ins, outs, attrs, bindings=None):
        return 0
