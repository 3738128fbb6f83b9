"""Comparisons beyond ``Greater`` and ``Equal``, and the logical ops on bool tensors.

All broadcast like NumPy and none is differentiable: a bool has no derivative. They appear in
gradient rules as masks; ``Clip(x, lo, hi)``'s vjp sends ȳ to x where neither bound was taken::

    %below: bool[N,4] = Less(%x, %lo)
    %max: f32[N,4] = Max(%x, %lo)
    %above: bool[N,4] = Greater(%max, %hi)
    %or: bool[N,4] = Or(%below, %above)
    %grad_x: f32[N,4] = Where(%or, %c, %grad_y)
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, broadcast_shapes
from . import register
from .elementwise import Compare, Unary


@register
class Less(Compare):
    """y = a < b (bool)"""
    ufunc = np.less


@register
class LessOrEqual(Compare):
    """y = a ≤ b (bool)"""
    ufunc = np.less_equal


@register
class GreaterOrEqual(Compare):
    """y = a ≥ b (bool)"""
    ufunc = np.greater_equal


class Logical(Compare):
    """Two bool operands, broadcast."""

    def infer(self, ins, attrs):
        if any(t.dtype != DType.bool for t in ins):
            raise IRTypeError(f"{self.name} needs bool operands, got {', '.join(str(t) for t in ins)}")
        return [TensorType(broadcast_shapes(ins[0].shape, ins[1].shape, f"{self.name} operands"), DType.bool)]


@register
class And(Logical):
    """y = a ∧ b"""
    commutative = True
    ufunc = np.logical_and


@register
class Or(Logical):
    """y = a ∨ b"""
    commutative = True
    ufunc = np.logical_or


@register
class Xor(Logical):
    """y = a ⊕ b (exactly one is true)"""
    commutative = True
    ufunc = np.logical_xor


@register
class Not(Unary):
    """y = ¬a"""
    needs_float = False
    differentiable = False
    nograd_reason = Compare.nograd_reason
    ufunc = np.logical_not

    def infer(self, ins, attrs):
        if ins[0].dtype != DType.bool:
            raise IRTypeError(f"Not needs a bool operand, got {ins[0]}")
        return [ins[0]]
