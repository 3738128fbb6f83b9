"""ONNX mappings of ``ir/ops/pool.py``: MaxPool, AveragePool, GlobalAveragePool, and the two
gradient routings as sub-graphs (MaxPool's Indices with a scatter-add; a ConvTranspose with a
ones kernel for AveragePool)."""
from __future__ import annotations

import numpy as np

from ....ir.ops.pool import window_counts
from ....ir.ops.window import window_of
from .conv import explicit_pads
from .table import direct, export_op, onnx_op, unary


def _pool_attrs(ctx, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides):
    if kernel_shape is None or len(kernel_shape) != 2:
        ctx.unsupported(f"a pool with kernel_shape {kernel_shape} (chainrule's pools are 2-D)")
    tup = lambda v: None if v is None else tuple(int(a) for a in v)  # noqa: E731
    k = tup(kernel_shape)
    return dict(kernel_shape=k, strides=tup(strides), dilations=tup(dilations), ceil_mode=int(ceil_mode),
                pads=explicit_pads(ctx, x, auto_pad, pads, k, tup(strides), tup(dilations)))


@onnx_op(since=1)
def MaxPool(ctx, X, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
            storage_order=0, strides=None):
    if ctx.n_outputs > 1:
        ctx.unsupported("MaxPool's Indices output")
    x = ctx.v(X)
    return ctx.op("MaxPool", x, **_pool_attrs(ctx, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides))


direct("MaxPool")


@onnx_op
def AveragePool(ctx, X, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None,
                kernel_shape=None, pads=None, strides=None):
    x = ctx.v(X)
    return ctx.op("AveragePool", x, count_include_pad=int(count_include_pad),
                  **_pool_attrs(ctx, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides))


def _no_dilation(ex, dilations):
    if dilations is not None and tuple(dilations) != (1, 1):
        from ..common import OnnxExportError
        raise OnnxExportError(f"node {ex.current.name}: AveragePool with dilations {tuple(dilations)} needs "
                              f"ONNX opset 19 (chainrule exports opset 18)")


@export_op("AveragePool", onnx="AveragePool")
def _average_pool(ex, n, x, *, kernel_shape, strides, pads, dilations, ceil_mode, count_include_pad):
    _no_dilation(ex, dilations)
    ex.make("AveragePool", [x], ex.out, kernel_shape=list(kernel_shape), strides=strides and list(strides),
            pads=pads and list(pads), ceil_mode=ceil_mode, count_include_pad=count_include_pad)


@export_op("AveragePoolGrad")
def _average_pool_grad(ex, n, gy, x, *, kernel_shape, strides, pads, dilations, ceil_mode, count_include_pad):
    """x̄ = ConvTranspose(ȳ / count, ones) per channel: every window adds its share back."""
    _no_dilation(ex, dilations)
    xt, gt = n.inputs[1].type, n.inputs[0].type
    attrs = dict(n.attrs)
    win = window_of("AveragePoolGrad", attrs)
    hw, outs = xt.shape[2:], gt.shape[2:]
    extra = win.extra_end(hw, outs)
    counts = window_counts(win, hw, outs, extra, count_include_pad, xt.dtype.numpy)
    share = ex.make("Div", [gy, ex.const(counts, "count")])
    flat = ex.make("Reshape", [share, ex.ints([-1, 1] + list(outs), "shape")])
    ends = [pe + e for pe, e in zip(win.pads_end, extra)]
    out_pad = [h + pb + pe - ((o - 1) * s + k) for h, pb, pe, o, s, k in
               zip(hw, win.pads_begin, ends, outs, win.strides, win.extent)]
    ones = ex.const(np.ones((1, 1) + tuple(win.kernel), xt.dtype.numpy), "ones")
    full = ex.make("ConvTranspose", [flat, ones], strides=list(win.strides), pads=list(win.pads_begin) + ends,
                   output_padding=out_pad)
    ex.make("Reshape", [full, ex.make("Shape", [x])], ex.out)


@export_op("MaxPoolGrad")
def _max_pool_grad(ex, n, x, gy, *, kernel_shape, strides, pads, dilations, ceil_mode):
    """x̄ = ȳ scatter-added at MaxPool's Indices (flat positions in x)."""
    from onnx import helper
    pooled, idx = ex.fresh(f"{n.name}/pooled"), ex.fresh(f"{n.name}/indices")
    node = helper.make_node("MaxPool", [x], [pooled, idx], name=idx, kernel_shape=list(kernel_shape),
                            **{k: list(v) for k, v in (("strides", strides), ("pads", pads), ("dilations", dilations))
                               if v is not None}, ceil_mode=ceil_mode)
    ex.nodes.append(node)
    ex.group.append(node)
    flat = ex.ints([-1], "flat")
    zero = ex.make("Mul", [ex.make("Reshape", [x, flat]), ex.const(np.zeros((), n.inputs[0].type.dtype.numpy))])
    total = ex.make("ScatterElements", [zero, ex.make("Reshape", [idx, flat]), ex.make("Reshape", [gy, flat])],
                    axis=0, reduction="add")
    ex.make("Reshape", [total, ex.make("Shape", [x])], ex.out)


unary("GlobalAveragePool", since=1)
direct("GlobalAveragePool")
