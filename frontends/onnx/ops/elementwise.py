"""ONNX mappings of ``ir/ops/elementwise.py``: arithmetic, comparisons, Where, Cast (and Dropout,
which imports as Identity). Identity and Cast also pass symbolic shape values through (``shapes``)."""
from __future__ import annotations

import numpy as np

from ....ir import DType
from ..shapes import Sym, sym_of
from .table import binary, direct, export_op, onnx_op, unary


binary("Add", "Sub", "Mul", "Div", "Equal", "Greater")
unary("Neg", "Exp", "Log", "Sqrt", "Sin", "Cos")
direct("Add", "Sub", "Mul", "Div", "Greater", "Equal", "Neg", "Exp", "Log", "Sqrt", "Sin", "Cos")


@onnx_op
def Pow(ctx, X, Y):
    x, y = ctx.v(X), ctx.v(Y)
    if x.dtype != y.dtype:  # ONNX Pow lets the exponent have its own type
        y = ctx.op("Cast", y, to=x.dtype)
    return ctx.op("Pow", x, y)


direct("Pow")


@onnx_op
def Sum(ctx, *xs):
    return ctx.op("Sum", *[ctx.v(x) for x in xs])


direct("Sum")


@onnx_op
def Where(ctx, C, X, Y):
    return ctx.op("Where", ctx.v(C), ctx.v(X), ctx.v(Y))


direct("Where")


@export_op("Square")  # ONNX has no Square
def _square(ex, n, x):
    ex.make("Mul", [x, x], ex.out)


@onnx_op
def Identity(ctx, X):
    s = sym_of(ctx, X)
    return s if s is not None else ctx.op("Identity", ctx.v(X))


direct("Identity")


@onnx_op
def Cast(ctx, X, *, to=0, saturate=1, round_mode="up"):
    dt = ctx.dtype(to, "attribute 'to'")
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Cast", ctx.v(X), to=dt)
    if dt.is_float or dt == DType.bool:
        ctx.unsupported(f"Cast of the symbolic shape value {X!r} {s.text()} to {dt.value}")
    return Sym(s.arr, dt)


@export_op("Cast", onnx="Cast")
def _cast(ex, n, x, *, to):
    ex.make("Cast", [x], ex.out, to=ex.dtype(to))


@onnx_op
def Dropout(ctx, data, ratio_in=None, training_mode=None, *, seed=None, is_test=None, consumed_inputs=None,
            ratio=None):
    if training_mode is not None and bool(ctx.static(training_mode, "training_mode").reshape(-1)[0]):
        p = 0.5 if ratio_in is None else float(ctx.static(ratio_in, "ratio").reshape(-1)[0])
        if p != 0:  # dropout with ratio 0 keeps everything, even when training
            ctx.unsupported("training_mode=true (random dropout): chainrule imports models for inference")
    x = ctx.v(data)
    y = ctx.op("Identity", x)
    if ctx.n_outputs < 2:
        return y
    if not x.type.is_static:
        ctx.unsupported("the mask output of Dropout with a symbolic shape")
    ctx.check_size(x.type.shape, bool, "the mask")
    return y, ctx.constant(np.ones(x.type.shape, bool))
