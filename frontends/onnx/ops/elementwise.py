"""ONNX mappings of ``ir/ops/elementwise.py``: arithmetic, erf, comparisons, Where, Cast (and
CastLike, which imports as a Cast). Identity and Cast also pass symbolic shape values through
(``shapes``)."""
from __future__ import annotations

from ....ir import DType
from ....ir.types import FLOAT8
from ..common import OnnxExportError
from ..shapes import Sym, sym_of
from .table import binary, direct, export_op, onnx_op, unary


binary("Add", "Sub", "Mul", "Div", "Equal", "Greater")
unary("Sin", "Cos", "Erf")
unary("Neg", "Exp", "Log", "Sqrt", "Abs", "Reciprocal", since=1)
direct("Add", "Sub", "Mul", "Div", "Greater", "Neg", "Exp", "Log", "Sqrt", "Sin", "Cos", "Erf", "Abs",
       "Reciprocal")


@export_op("Equal", onnx="Equal")
def _equal(ex, n, a, b):
    if n.inputs[0].type.dtype == DType.str:  # ONNX's Equal compares strings from opset 19 on
        raise OnnxExportError(f"node {n.name}: Equal of strings needs ONNX opset 19 (chainrule exports opset 18)")
    ex.make("Equal", [a, b], ex.out)


@onnx_op
def Pow(ctx, X, Y):
    x, y = ctx.v(X), ctx.v(Y)
    if x.dtype != y.dtype:  # ONNX Pow lets the exponent have its own type
        y = ctx.op("Cast", y, to=x.dtype)
    return ctx.op("Pow", x, y)


direct("Pow")


@onnx_op(since=1)
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


@onnx_op(since=1)
def Identity(ctx, X):
    s = sym_of(ctx, X)
    return s if s is not None else ctx.op("Identity", ctx.v(X))


direct("Identity")


@onnx_op(since=6)  # Cast-1's 'to' was a type name (a string)
def Cast(ctx, X, *, to=0, saturate=1, round_mode="up"):
    return _cast_to(ctx, X, ctx.dtype(to, "attribute 'to'"), saturate, round_mode)


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
    return _cast_to(ctx, input, dt, saturate, round_mode)


def _cast_to(ctx, X, dt, saturate=1, round_mode="up"):
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Cast", ctx.v(X), to=dt, saturate=int(saturate), round_mode=round_mode)
    if dt.is_float or dt == DType.bool:
        ctx.unsupported(f"Cast of the symbolic shape value {X!r} {s.text()} to {dt.value}")
    return Sym(s.arr, dt)


@export_op("Cast", onnx="Cast")
def _cast(ex, n, x, *, to, saturate, round_mode):
    to, extra = DType.of(to), {}  # saturate and round_mode are Cast's from opset 19 and 24, as the types they act on
    if to in FLOAT8 and not saturate:
        extra["saturate"] = 0
    if to == DType.f8e8m0:
        extra.update(saturate=int(saturate), round_mode=round_mode)
    ex.make("Cast", [x], ex.out, to=ex.dtype(to), **extra)
