"""ONNX mapping of ``ir/ops/pad.py``: Pad in its four modes (pads as an input from opset 11 on, the
axes they apply to from opset 18 on), and PadGrad, which ONNX lacks, as one ScatterND per padded axis."""
from __future__ import annotations

import numpy as np

from ....ir.ops.pad import source_index
from ....ir.types import normalize_axis
from .table import export_op, onnx_op


@onnx_op
def Pad(ctx, data, pads_in=None, constant_value=None, axes=None, *, mode="constant", pads=None, value=0.0):
    mode = mode.decode() if isinstance(mode, bytes) else mode
    x = ctx.v(data)
    p = [int(a) for a in (ctx.static(pads_in, "pads").reshape(-1) if ctx.opset >= 11 else pads)]
    r = x.type.rank
    if axes:
        ax = [normalize_axis(int(a), r, "Pad axis") for a in ctx.static(axes, "axes").reshape(-1)]
        if len(p) != 2 * len(ax):
            ctx.fail(f"pads has {len(p)} numbers for {len(ax)} axes (it needs {2 * len(ax)})")
        full = [0] * (2 * r)
        for k, a in enumerate(ax):
            full[a], full[r + a] = p[k], p[len(ax) + k]
        p = full
    if ctx.opset >= 11:
        value = 0.0 if not constant_value else float(ctx.static(constant_value, "constant_value").reshape(-1)[0])
    return ctx.op("Pad", x, pads=tuple(p), value=float(value), mode=mode)


@export_op("Pad", onnx="Pad")
def _pad(ex, n, x, *, pads, value, mode):
    rank = n.inputs[0].type.rank
    p = list(pads) if pads is not None else [0] * (2 * rank)
    ex.make("Pad", [x, ex.ints(p, "pads"), ex.const(np.asarray(value, n.inputs[0].type.dtype.numpy), "value")],
            ex.out, mode=mode)


@export_op("PadGrad")  # per padded axis k: that axis first, ScatterND-add into zeros, the axes back
def _pad_grad(ex, n, g, *, pads, mode):
    gt, xt = n.inputs[0].type, n.outputs[0].type
    r = gt.rank
    p = list(pads) if pads is not None else [0] * (2 * r)
    axes = [k for k in range(r) if p[k] or p[r + k]]
    if not axes:
        ex.make("Identity", [g], ex.out)
    for j, k in enumerate(axes):
        last = j == len(axes) - 1
        size = xt.shape[k]
        perm = [k] + [i for i in range(r) if i != k]
        front = ex.make("Transpose", [g], perm=perm) if k else g
        shape = ex.make("Concat", [ex.ints([size], "size"),
                                   ex.make("Slice", [ex.make("Shape", [front]), ex.ints([1], "one"), ex.ints([r], "rank")])],
                        axis=0)
        zeros = ex.make("ConstantOfShape", [shape], value=ex.tensor(np.zeros(1, gt.dtype.numpy)))
        idx = ex.ints(source_index(size, p[k], p[r + k], mode), "index")
        where = ex.make("Unsqueeze", [idx, ex.ints([-1])])
        g = ex.make("ScatterND", [zeros, where, front], ex.out if last and not k else None, reduction="add")
        if k:
            g = ex.make("Transpose", [g], ex.out if last else None, perm=[int(i) for i in np.argsort(perm)])
