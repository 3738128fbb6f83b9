"""ONNX mappings of ``ir/ops/activations.py``."""
from __future__ import annotations

import numpy as np

from ....ir.ops.shape import like_shape
from ....ir.types import normalize_axis
from .table import direct, export_op, onnx_op, unary

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
