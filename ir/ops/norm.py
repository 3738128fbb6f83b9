"""Normalisation and regularisation layers: batch normalisation (inference and training), layer
normalisation, and the dropout mask.

Batch normalisation normalises each channel c over the batch and the spatial positions,

    x̂ = (x − μ) / √(σ² + ε),   y = γ x̂ + β        (per channel; x is [N,C] or [N,C,H,W])

- ``BatchNormalization`` (ONNX's op, inference): μ, σ² are the running statistics, inputs;
- ``BatchNormTraining``: μ, σ² are the batch's own statistics and two more outputs; the
  running statistics are ``state`` values that the front end updates with ordinary
  ``phase=update`` nodes from these outputs. Its gradient flows through μ and σ², which is
  why x̄ has the two extra terms of the textbook formula.

Layer normalisation (``LayerNormalization``, ONNX's op) normalises each example instead, over
its axes from ``axis`` on, with the same formula; μ and 1/√(σ² + ε) are outputs 1 and 2.

Dropout is ``Mul(x, DropoutMask(x, step))``: the mask is 0 or 1/(1 − ratio) per element,
drawn from a counter-based RNG keyed by (seed, step, element index), so the same step of
the same run always drops the same units and a resumed run stays bit-exact. Its gradient
is Mul's: ȳ ∘ mask.
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, broadcast_shapes, normalize_axis
from . import register
from .base import Op, as_dtype, need_float


def stat_axes(rank: int):
    """Axes a channel's statistics run over: the batch and every spatial axis."""
    return (0,) + tuple(range(2, rank))


def per_channel(e, v, rank):
    """A [C] value shaped to broadcast against [N,C,...] (C,1,1 for images)."""
    return e.Unsqueeze(v, axes=tuple(range(1, rank - 1))) if rank > 2 else v


def _check(op, ins):
    x = ins[0]
    need_float(op, x)
    if x.rank < 2:
        raise IRTypeError(f"{op.name} needs [N,C] or [N,C,H,W], got {x}")
    c = x.shape[1]
    for k, t in enumerate(ins[1:], 1):
        if t.shape != (c,) or t.dtype != x.dtype:
            raise IRTypeError(f"{op.name} input {k} should be {x.dtype.value}[{c}] (one per channel of {x}), got {t}")
    return x


def _bcast(a, rank):
    return a.reshape((1, -1) + (1,) * (rank - 2))


@register
class BatchNormalization(Op):
    """y = γ (x − μ_run) / √(σ²_run + ε) + β  (inference: the running statistics)"""
    arity = (5, 5)
    attrs = {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0}
    nondiff_inputs = (3, 4)  # the running statistics are state, not trained
    rule = "x̄ = ȳ γ/√(σ²+ε), γ̄ = Σ ȳ x̂, β̄ = Σ ȳ"

    def infer(self, ins, attrs):
        if attrs["training_mode"]:
            raise IRTypeError("BatchNormalization with training_mode=1 is BatchNormTraining in chainrule's IR")
        return [_check(self, ins)]

    def kernel(self, attrs):
        eps = attrs["epsilon"]

        def batchnorm(x, scale, bias, mean, var):
            r = x.ndim
            k = scale / np.sqrt(var + x.dtype.type(eps))
            return as_dtype((x - _bcast(mean, r)) * _bcast(k, r) + _bcast(bias, r), x.dtype)
        return batchnorm

    def vjp(self, e, node, gys):
        x, scale, _, mean, var = node.inputs
        g, r = gys[0], x.type.rank
        axes = stat_axes(r)
        inv = e.Div(e.scalar_like(1.0, x), e.Sqrt(e.Add(var, e.scalar_like(node.attrs["epsilon"], x))))
        xhat = e.Mul(e.Sub(x, per_channel(e, mean, r)), per_channel(e, inv, r), name="xhat")
        gx = e.Mul(g, per_channel(e, e.Mul(scale, inv), r))
        gscale = e.ReduceSum(e.Mul(g, xhat), axes=axes, keepdims=0)
        gbias = e.ReduceSum(g, axes=axes, keepdims=0)
        return [gx, gscale, gbias, None, None]

    def flops(self, ins, outs, attrs, bindings=None):
        return 2 * (outs[0].numel(bindings) or 0)


@register
class BatchNormTraining(Op):
    """y = γ (x − μ) / √(σ² + ε) + β with the batch's μ and (biased) σ², which are outputs 1, 2"""
    arity = (3, 3)
    num_outputs = 3
    attrs = {"epsilon": 1e-5}
    rule = ("x̄ = γ/σ (ȳ − mean(ȳ) − x̂ mean(ȳ x̂)) + μ̄/n + 2σ̄²(x − μ)/n, "
            "γ̄ = Σ ȳ x̂, β̄ = Σ ȳ  (n = N·H·W per channel)")

    def infer(self, ins, attrs):
        x = _check(self, ins)
        c = TensorType((x.shape[1],), x.dtype)
        return [x, c, c]

    def kernel(self, attrs):
        eps = attrs["epsilon"]

        def batchnorm_train(x, scale, bias):
            r, axes = x.ndim, stat_axes(x.ndim)
            mean = x.mean(axis=axes)
            centred = x - _bcast(mean, r)
            var = np.mean(centred * centred, axis=axes)
            k = scale / np.sqrt(var + x.dtype.type(eps))
            y = centred * _bcast(k, r) + _bcast(bias, r)
            return as_dtype(y, x.dtype), as_dtype(mean, x.dtype), as_dtype(var, x.dtype)
        return batchnorm_train

    def vjp(self, e, node, gys):
        x, scale, _ = node.inputs
        _, mean, var = node.outputs
        g, gmean, gvar = gys
        r = x.type.rank
        axes = stat_axes(r)
        n = e.Count(x, axes=axes)
        inv = e.Div(e.scalar_like(1.0, x), e.Sqrt(e.Add(var, e.scalar_like(node.attrs["epsilon"], x))))
        centred = e.Sub(x, per_channel(e, mean, r))
        gx = None
        if g is not None:
            xhat = e.Mul(centred, per_channel(e, inv, r), name="xhat")
            gbias = e.ReduceSum(g, axes=axes, keepdims=0)
            gscale = e.ReduceSum(e.Mul(g, xhat), axes=axes, keepdims=0)
            # ȳ minus its mean and minus its projection on x̂: the paths through μ and σ²
            inner = e.Sub(e.Sub(g, per_channel(e, e.Div(gbias, n), r)),
                          e.Mul(xhat, per_channel(e, e.Div(gscale, n), r)))
            gx = e.Mul(inner, per_channel(e, e.Mul(scale, inv), r))
        else:
            gscale = gbias = None
        if gmean is not None:  # μ = Σx/n, so each x gets μ̄/n
            term = e.ExpandLike(per_channel(e, e.Div(gmean, n), r), x)
            gx = term if gx is None else e.Add(gx, term)
        if gvar is not None:  # σ² = Σ(x − μ)²/n, so each x gets 2σ̄²(x − μ)/n (the μ path sums to 0)
            two = e.scalar_like(2.0, x)
            term = e.Mul(centred, per_channel(e, e.Div(e.Mul(two, gvar), n), r))
            gx = term if gx is None else e.Add(gx, term)
        return [gx, gscale, gbias]

    def flops(self, ins, outs, attrs, bindings=None):
        return 5 * (outs[0].numel(bindings) or 0)


@register
class LayerNormalization(Op):
    """y = γ (x − μ) / √(σ² + ε) + β with μ, σ² (biased) over the axes from ``axis`` on; outputs 1
    and 2 are μ and 1/√(σ² + ε) with those axes kept as 1. γ and β broadcast against x. A
    float16 x has its statistics computed, and output, in float32 (ONNX's stash_type=1)."""
    arity = (2, 3)
    num_outputs = 3
    attrs = {"axis": -1, "epsilon": 1e-5}
    rule = ("x̄ = r (ĝ − mean(ĝ) − x̂ mean(ĝ x̂)) + μ̄/n − r̄ r³ (x − μ)/n with ĝ = ȳ γ, r = 1/√(σ²+ε), "
            "x̂ = (x − μ) r; γ̄ = Σ ȳ x̂, β̄ = Σ ȳ  (means over the n normalised elements)")

    def infer(self, ins, attrs):
        x = ins[0]
        need_float(self, x)
        if x.rank == 0:
            raise IRTypeError(f"LayerNormalization needs an operand of rank ≥ 1, got {x}")
        a = normalize_axis(attrs["axis"], x.rank, "LayerNormalization axis")
        for k, t in enumerate(ins[1:], 1):
            if t.dtype != x.dtype or broadcast_shapes(x.shape, t.shape, "LayerNormalization operands") != x.shape:
                raise IRTypeError(f"LayerNormalization input {k} ({'scale' if k == 1 else 'bias'}) must be "
                                  f"{x.dtype.value} and broadcast to {x}, got {t}")
        stats = TensorType(x.shape[:a] + (1,) * (x.rank - a), stat_dtype(x.dtype))
        return [x, stats, stats]

    def kernel(self, attrs):
        eps = attrs["epsilon"]

        def layer_norm(x, scale, bias=None):
            axes = tuple(range(normalize_axis(attrs["axis"], x.ndim), x.ndim))
            s = x.astype(stat_dtype(DType.of(x.dtype)).numpy, copy=False)
            mean = s.mean(axis=axes, keepdims=True)
            d = s - mean
            inv = 1 / np.sqrt(np.mean(d * d, axis=axes, keepdims=True) + s.dtype.type(eps))
            y = as_dtype(d * inv, x.dtype) * scale
            if bias is not None:
                y = y + bias
            return as_dtype(y, x.dtype), mean, as_dtype(inv, s.dtype)
        return layer_norm

    def vjp(self, e, node, gys):
        x, scale = node.inputs[:2]
        _, mean, inv = node.outputs
        g, gmean, ginv = gys
        axes = tuple(range(normalize_axis(node.attrs["axis"], x.type.rank), x.type.rank))
        if mean.dtype != x.dtype:  # float16: the gradient is computed in x's type
            mean, inv = e.Cast(mean, to=x.dtype), e.Cast(inv, to=x.dtype)
            gmean = None if gmean is None else e.Cast(gmean, to=x.dtype)
            ginv = None if ginv is None else e.Cast(ginv, to=x.dtype)
        n = e.Count(x, axes=axes)
        centred = e.Sub(x, mean)
        grads = [None] * len(node.inputs)
        gx = None
        if g is not None:
            xhat = e.Mul(centred, inv, name="xhat")
            gscaled = e.Mul(g, scale)  # ĝ = ȳ γ, the cotangent of x̂
            # ĝ minus its mean and minus its projection on x̂: the paths through μ and σ²
            inner = e.Sub(e.Sub(gscaled, e.ReduceMean(gscaled, axes=axes, keepdims=1)),
                          e.Mul(xhat, e.ReduceMean(e.Mul(gscaled, xhat), axes=axes, keepdims=1)))
            gx = e.Mul(inner, inv)
            grads[1] = e.sum_to(e.Mul(g, xhat), scale.type)
            if len(node.inputs) == 3:
                grads[2] = e.sum_to(g, node.inputs[2].type)
        if gmean is not None:  # μ = Σx/n, so each x gets μ̄/n
            term = e.ExpandLike(e.Div(gmean, n), x)
            gx = term if gx is None else e.Add(gx, term)
        if ginv is not None:  # r = (σ² + ε)^(−1/2), σ² = Σ(x − μ)²/n: ∂r/∂x = −r³ (x − μ)/n
            cube = e.Mul(e.Mul(inv, inv), inv)
            term = e.Neg(e.Mul(centred, e.Div(e.Mul(ginv, cube), n)))
            gx = term if gx is None else e.Add(gx, term)
        grads[0] = gx
        return grads

    def flops(self, ins, outs, attrs, bindings=None):
        return 6 * (outs[0].numel(bindings) or 0)


def stat_dtype(dt: DType) -> DType:
    """The type normalisation statistics are computed in: float32 at least."""
    return DType.f32 if dt == DType.f16 else dt


_GOLDEN = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1


def counter_uniform(seed: int, step: int, n: int) -> np.ndarray:
    """n uniforms in [0, 1) from the key (seed, step) and the element index (splitmix64):
    a pure function, so no generator state needs saving."""
    key = (int(seed) * _GOLDEN + int(step) * 0xBF58476D1CE4E5B9 + 1) & _M64
    z = np.arange(n, dtype=np.uint64) * np.uint64(_GOLDEN) + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@register
class DropoutMask(Op):
    """m = 𝕀[u ≥ ratio] / (1 − ratio) with u = counter_uniform(seed, step, index); reads only
    x's shape and type, ``step`` is an integer scalar (a state value the step advances)"""
    arity = (2, 2)
    attrs = {"ratio": 0.5, "seed": 0}
    differentiable = False
    nograd_reason = "the dropout mask is random, not a function of x"

    def infer(self, ins, attrs):
        x, step = ins
        need_float(self, x)
        if step.rank != 0 or step.dtype.is_float:
            raise IRTypeError(f"DropoutMask needs an integer scalar step, got {step}")
        if not 0.0 <= float(attrs["ratio"]) < 1.0:
            raise IRTypeError(f"DropoutMask ratio must be in [0, 1), got {attrs['ratio']}")
        return [x]

    def kernel(self, attrs):
        ratio, seed = float(attrs["ratio"]), int(attrs["seed"])

        def dropout_mask(x, step):
            keep = counter_uniform(seed, int(step), x.size).reshape(x.shape) >= ratio
            return keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - ratio))
        return dropout_mask


__all__ = ["BatchNormTraining", "BatchNormalization", "DropoutMask", "LayerNormalization", "counter_uniform",
           "stat_axes"]
