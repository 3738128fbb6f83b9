"""Activation functions of the lecture, and softmax / log-softmax.

Kernels are numerically stable: the logistic function never evaluates
``exp`` of a large positive number, softplus is ``logaddexp(0, z)``, and
softmax subtracts the row maximum (log-sum-exp trick), so logits of 1000
give finite results.
"""
from __future__ import annotations

import numpy as np

from ..types import normalize_axis
from . import register
from .numerics import log_softmax, sigmoid, softmax
from .base import Op, literal, need_float
from .elementwise import Unary


@register
class Relu(Unary):
    """y = max(0, z)"""
    expr = "np.maximum({x}, 0.0)"  # np.maximum, as the kernel: NaN stays NaN
    rule = "z̄ = ȳ ∘ 𝕀[z > 0]"
    lecture_factor = "𝕀[{x} > 0]"

    def kernel(self, attrs):
        return lambda z: np.maximum(z, 0, dtype=z.dtype)

    def out_kernel(self, attrs, alias=-1):
        return lambda out, z: np.maximum(z, 0, out=out)

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        return [f"{code.const(np.maximum, 'maximum')}({args[0]}, 0, out={out})"]

    def vjp(self, e, node, gys):
        return [e.Mul(gys[0], e.HardThreshold(node.inputs[0]))]


@register
class LeakyRelu(Unary):
    """y = z if z > 0 else αz"""
    attrs = {"alpha": 0.01}
    rule = "z̄ = ȳ ∘ (𝕀[z > 0] + α𝕀[z ≤ 0])"

    def scalar(self, attrs, xs, in_types):
        return f"{xs[0]} if {xs[0]} > 0 else {xs[0]} * {literal(attrs['alpha'])}"

    def kernel(self, attrs):
        a = attrs["alpha"]
        return lambda z: np.where(z > 0, z, z * z.dtype.type(a))

    def vjp(self, e, node, gys):
        z = node.inputs[0]
        step = e.HardThreshold(z)
        a = e.scalar_like(node.attrs["alpha"], z)
        one = e.scalar_like(1, z)
        slope = e.Add(step, e.Mul(a, e.Sub(one, step)))
        return [e.Mul(gys[0], slope)]


@register
class Softplus(Unary):
    """y = log(1 + eᶻ)  (the lecture's soft ReLU)"""
    expr = "np.logaddexp(0.0, {x})"
    rule = "z̄ = ȳ ∘ σ(z)"
    lecture_factor = "σ({x})"

    def kernel(self, attrs):
        return lambda z: np.logaddexp(z.dtype.type(0), z)

    def vjp(self, e, node, gys):
        return [e.Mul(gys[0], e.Sigmoid(node.inputs[0]))]


@register
class HardThreshold(Unary):
    """y = 𝕀[z > 0]  (1 if z > 0 else 0, in z's dtype)"""
    expr = "1.0 if {x} > 0 else 0.0"
    zero_grad = True
    rule = "z̄ = 0 almost everywhere (the step has no useful gradient)"

    def kernel(self, attrs):
        return lambda z: (z > 0).astype(z.dtype)

    def out_kernel(self, attrs, alias=-1):
        return lambda out, z: np.greater(z, 0, out=out)

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        return [f"{code.const(np.greater, 'greater')}({args[0]}, 0, {out})"]

    def vjp(self, e, node, gys):
        return [None]


@register
class Sigmoid(Unary):
    """y = σ(z) = 1 / (1 + e⁻ᶻ)  (the logistic function)"""
    expr = "1.0 / (1.0 + np.exp(-{x})) if {x} >= 0 else np.exp({x}) / (1.0 + np.exp({x}))"  # never e^(large)
    rule = "z̄ = ȳ ∘ σ′(z) = ȳ ∘ y(1 − y)"
    lecture_factor = "σ′({x})"

    def kernel(self, attrs):
        return sigmoid

    def out_kernel(self, attrs, alias=-1):
        return lambda out, z: np.copyto(out, sigmoid(z))

    def vjp(self, e, node, gys):
        y = node.outputs[0]
        return [e.Mul(gys[0], e.Mul(y, e.Sub(e.scalar_like(1, y), y)))]


@register
class Tanh(Unary):
    """y = tanh z"""
    expr = "np.tanh({x})"
    ufunc = np.tanh
    rule = "z̄ = ȳ ∘ (1 − y²)"
    lecture_factor = "(1 − {y}²)"

    def vjp(self, e, node, gys):
        y = node.outputs[0]
        return [e.Mul(gys[0], e.Sub(e.scalar_like(1, y), e.Square(y)))]


class _AxisOp(Op):
    attrs = {"axis": -1}

    def infer(self, ins, attrs):
        need_float(self, ins[0])
        normalize_axis(attrs["axis"], ins[0].rank, f"{self.name} axis")
        return [ins[0]]

    def flops(self, ins, outs, attrs, bindings=None):
        return 3 * (outs[0].numel(bindings) or 0)

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        """For each row along ``axis``: its maximum m, then Σ e^(z − m) (the log-sum-exp trick), then the result."""
        t = in_types[0]
        if not t.dtype.is_float:
            return False
        z, y, ax = args[0], outs[0], normalize_axis(attrs["axis"], t.rank, f"{self.name} axis")
        with lb.space(t.shape), lb.over([a for a in range(t.rank) if a != ax]):
            m, total = lb.local("m"), lb.local("total")
            lb.line(f"{m} = -np.inf")
            with lb.over((ax,)):
                lb.line(f"{m} = np.maximum({m}, {lb.at(z, t)})")
            lb.line(f"{total} = 0.0")
            row = {ax: lb.index_of(ax)}  # the row's elements as they are read inside its loops
            self.row_loops(lb, lb.at(z, t, fix=row), lb.at(y, t, fix=row), m, total, ax)
        return True

    def row_loops(self, lb, z, y, m, total, ax):
        """The passes over one row after its maximum ``m``: ``z``, ``y`` are the elements' texts."""
        raise NotImplementedError


def softmax_lines(code, z: str, axis: int, out: str):
    """Generated lines computing softmax(z) along ``axis`` into ``out``: the operations of
    ``numerics.softmax`` (so the same bits), with no temporary but the two reductions."""
    mx, sm = code.const(np.maximum.reduce, "maxr"), code.const(np.add.reduce, "sumr")
    sub, exp, div = code.const(np.subtract, "sub_"), code.const(np.exp, "exp_"), code.const(np.divide, "divide")
    return [f"{sub}({z}, {mx}({z}, {axis}, None, None, True), {out})", f"{exp}({out}, {out})",
            f"{div}({out}, {sm}({out}, {axis}, None, None, True), {out})"]


@register
class Softmax(_AxisOp):
    """yₖ = e^{zₖ} / Σₗ e^{zₗ} along ``axis``"""
    rule = "z̄ = y ∘ (ȳ − Σₖ ȳₖyₖ)"

    def kernel(self, attrs):
        axis = attrs["axis"]
        return lambda z: softmax(z, axis)

    def out_kernel(self, attrs, alias=-1):
        axis = attrs["axis"]

        def softmax_into(out, z):  # the same operations as numerics.softmax, so the same bits
            np.subtract(z, np.max(z, axis=axis, keepdims=True), out=out)
            np.exp(out, out=out)
            out /= np.sum(out, axis=axis, keepdims=True)
            return out
        return softmax_into

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        if not in_types[0].dtype.is_float:
            return super().emit(code, attrs, out, args, in_types)
        return softmax_lines(code, args[0], attrs["axis"], out)

    def row_loops(self, lb, z, y, m, total, ax):
        with lb.over((ax,)):
            lb.line(f"{y} = np.exp({z} - {m})")
            lb.line(f"{total} += {y}")
        with lb.over((ax,)):
            lb.line(f"{y} = {y} / {total}")

    def vjp(self, e, node, gys):
        y, g = node.outputs[0], gys[0]
        axis = node.attrs["axis"]
        dot = e.ReduceSum(e.Mul(g, y), axes=(axis,), keepdims=1)
        return [e.Mul(y, e.Sub(g, dot))]


@register
class LogSoftmax(_AxisOp):
    """yₖ = zₖ − log Σₗ e^{zₗ} along ``axis``"""
    rule = "z̄ = ȳ − softmax(z) ∘ Σₖ ȳₖ"

    def kernel(self, attrs):
        axis = attrs["axis"]
        return lambda z: log_softmax(z, axis)

    def row_loops(self, lb, z, y, m, total, ax):
        with lb.over((ax,)):
            lb.line(f"{total} += np.exp({z} - {m})")
        lse = lb.local("lse")
        lb.line(f"{lse} = np.log({total})")
        with lb.over((ax,)):
            lb.line(f"{y} = ({z} - {m}) - {lse}")

    def vjp(self, e, node, gys):
        y, g = node.outputs[0], gys[0]
        axis = node.attrs["axis"]
        total = e.ReduceSum(g, axes=(axis,), keepdims=1)
        return [e.Sub(g, e.Mul(e.Exp(y), total))]
