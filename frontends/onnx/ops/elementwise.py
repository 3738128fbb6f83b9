"""ONNX mappings of ``ir/ops/elementwise.py``: arithmetic, erf, comparisons, Where, Cast (and
CastLike, which imports as a Cast). Identity and Cast also pass symbolic shape values through
(``shapes``)."""
from __future__ import annotations

from ....ir import DType
from ..shapes import Sym, sym_of
from .table import binary, direct, export_op, onnx_op, unary


binary("Add", "Sub", "Mul", "Div", "Equal", "Greater")
unary("Neg", "Exp", "Log", "Sqrt", "Sin", "Cos", "Erf", "Abs", "Reciprocal")
direct("Add", "Sub", "Mul", "Div", "Greater", "Equal", "Neg", "Exp", "Log", "Sqrt", "Sin", "Cos", "Erf", "Abs",
       "Reciprocal")


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
    return _cast_to(ctx, X, ctx.dtype(to, "attribute 'to'"))


@onnx_op
def CastLike(ctx, input, target_type, *, saturate=1, round_mode="up"):
    """Cast to the element type of ``target_type``, whose values are not read."""
    imp = ctx.imp
    if target_type in imp.symbolic:
        dt = imp.symbolic[target_type].dtype
    elif target_type in imp.vals:
        dt = imp.vals[target_type].type.dtype
    elif target_type in imp.inits:  # not ctx.v: a float initializer would become a parameter
        dt = DType.of(imp.inits[target_type].dtype)
    else:
        dt = ctx.v(target_type).type.dtype
    return _cast_to(ctx, input, dt)


def _cast_to(ctx, X, dt):
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Cast", ctx.v(X), to=dt)
    if dt.is_float or dt == DType.bool:
        ctx.unsupported(f"Cast of the symbolic shape value {X!r} {s.text()} to {dt.value}")
    return Sym(s.arr, dt)


@export_op("Cast", onnx="Cast")
def _cast(ex, n, x, *, to):
    ex.make("Cast", [x], ex.out, to=ex.dtype(to))
