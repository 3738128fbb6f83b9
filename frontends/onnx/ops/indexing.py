"""ONNX mappings of ``ir/ops/indexing.py``. Gather and Concat also fold symbolic shape values
(``shapes``)."""
from __future__ import annotations

import numpy as np

from ....ir import DType
from ....ir.types import normalize_axis
from ..shapes import Sym, as_sym, sym_of, sym_result
from .table import direct, export_op, onnx_op


@onnx_op
def Gather(ctx, data, indices, *, axis=0):
    s = sym_of(ctx, data)
    if s is None:
        return ctx.op("Gather", ctx.v(data), ctx.v(indices), axis=int(axis))
    idx = ctx.static(indices, "indices").astype(np.int64)
    a = normalize_axis(int(axis), s.arr.ndim, "Gather axis")
    n = s.arr.shape[a]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        ctx.fail(f"index out of range -{n}..{n - 1} into the shape value {data!r} {s.text()}")
    return sym_result(ctx, Sym(np.take(s.arr, idx, axis=a), s.dtype))


direct("Gather")


@export_op("ScatterAddLike")
def _scatter_add_like(ex, n, g, idx, like, *, axis):
    """ScatterND(zeros, indices[..., None], g, reduction="add") with the gathered axis moved first."""
    gt, it, lt = (v.type for v in n.inputs)
    r, k, a = lt.rank, it.rank, axis % lt.rank
    if it.dtype != DType.i64:
        idx = ex.make("Cast", [idx], to=ex.dtype(DType.i64))
    shape = ex.make("Shape", [like])
    lp = [a] + [i for i in range(r) if i != a]
    if a:
        shape = ex.make("Gather", [shape, ex.ints(lp, "perm")], axis=0)
        g = ex.make("Transpose", [g], perm=list(range(a, a + k)) + list(range(a)) + list(range(a + k, gt.rank)))
    zeros = ex.make("ConstantOfShape", [shape], value=ex.tensor(np.zeros(1, gt.dtype.numpy)))
    where = ex.make("Unsqueeze", [idx, ex.ints([-1])])
    if not a:
        ex.make("ScatterND", [zeros, where, g], ex.out, reduction="add")
        return
    y = ex.make("ScatterND", [zeros, where, g], reduction="add")
    ex.make("Transpose", [y], ex.out, perm=[int(i) for i in np.argsort(lp)])


@onnx_op
def Concat(ctx, *xs, axis=None):
    if axis is None:
        ctx.fail("needs attribute 'axis'")
    if not any(sym_of(ctx, x) is not None for x in xs):
        return ctx.op("Concat", *[ctx.v(x) for x in xs], axis=int(axis))
    parts = [as_sym(ctx, x, f"input {k}") for k, x in enumerate(xs)]
    return sym_result(ctx, Sym(np.concatenate([p.arr for p in parts], axis=int(axis)), parts[0].dtype))


direct("Concat")
