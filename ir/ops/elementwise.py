"""Elementwise arithmetic with NumPy broadcasting, erf, and comparisons (more in ``logic``).

Gradients of broadcasting ops are summed back to each operand's shape with
``Emitter.sum_to`` (unbroadcast), which emits explicit ``ReduceSum`` nodes.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, broadcast_shapes
from . import register
from .base import HOLE, Op, Term, hadamard, need_float, same_dtype
from .numerics import erf


def ufunc_out(uf):
    """``fn(out, *xs)`` for a NumPy ufunc: ``uf(*xs, out=out)``."""
    return lambda out, *xs: uf(*xs, out=out)


class Binary(Op):
    arity = (2, 2)
    elementwise = True
    foldable = True

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        if ins[0].dtype == DType.bool:  # NumPy has no bool Sub/Neg and makes Div float64, Pow int8
            raise IRTypeError(f"{self.name} needs numeric operands, got {ins[0]} and {ins[1]}")
        return [TensorType(broadcast_shapes(ins[0].shape, ins[1].shape, f"{self.name} operands"), ins[0].dtype)]

    def kernel(self, attrs):
        return self.ufunc

    def out_kernel(self, attrs, alias=-1):
        return ufunc_out(self.ufunc) if self.ufunc is not None else None


class Unary(Op):
    elementwise = True
    foldable = True
    needs_float = True

    def infer(self, ins, attrs):
        if self.needs_float:
            need_float(self, ins[0])
        return [ins[0]]

    def kernel(self, attrs):
        return self.ufunc

    def out_kernel(self, attrs, alias=-1):
        return ufunc_out(self.ufunc) if self.ufunc is not None else None


@register
class Add(Binary):
    """y = a + b"""
    commutative = True
    ufunc = np.add
    rule = "ā = ȳ, b̄ = ȳ (each summed to its operand's shape)"

    def lecture(self, node, i, n):
        return Term(1.0, HOLE)

    def vjp(self, e, node, gys):
        a, b = node.inputs
        return [e.sum_to(gys[0], a.type), e.sum_to(gys[0], b.type)]


@register
class Sub(Binary):
    """y = a - b"""
    ufunc = np.subtract
    rule = "ā = ȳ, b̄ = −ȳ"

    def lecture(self, node, i, n):
        return Term(1.0 if i == 0 else -1.0, HOLE)

    def vjp(self, e, node, gys):
        a, b = node.inputs
        return [e.sum_to(gys[0], a.type), e.sum_to(e.Neg(gys[0]), b.type)]


@register
class Mul(Binary):
    """y = a * b"""
    commutative = True
    ufunc = np.multiply
    rule = "ā = ȳ ∘ b, b̄ = ȳ ∘ a"

    def lecture(self, node, i, n):
        other = node.inputs[1 - i]
        c = n.const(other)  # a scalar constant is a coefficient: z̄ λ, not z̄ ∘ c
        return Term(c, HOLE) if c is not None else Term(1.0, f"{HOLE}{hadamard(node)}{n.sym(other)}")

    def vjp(self, e, node, gys):
        a, b = node.inputs
        return [e.sum_to(e.Mul(gys[0], b), a.type), e.sum_to(e.Mul(gys[0], a), b.type)]


@register
class Div(Binary):
    """y = a / b"""
    rule = "ā = ȳ / b, b̄ = −ȳ ∘ y / b"

    def lecture(self, node, i, n):
        b, y = n.sym(node.inputs[1]), n.sym(node.outputs[0])
        return Term(1.0, f"{HOLE} / {b}") if i == 0 else Term(-1.0, f"{HOLE}{hadamard(node)}{y} / {b}")

    def kernel(self, attrs):
        def div(a, b):
            if a.dtype.kind in "iu":  # integer division truncates toward zero, as in ONNX
                return np.trunc(np.true_divide(a, b)).astype(a.dtype)
            return np.divide(a, b)
        return div

    def out_kernel(self, attrs, alias=-1):
        def div(out, a, b):
            if out.dtype.kind in "iu":
                np.copyto(out, np.trunc(np.true_divide(a, b)), casting="unsafe")
            else:
                np.divide(a, b, out=out)
        return div

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        if in_types[0].dtype.is_float:  # the integer form truncates: its out-kernel
            return [f"{code.const(np.divide, 'divide')}({args[0]}, {args[1]}, {out})"]
        return super().emit(code, attrs, out, args, in_types)

    def vjp(self, e, node, gys):
        a, b = node.inputs
        y = node.outputs[0]
        ga = e.Div(gys[0], b)
        return [e.sum_to(ga, a.type), e.sum_to(e.Neg(e.Mul(ga, y)), b.type)]


@register
class Pow(Binary):
    """y = a ** b"""
    ufunc = np.power
    rule = "ā = ȳ ∘ b·a^(b−1), b̄ = ȳ ∘ y·log a"

    def vjp(self, e, node, gys):
        a, b = node.inputs
        y = node.outputs[0]
        one = e.scalar_like(1, b)
        ga = e.Mul(gys[0], e.Mul(b, e.Pow(a, e.Sub(b, one))))
        gb = e.Mul(gys[0], e.Mul(y, e.Log(a)))
        return [e.sum_to(ga, a.type), e.sum_to(gb, b.type)]


@register
class Neg(Unary):
    """y = −x"""
    ufunc = np.negative
    needs_float = False
    rule = "x̄ = −ȳ"

    def lecture(self, node, i, n):
        return Term(-1.0, HOLE)

    def infer(self, ins, attrs):
        if ins[0].dtype == DType.bool:
            raise IRTypeError(f"Neg needs a numeric operand, got {ins[0]}")
        return [ins[0]]

    def vjp(self, e, node, gys):
        return [e.Neg(gys[0])]


@register
class Identity(Unary):
    """y = x"""
    needs_float = False
    rule = "x̄ = ȳ"

    def lecture(self, node, i, n):
        return Term(1.0, HOLE)

    view = True

    def kernel(self, attrs):
        return lambda x: x

    def out_kernel(self, attrs, alias=-1):
        return lambda out, x: np.copyto(out, x)

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        return [f"{code.const(np.copyto, 'copyto')}({out}, {args[0]})"]

    def vjp(self, e, node, gys):
        return [gys[0]]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class Exp(Unary):
    """y = eˣ"""
    ufunc = np.exp
    rule = "x̄ = ȳ ∘ y"
    lecture_factor = "{y}"

    def vjp(self, e, node, gys):
        return [e.Mul(gys[0], node.outputs[0])]


@register
class Log(Unary):
    """y = log x"""
    ufunc = np.log
    rule = "x̄ = ȳ / x"
    lecture_factor = "(1/{x})"

    def vjp(self, e, node, gys):
        return [e.Div(gys[0], node.inputs[0])]


@register
class Sqrt(Unary):
    """y = √x"""
    ufunc = np.sqrt
    rule = "x̄ = ȳ / (2y)"

    def vjp(self, e, node, gys):
        y = node.outputs[0]
        return [e.Div(gys[0], e.Mul(e.scalar_like(2, y), y))]


@register
class Square(Unary):
    """y = x²"""
    ufunc = np.square
    rule = "x̄ = ȳ ∘ 2x"

    def lecture(self, node, i, n):
        return Term(2.0, f"{HOLE}{hadamard(node)}{n.sym(node.inputs[0])}")

    def vjp(self, e, node, gys):
        x = node.inputs[0]
        return [e.Mul(gys[0], e.Mul(e.scalar_like(2, x), x))]


@register
class Sin(Unary):
    """y = sin x"""
    ufunc = np.sin
    rule = "x̄ = ȳ ∘ cos x"
    lecture_factor = "cos {x}"

    def vjp(self, e, node, gys):
        return [e.Mul(gys[0], e.Cos(node.inputs[0]))]


@register
class Cos(Unary):
    """y = cos x"""
    ufunc = np.cos
    rule = "x̄ = −ȳ ∘ sin x"

    def vjp(self, e, node, gys):
        return [e.Neg(e.Mul(gys[0], e.Sin(node.inputs[0])))]


@register
class Erf(Unary):
    """y = erf(x) = 2/√π ∫₀ˣ e^(−t²) dt  (NumPy has none: ``numerics.erf``)"""
    rule = "x̄ = ȳ ∘ 2/√π e^(−x²)"
    lecture_factor = "2/√π e^(−{x}²)"

    def kernel(self, attrs):
        return erf

    def vjp(self, e, node, gys):
        x = node.inputs[0]
        density = e.Mul(e.scalar_like(2 / math.sqrt(math.pi), x), e.Exp(e.Neg(e.Square(x))))
        return [e.Mul(gys[0], density)]

    def flops(self, ins, outs, attrs, bindings=None):
        return 25 * (outs[0].numel(bindings) or 0)  # a Horner sum of about 20 terms


class NumericUnary(Unary):
    """One operand of any dtype but bool (NumPy has no bool arithmetic to match ONNX's)."""
    needs_float = False

    def infer(self, ins, attrs):
        if ins[0].dtype == DType.bool:
            raise IRTypeError(f"{self.name} needs a numeric operand, got {ins[0]}")
        return [ins[0]]


@register
class Abs(NumericUnary):
    """y = |x|"""
    ufunc = np.abs
    rule = "x̄ = ȳ ∘ sign(x)"
    lecture_factor = "sign({x})"

    def vjp(self, e, node, gys):
        return [e.Mul(gys[0], e.Sign(node.inputs[0]))]


@register
class Reciprocal(Unary):
    """y = 1/x"""
    ufunc = np.reciprocal
    rule = "x̄ = −ȳ ∘ y²"

    def lecture(self, node, i, n):
        return Term(-1.0, f"{HOLE}{hadamard(node)}{n.sym(node.outputs[0])}²")

    def vjp(self, e, node, gys):
        return [e.Neg(e.Mul(gys[0], e.Square(node.outputs[0])))]


@register
class Sum(Op):
    """y = x₀ + x₁ + … : the Σ of the multivariate chain rule at a fan-out."""
    commutative = True
    arity = (1, None)
    elementwise = True
    foldable = True
    rule = "x̄ᵢ = ȳ for every term"

    def lecture(self, node, i, n):
        return Term(1.0, HOLE)

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        shape = ins[0].shape
        for t in ins[1:]:
            shape = broadcast_shapes(shape, t.shape, "Sum terms")
        return [TensorType(shape, ins[0].dtype)]

    def kernel(self, attrs):
        def total(*xs):
            out = np.add(xs[0], xs[1]) if len(xs) > 1 else np.array(xs[0], copy=True)
            if not isinstance(out, np.ndarray):  # 0-d operands give a NumPy scalar
                out = np.asarray(out)
            for x in xs[2:]:  # a later term may broadcast the running total to a larger shape
                out = np.add(out, x, out=out) if np.broadcast_shapes(out.shape, x.shape) == out.shape else out + x
            return out
        return total

    def out_kernel(self, attrs, alias=-1):
        fresh = self.kernel(attrs)

        def total(out, *xs):
            # out may share the buffer of a term (planned in place); a term after the first two
            # would be overwritten before it is read, so that case sums into a new array first
            if len(xs) > 2 and any(np.may_share_memory(out, x) for x in xs[2:]):
                np.copyto(out, fresh(*xs))
                return
            np.add(xs[0], xs[1], out=out) if len(xs) > 1 else np.copyto(out, xs[0])
            for x in xs[2:]:
                np.add(out, x, out=out)
        return total

    def vjp(self, e, node, gys):
        return [e.sum_to(gys[0], x.type) for x in node.inputs]


class Compare(Binary):
    differentiable = False
    nograd_reason = "a comparison's result is a bool, which has no derivative"

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        return [TensorType(broadcast_shapes(ins[0].shape, ins[1].shape, f"{self.name} operands"), DType.bool)]


@register
class Greater(Compare):
    """y = a > b (bool)"""
    ufunc = np.greater


@register
class Equal(Compare):
    """y = a == b (bool)"""
    commutative = True
    ufunc = np.equal


@register
class Where(Op):
    """y = c ? a : b"""
    arity = (3, 3)
    elementwise = True
    nondiff_inputs = (0,)
    rule = "ā = ȳ where c, b̄ = ȳ where not c"

    def infer(self, ins, attrs):
        c, a, b = ins
        if c.dtype != DType.bool:
            raise IRTypeError(f"Where needs a bool condition, got {c}")
        if a.dtype != b.dtype:
            raise IRTypeError(f"Where needs branches of one dtype, got {a} and {b}")
        shape = broadcast_shapes(broadcast_shapes(c.shape, a.shape, "Where operands"), b.shape, "Where operands")
        return [TensorType(shape, a.dtype)]

    def kernel(self, attrs):
        return np.where

    def vjp(self, e, node, gys):
        c, a, b = node.inputs
        zero = e.scalar_like(0, gys[0])
        return [None, e.sum_to(e.Where(c, gys[0], zero), a.type), e.sum_to(e.Where(c, zero, gys[0]), b.type)]


@register
class Cast(Op):
    """y = x converted to dtype ``to``."""
    attrs = {"to": DType.f32}
    elementwise = True
    differentiable = False

    def infer(self, ins, attrs):
        return [ins[0].with_dtype(attrs["to"])]

    def kernel(self, attrs):
        dt = DType.of(attrs["to"]).numpy
        return lambda x: x.astype(dt)
