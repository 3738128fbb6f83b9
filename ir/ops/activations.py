"""Activation functions of the lecture, softmax / log-softmax, and the ones ONNX models use
(ELU, SELU, CELU, GELU, Mish, the hard sigmoid and swish, softsign, PReLU).

Kernels are numerically stable: the logistic function never evaluates
``exp`` of a large positive number, softplus is ``logaddexp(0, z)``, the ELUs
exponentiate only min(z, 0), and softmax subtracts the row maximum (log-sum-exp
trick), so logits of 1000 give finite results.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, broadcast_shapes, normalize_axis
from . import register
from .numerics import erf, log_softmax, sigmoid, softmax
from .base import Op, need_float, same_dtype
from .elementwise import Unary


@register
class Relu(Unary):
    """y = max(0, z)"""
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
    rule = "z̄ = ȳ ∘ σ(z)"
    lecture_factor = "σ({x})"

    def kernel(self, attrs):
        return lambda z: np.logaddexp(z.dtype.type(0), z)

    def vjp(self, e, node, gys):
        return [e.Mul(gys[0], e.Sigmoid(node.inputs[0]))]


@register
class HardThreshold(Unary):
    """y = 𝕀[z > 0]  (1 if z > 0 else 0, in z's dtype)"""
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

    def vjp(self, e, node, gys):
        y, g = node.outputs[0], gys[0]
        axis = node.attrs["axis"]
        total = e.ReduceSum(g, axes=(axis,), keepdims=1)
        return [e.Sub(g, e.Mul(e.Exp(y), total))]


# -- the exponential linear units: z for z > 0, a scaled eᶻ − 1 below --------------------------
def _below_zero(e, z, gy, below, above, at_zero_above=True):
    """ȳ ∘ (``below`` where z < 0 (z ≤ 0 if not ``at_zero_above``), else ``above``): the vjp of a
    function with two pieces that meet at 0."""
    zero = e.scalar_like(0, z)
    neg = e.Less(z, zero) if at_zero_above else e.LessOrEqual(z, zero)
    return e.Mul(gy, e.Where(neg, below, above))


@register
class Elu(Unary):
    """y = z if z ≥ 0 else α(eᶻ − 1)"""
    attrs = {"alpha": 1.0}
    rule = "z̄ = ȳ ∘ (y + α if z < 0 else 1)"

    def kernel(self, attrs):
        a = attrs["alpha"]
        return lambda z: np.where(z >= 0, z, z.dtype.type(a) * np.expm1(np.minimum(z, 0)))

    def vjp(self, e, node, gys):
        z, y = node.inputs[0], node.outputs[0]
        return [_below_zero(e, z, gys[0], e.Add(y, e.scalar_like(node.attrs["alpha"], y)), e.scalar_like(1, z))]


@register
class Selu(Unary):
    """y = γz if z > 0 else γα(eᶻ − 1)  (ONNX's defaults: the self-normalising α and γ)"""
    attrs = {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875}
    rule = "z̄ = ȳ ∘ (y + γα if z ≤ 0 else γ)"

    def kernel(self, attrs):
        a, g = attrs["alpha"], attrs["gamma"]

        def selu(z):
            t = z.dtype.type
            return t(g) * np.where(z > 0, z, t(a) * np.expm1(np.minimum(z, 0)))
        return selu

    def vjp(self, e, node, gys):
        z, y = node.inputs[0], node.outputs[0]
        a, g = node.attrs["alpha"], node.attrs["gamma"]
        return [_below_zero(e, z, gys[0], e.Add(y, e.scalar_like(g * a, y)), e.scalar_like(g, z), False)]


@register
class Celu(Unary):
    """y = max(0, z) + min(0, α(e^(z/α) − 1))"""
    attrs = {"alpha": 1.0}
    rule = "z̄ = ȳ ∘ (y/α + 1 if z ≤ 0 else 1)"

    def infer(self, ins, attrs):
        if attrs["alpha"] == 0:
            raise IRTypeError("Celu needs alpha ≠ 0 (it divides by alpha)")
        return super().infer(ins, attrs)

    def kernel(self, attrs):
        a = attrs["alpha"]

        def celu(z):
            t = z.dtype.type
            return np.where(z > 0, z, t(a) * np.expm1(np.minimum(z, 0) / t(a)))
        return celu

    def vjp(self, e, node, gys):
        z, y = node.inputs[0], node.outputs[0]
        a = node.attrs["alpha"]
        below = e.Add(e.Mul(y, e.scalar_like(1 / a, y)), e.scalar_like(1, y))  # e^(z/α)
        return [_below_zero(e, z, gys[0], below, e.scalar_like(1, z), False)]


# -- GELU, Mish: x times a smooth gate -----------------------------------------------------------
#: √(2/π) and the cubic coefficient of GELU's tanh approximation.
GELU_K, GELU_C = math.sqrt(2 / math.pi), 0.044715
#: For |z| ≥ 20 the tanh of the approximation is ±1 exactly (its argument is over 300), so the
#: kernel clips z there before cubing it: the same bits, and no overflow.
GELU_CLIP = 20.0


@register
class Gelu(Unary):
    """y = z·Φ(z) = ½z(1 + erf(z/√2)); approximate="tanh": ½z(1 + tanh(√(2/π)(z + 0.044715z³)))"""
    attrs = {"approximate": "none"}
    rule = "z̄ = ȳ ∘ (Φ(z) + z·φ(z)); tanh: ȳ ∘ ½(1 + t + z(1 − t²)·√(2/π)(1 + 3·0.044715z²))"
    lecture_factor = "Φ′({x})"

    def infer(self, ins, attrs):
        if attrs["approximate"] not in ("none", "tanh"):
            raise IRTypeError(f"Gelu's approximate must be 'none' or 'tanh', got {attrs['approximate']!r}")
        return super().infer(ins, attrs)

    def kernel(self, attrs):
        if attrs["approximate"] == "tanh":
            def gelu_tanh(z):
                t = z.dtype.type
                zc = np.clip(z, t(-GELU_CLIP), t(GELU_CLIP))
                return t(0.5) * z * (t(1) + np.tanh(t(GELU_K) * (zc + t(GELU_C) * zc * zc * zc)))
            return gelu_tanh

        def gelu(z):
            t = z.dtype.type
            return t(0.5) * z * (t(1) + erf(z * t(math.sqrt(0.5))))
        return gelu

    def vjp(self, e, node, gys):
        z = node.inputs[0]
        c = lambda v: e.scalar_like(v, z)  # noqa: E731
        if node.attrs["approximate"] == "tanh":
            zc = e.Clip(z, c(-GELU_CLIP), c(GELU_CLIP))
            sq = e.Square(zc)
            t = e.Tanh(e.Mul(c(GELU_K), e.Add(zc, e.Mul(c(GELU_C), e.Mul(sq, zc)))))
            du = e.Mul(c(GELU_K), e.Add(c(1), e.Mul(c(3 * GELU_C), sq)))
            inner = e.Add(e.Add(c(1), t), e.Mul(e.Mul(z, e.Sub(c(1), e.Square(t))), du))
            return [e.Mul(gys[0], e.Mul(c(0.5), inner))]
        cdf = e.Mul(c(0.5), e.Add(c(1), e.Erf(e.Mul(z, c(math.sqrt(0.5))))))
        pdf = e.Mul(c(1 / math.sqrt(2 * math.pi)), e.Exp(e.Mul(c(-0.5), e.Square(z))))
        return [e.Mul(gys[0], e.Add(cdf, e.Mul(z, pdf)))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 8 * (outs[0].numel(bindings) or 0)


@register
class Mish(Unary):
    """y = z·tanh(softplus(z))"""
    rule = "z̄ = ȳ ∘ (t + z(1 − t²)σ(z)) with t = tanh(softplus(z))"

    def kernel(self, attrs):
        return lambda z: z * np.tanh(np.logaddexp(z.dtype.type(0), z))

    def vjp(self, e, node, gys):
        z = node.inputs[0]
        t = e.Tanh(e.Softplus(z))
        gate = e.Mul(e.Mul(z, e.Sub(e.scalar_like(1, z), e.Square(t))), e.Sigmoid(z))
        return [e.Mul(gys[0], e.Add(t, gate))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 5 * (outs[0].numel(bindings) or 0)


# -- piecewise-linear gates, softsign, PReLU --------------------------------------------------------
def hard_sigmoid(z, alpha, beta):
    """max(0, min(1, αz + β)) in z's dtype."""
    t = z.dtype.type
    return np.clip(z * t(alpha) + t(beta), t(0), t(1))


#: ONNX's α of HardSigmoid and HardSwish, float32 numbers (as ONNX stores them, so they round-trip).
HARD_SIGMOID_ALPHA, HARD_SWISH_ALPHA = float(np.float32(0.2)), float(np.float32(1 / 6))


@register
class HardSigmoid(Unary):
    """y = max(0, min(1, αz + β))"""
    attrs = {"alpha": HARD_SIGMOID_ALPHA, "beta": 0.5}
    rule = "z̄ = ȳ ∘ α𝕀[0 < y < 1]"

    def kernel(self, attrs):
        a, b = attrs["alpha"], attrs["beta"]
        return lambda z: hard_sigmoid(z, a, b)

    def vjp(self, e, node, gys):
        y = node.outputs[0]
        inside = e.And(e.Greater(y, e.scalar_like(0, y)), e.Less(y, e.scalar_like(1, y)))
        slope = e.Mul(gys[0], e.scalar_like(node.attrs["alpha"], y))
        return [e.Where(inside, slope, e.scalar_like(0, y))]


@register
class HardSwish(Unary):
    """y = z·max(0, min(1, z/6 + ½))  (z times ONNX's HardSigmoid with α = 1/6, β = ½)"""
    rule = "z̄ = ȳ ∘ (h + z/6·𝕀[0 < h < 1]) with h = HardSigmoid(z)"

    def kernel(self, attrs):
        return lambda z: z * hard_sigmoid(z, HARD_SWISH_ALPHA, 0.5)

    def vjp(self, e, node, gys):
        z = node.inputs[0]
        h = e.HardSigmoid(z, alpha=HARD_SWISH_ALPHA, beta=0.5)
        inside = e.And(e.Greater(h, e.scalar_like(0, h)), e.Less(h, e.scalar_like(1, h)))
        ramp = e.Where(inside, e.Mul(z, e.scalar_like(HARD_SWISH_ALPHA, z)), e.scalar_like(0, z))
        return [e.Mul(gys[0], e.Add(h, ramp))]


@register
class Softsign(Unary):
    """y = z / (1 + |z|)"""
    rule = "z̄ = ȳ / (1 + |z|)²"
    lecture_factor = "1/(1 + |{x}|)²"

    def kernel(self, attrs):
        return lambda z: z / (z.dtype.type(1) + np.abs(z))

    def vjp(self, e, node, gys):
        z = node.inputs[0]
        return [e.Mul(gys[0], e.Square(e.Reciprocal(e.Add(e.scalar_like(1, z), e.Abs(z)))))]


@register
class PRelu(Op):
    """y = x if x > 0 else slope·x, the slope broadcast to x's shape (a learned LeakyRelu)"""
    arity = (2, 2)
    elementwise = True
    foldable = True
    rule = "x̄ = ȳ ∘ (1 if x > 0 else slope), slope̅ = Σ ȳ ∘ x 𝕀[x ≤ 0] (summed to slope's shape)"

    def infer(self, ins, attrs):
        x, slope = ins
        same_dtype(self, ins)
        if x.dtype == DType.bool:
            raise IRTypeError(f"PRelu needs numeric operands, got {x} and {slope}")
        if broadcast_shapes(x.shape, slope.shape, "PRelu operands") != tuple(x.shape):
            raise IRTypeError(f"PRelu's slope {slope} must broadcast to the input's shape {x} (ONNX: "
                              f"unidirectional)")
        return [TensorType(x.shape, x.dtype)]

    def kernel(self, attrs):
        return lambda x, slope: np.where(x > 0, x, x * slope)

    def vjp(self, e, node, gys):
        x, slope = node.inputs
        gy = gys[0]
        pos = e.Greater(x, e.scalar_like(0, x))
        zero = e.scalar_like(0, x)
        return [e.Where(pos, gy, e.Mul(gy, slope)), e.sum_to(e.Where(pos, zero, e.Mul(gy, x)), slope.type)]
