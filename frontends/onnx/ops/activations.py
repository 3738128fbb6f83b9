"""ONNX mappings of ``ir/ops/activations.py``."""
from __future__ import annotations

import numpy as np

from ....ir.ops.activations import GELU_C, GELU_K, HARD_SIGMOID_ALPHA
from ....ir.ops.shape import like_shape
from ....ir.types import normalize_axis
from .table import binary, direct, export_op, onnx_op, unary

unary("Relu", "Sigmoid", "Tanh", "Softplus")
direct("Relu", "Sigmoid", "Tanh", "Softplus")


@onnx_op
def LeakyRelu(ctx, X, *, alpha=0.01):
    return ctx.op("LeakyRelu", ctx.v(X), alpha=float(alpha))


direct("LeakyRelu")


@export_op("HardThreshold")  # ONNX has no step function: Cast(Greater(z, 0))
def _hard_threshold(ex, n, z):
    dt = n.inputs[0].type.dtype
    ex.make("Cast", [ex.make("Greater", [z, ex.const(np.zeros((), dt.numpy), "zero")])], ex.out, to=ex.dtype(dt))


def _softmax(opname):
    def f(ctx, X, *, axis=None):
        x = ctx.v(X)
        if axis is None:
            axis = -1 if ctx.opset >= 13 else 1
        a = normalize_axis(axis, x.type.rank, f"{opname} axis")
        if ctx.opset >= 13 or a == x.type.rank - 1:
            return ctx.op(opname, x, axis=axis)
        # before opset 13 the input is coerced to 2-D at ``axis`` and normalised over each row
        flat = ctx.op("Flatten", x, axis=a)
        return ctx.op("Reshape", ctx.op(opname, flat, axis=1), shape=like_shape(x.type))
    f.__name__ = f.__qualname__ = opname
    return onnx_op(f)


_softmax("Softmax")
_softmax("LogSoftmax")
direct("Softmax", "LogSoftmax")


# -- the activations ONNX models use ---------------------------------------------------------------
@onnx_op
def Elu(ctx, X, *, alpha=1.0):
    return ctx.op("Elu", ctx.v(X), alpha=float(alpha))


@onnx_op
def Selu(ctx, X, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    return ctx.op("Selu", ctx.v(X), alpha=float(alpha), gamma=float(gamma))


@onnx_op
def Celu(ctx, X, *, alpha=1.0):
    return ctx.op("Celu", ctx.v(X), alpha=float(alpha))


@onnx_op
def HardSigmoid(ctx, X, *, alpha=HARD_SIGMOID_ALPHA, beta=0.5):
    return ctx.op("HardSigmoid", ctx.v(X), alpha=float(alpha), beta=float(beta))


@onnx_op
def Gelu(ctx, X, *, approximate="none"):
    return ctx.op("Gelu", ctx.v(X), approximate=approximate)


unary("HardSwish", "Softsign", "Mish")
binary("PRelu")
direct("Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softsign", "Mish", "PRelu")


@export_op("Gelu")  # ONNX's Gelu is opset 20; at 18 it is its formula
def _gelu(ex, n, x, *, approximate):
    dt = n.inputs[0].type.dtype.numpy
    c = lambda v, hint: ex.const(np.asarray(v, dt), hint)  # noqa: E731
    if approximate == "tanh":
        cube = ex.make("Mul", [ex.make("Mul", [x, x]), x])
        inner = ex.make("Mul", [c(GELU_K, "k"), ex.make("Add", [x, ex.make("Mul", [c(GELU_C, "c"), cube])])])
        gate = ex.make("Tanh", [inner])
    else:
        gate = ex.make("Erf", [ex.make("Mul", [x, c(np.sqrt(0.5), "rsqrt2")])])
    half_x = ex.make("Mul", [x, c(0.5, "half")])
    ex.make("Mul", [half_x, ex.make("Add", [gate, c(1.0, "one")])], ex.out)
