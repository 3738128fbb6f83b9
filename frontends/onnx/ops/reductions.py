"""ONNX mappings of ``ir/ops/reductions.py``. The axes of the reductions are an attribute before
an opset (13 for ReduceSum, 18 for the others) and an input from it on; export writes them as
an input (opset 18). Every ONNX reduction but ReduceLogSum is one IR op of the same name."""
from __future__ import annotations

from .table import axes_of, direct, export_op, onnx_op


def _reduce(opname, since):
    def f(ctx, X, axes_in=None, *, axes=None, keepdims=1, noop_with_empty_axes=0):
        x = ctx.v(X)
        ax = axes_of(ctx, axes, axes_in, since)
        if ax is not None and len(ax) == 0:
            if noop_with_empty_axes:
                return ctx.op("Identity", x)
            ax = None
        if ax is None and noop_with_empty_axes and axes_in is None and ctx.opset >= since:
            return ctx.op("Identity", x)
        return ctx.op(opname, x, axes=ax, keepdims=int(keepdims))
    f.__name__ = f.__qualname__ = opname
    return onnx_op(f)


def reduce(ex, opname, x, axes, keepdims, out=None):
    """Emit ONNX ``opname`` over ``axes`` (None: all of them) with the axes as an input."""
    if axes is None:
        return ex.make(opname, [x], out, keepdims=int(keepdims))
    return ex.make(opname, [x, ex.ints(axes)], out, keepdims=int(keepdims),
                   noop_with_empty_axes=1 if len(axes) == 0 else None)


def _export_reduce(opname):
    def f(ex, n, x, *, axes, keepdims):
        reduce(ex, opname, x, axes, keepdims, ex.out)
    return export_op(opname, onnx=opname)(f)


for _op, _since in (("ReduceSum", 13), ("ReduceMean", 18), ("ReduceMax", 18), ("ReduceMin", 18),
                   ("ReduceProd", 18), ("ReduceL1", 18), ("ReduceL2", 18), ("ReduceLogSumExp", 18),
                   ("ReduceSumSquare", 18)):
    _reduce(_op, _since)
    _export_reduce(_op)


@onnx_op
def ArgMax(ctx, X, *, axis=0, keepdims=1, select_last_index=0):
    if select_last_index:
        ctx.unsupported("select_last_index=1")
    return ctx.op("ArgMax", ctx.v(X), axis=int(axis), keepdims=int(keepdims))


direct("ArgMax")


@export_op("Count")  # the number of elements reduced over: Cast(ReduceProd(Gather(Shape(x), axes)))
def _count(ex, n, x, *, axes):
    if axes is None:
        k = ex.make("Size", [x])
    else:
        k = ex.make("ReduceProd", [ex.make("Gather", [ex.make("Shape", [x]), ex.ints(axes)], axis=0)], keepdims=0)
    ex.make("Cast", [k], ex.out, to=ex.dtype(n.inputs[0].type.dtype))
