"""ONNX mappings of ``ir/ops/indexing.py``. Gather and Concat also fold symbolic shape values
(``shapes``). Split's sizes are an attribute before opset 13 and an input from it on; without
them the pieces are equal (opset 18's ``num_outputs``: the last one may be smaller)."""
from __future__ import annotations

import numpy as np

from ....ir import DType
from ....ir.types import normalize_axis
from ..shapes import Sym, as_sym, sym_of, sym_result
from .table import direct, export_op, onnx_op, static_ints


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


@onnx_op
def Split(ctx, input, split_in=None, *, axis=0, split=None, num_outputs=None):
    x = ctx.v(input)
    a = normalize_axis(int(axis), x.type.rank, "Split axis")
    d, outs = x.type.shape[a], len(ctx.node.output)
    if split is not None and ctx.opset >= 13:
        ctx.fail(f"attribute 'split' is an input from opset 13 on (this model uses opset {ctx.opset})")
    sizes = static_ints(ctx, split_in, "split") if split_in else (None if split is None else [int(s) for s in split])
    if num_outputs is not None:
        if sizes is not None:
            ctx.fail("give split or num_outputs, not both")
        if num_outputs != outs:
            ctx.fail(f"num_outputs is {num_outputs} but the node has {outs} outputs")
    if sizes is None:
        if not isinstance(d, int):
            ctx.unsupported(f"Split of the symbolic axis {d} of {x.type} into equal pieces")
        chunk = -(-d // outs)  # ⌈d / outs⌉, the last piece what is left (ONNX's reference)
        sizes = [chunk] * (outs - 1) + [d - chunk * (outs - 1)]
        if sizes[-1] < 0:
            ctx.fail(f"cannot split the {d} elements of axis {a} of {x.type} into {outs} pieces")
    if len(sizes) != outs:
        ctx.fail(f"split gives {len(sizes)} sizes for the node's {outs} outputs")
    return ctx.op("Split", x, axis=a, split=tuple(sizes))


@export_op("Split", onnx="Split")  # the sizes are an input in ONNX (from opset 13)
def _split(ex, n, x, *, axis, split):
    ex.make("Split", [x, ex.ints(split, "split")], ex.outs, axis=int(axis))
