"""Elementwise extrema: variadic ``Max`` and ``Min``, and ``Clip`` between two bounds.

The derivative of a max is 1 for the operand that attains it and 0 for the others; where
several operands are equal to the result (a tie) the first one in argument order takes the
whole gradient, as ONNX's ArgMax picks the first index (``select_last_index=0``). So the
gradients of the operands always add up to ȳ. Max(a, b)'s vjp, as IR::

    %c: f32[] = Constant() {value=dense<f32[]>0.0}
    %hit: bool[N,4] = Equal(%a, %y)            # a attains the max: it takes ȳ
    %grad_a: f32[N,4] = Where(%hit, %grad_y, %c)
    %hit.1: bool[N,4] = Equal(%b, %y)
    %not: bool[N,4] = Not(%hit)                # b takes ȳ only where a did not
    %win: bool[N,4] = And(%hit.1, %not)
    %grad_b: f32[N,4] = Where(%win, %grad_y, %c)

``Clip(x, lo, hi)`` is Min(Max(x, lo), hi), with the same rule: at x = lo or x = hi the
gradient goes to x.
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, broadcast_shapes
from . import register
from .base import Op, same_dtype


def _numeric(op, ins):
    same_dtype(op, ins)
    if ins[0].dtype == DType.bool:
        raise IRTypeError(f"{op.name} needs numeric operands, got {', '.join(str(t) for t in ins)}")


class Extremum(Op):
    """y = the elementwise max (min) of one or more broadcast operands."""
    arity = (1, None)
    elementwise = True
    foldable = True
    pick = None  # np.maximum or np.minimum

    def infer(self, ins, attrs):
        _numeric(self, ins)
        shape = ins[0].shape
        for t in ins[1:]:
            shape = broadcast_shapes(shape, t.shape, f"{self.name} operands")
        return [TensorType(shape, ins[0].dtype)]

    def kernel(self, attrs):
        pick = self.pick

        def extremum(*xs):
            y = np.array(xs[0], copy=True) if len(xs) == 1 else pick(xs[0], xs[1])
            for x in xs[2:]:
                y = pick(y, x)
            return np.asarray(y)
        return extremum

    def vjp(self, e, node, gys):
        y, gy = node.outputs[0], gys[0]
        if len(node.inputs) == 1:
            return [gy]
        zero = e.scalar_like(0, gy)
        grads, taken = [], None
        for k, x in enumerate(node.inputs):
            hit = e.Equal(x, y, name="hit")
            win = hit if taken is None else e.And(hit, e.Not(taken), name="win")
            if k < len(node.inputs) - 1:
                taken = hit if taken is None else e.Or(taken, hit, name="taken")
            grads.append(e.sum_to(e.Where(win, gy, zero), x.type))
        return grads


@register
class Max(Extremum):
    """y = max(x₀, x₁, …) elementwise"""
    pick = np.maximum
    rule = "x̄ᵢ = ȳ where xᵢ is the first operand equal to y, else 0"


@register
class Min(Extremum):
    """y = min(x₀, x₁, …) elementwise"""
    pick = np.minimum
    rule = "x̄ᵢ = ȳ where xᵢ is the first operand equal to y, else 0"


@register
class Clip(Op):
    """y = min(max(x, lo), hi)  (ONNX: hi wins where lo > hi); lo and hi broadcast to x"""
    arity = (3, 3)
    elementwise = True
    foldable = True
    rule = "x̄ = ȳ where lo ≤ x ≤ hi, lō = ȳ where x < lo ≤ hi, hī = ȳ where max(x, lo) > hi"

    def infer(self, ins, attrs):
        _numeric(self, ins)
        x = ins[0]
        for name, t in zip(("min", "max"), ins[1:]):
            if broadcast_shapes(x.shape, t.shape, "Clip operands") != tuple(x.shape):
                raise IRTypeError(f"Clip's {name} {t} must broadcast to the input's shape {x}")
        return [x]

    def kernel(self, attrs):
        return lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)

    def vjp(self, e, node, gys):
        x, lo, hi = node.inputs
        gy = gys[0]
        zero = e.scalar_like(0, gy)
        below = e.Less(x, lo, name="below")  # lo is the max(x, lo)
        above = e.Greater(e.Max(x, lo), hi, name="above")  # hi is the min
        gx = e.Where(e.Or(below, above), zero, gy)
        glo = e.Where(e.And(below, e.Not(above)), gy, zero)
        return [gx, e.sum_to(glo, lo.type), e.sum_to(e.Where(above, gy, zero), hi.type)]

    def flops(self, ins, outs, attrs, bindings=None):
        return 2 * (outs[0].numel(bindings) or 0)
