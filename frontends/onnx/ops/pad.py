"""ONNX mapping of ``ir/ops/pad.py``: Pad in constant mode (pads as an input from opset 11 on)."""
from __future__ import annotations

import numpy as np

from .table import export_op, onnx_op


@onnx_op
def Pad(ctx, data, pads_in=None, constant_value=None, axes=None, *, mode="constant", pads=None, value=0.0):
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        ctx.unsupported(f"Pad mode {mode!r} (chainrule pads with a constant)")
    x = ctx.v(data)
    p = [int(a) for a in (ctx.static(pads_in, "pads").reshape(-1) if ctx.opset >= 11 else pads)]
    if axes:
        ax = [int(a) % x.type.rank for a in ctx.static(axes, "axes").reshape(-1)]
        full = [0] * (2 * x.type.rank)
        for k, a in enumerate(ax):
            full[a], full[x.type.rank + a] = p[k], p[len(ax) + k]
        p = full
    if ctx.opset >= 11:
        value = 0.0 if not constant_value else float(ctx.static(constant_value, "constant_value").reshape(-1)[0])
    return ctx.op("Pad", x, pads=tuple(p), value=float(value))


@export_op("Pad", onnx="Pad")
def _pad(ex, n, x, *, pads, value):
    rank = n.inputs[0].type.rank
    p = list(pads) if pads is not None else [0] * (2 * rank)
    ex.make("Pad", [x, ex.ints(p, "pads"), ex.const(np.asarray(value, n.inputs[0].type.dtype.numpy), "value")],
            ex.out, mode="constant")
