"""ONNX mappings of ``ir/ops/pool.py``: MaxPool, AveragePool, GlobalAveragePool, and the two
gradient routings as sub-graphs (MaxPool's Indices with a scatter-add; a ConvTranspose with a
ones kernel for AveragePool)."""
from __future__ import annotations

import numpy as np

from ....ir.ops.pool import window_counts
from ....ir.ops.window import window_of
from .conv import explicit_pads, lift, lifted, split_depth, static_dims
from .table import direct, export_op, onnx_op, unary


def _pool_attrs(ctx, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides):
    if kernel_shape is None or len(kernel_shape) != x.type.rank - 2 or not kernel_shape:
        ctx.fail(f"kernel_shape {kernel_shape} does not fit the spatial axes of {x.type}")
    tup = lambda v: None if v is None else tuple(int(a) for a in v)  # noqa: E731
    k = tup(kernel_shape)
    return dict(kernel_shape=k, strides=tup(strides), dilations=tup(dilations), ceil_mode=int(ceil_mode),
                pads=explicit_pads(ctx, x, auto_pad, pads, k, tup(strides), tup(dilations)))


def pool_3d(ctx, opname, x, attrs):
    """A pool of [N,C,D,H,W] as two 2-D pools: a box's maximum is the maximum over depth of the
    maxima over height and width, and its mean the mean of the means, as the number of elements
    a box averages is the product of those of its axes. So pool height and width with the depths
    as channels [N, C·D, H, W], then depth with the H·W positions as one axis [N, C, D, Ho·Wo]:

        y = Reshape(Pool(Reshape(Pool(Reshape(x, [0, C·D, H, W])), [0, C, D, Ho·Wo])
                    {kernel_shape=[kd, 1], ...}), [0, C, Do, Ho, Wo])
    """
    c, d, h, w = static_dims(ctx, x.type, "pool")
    depth, hw = split_depth(attrs)
    planes = ctx.op(opname, ctx.op("Reshape", x, shape=(0, c * d, h, w)), **hw)     # [N, C·D, Ho, Wo]
    ho, wo = planes.type.shape[2:]
    y = ctx.op(opname, ctx.op("Reshape", planes, shape=(0, c, d, ho * wo)),
               **dict(hw, kernel_shape=(depth["kernel"], 1), strides=(depth["stride"], 1),
                      dilations=(depth["dilation"], 1), pads=(depth["begin"], 0, depth["end"], 0)))
    return ctx.op("Reshape", y, shape=(0, c, y.type.shape[2], ho, wo))


def pool(ctx, opname, x, attrs):
    """The IR of a 1-, 2- or 3-D pool ``opname`` (``conv.py``: a 1-D pool is a 2-D one of height 1)."""
    n = len(attrs["kernel_shape"])
    if n == 2:
        return ctx.op(opname, x, **attrs)
    if n == 1:
        return ctx.op("Squeeze", ctx.op(opname, lift(ctx, x), **lifted(attrs)), axes=(2,))
    if n == 3:
        return pool_3d(ctx, opname, x, attrs)
    ctx.unsupported(f"a pool with kernel_shape {list(attrs['kernel_shape'])} (chainrule's pools are 2-D; "
                    f"1-D and 3-D ones import as 2-D pools)")


@onnx_op(since=1)
def MaxPool(ctx, X, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
            storage_order=0, strides=None):
    x = ctx.v(X)
    attrs = _pool_attrs(ctx, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides)
    y = pool(ctx, "MaxPool", x, attrs)
    if ctx.n_outputs < 2:
        return y
    n = len(attrs["kernel_shape"])
    if n == 2:
        return y, ctx.op("MaxPoolIndices", x, storage_order=int(storage_order), **attrs)
    if n == 1:  # over an image of height 1, the flat positions are those of the 1-D input
        i = ctx.op("MaxPoolIndices", lift(ctx, x), storage_order=int(storage_order), **lifted(attrs))
        return y, ctx.op("Squeeze", i, axes=(2,))
    ctx.unsupported(f"MaxPool's Indices output of a {n}-D pool (1-D and 2-D only)")


direct("MaxPool")


@export_op("MaxPoolIndices", onnx="MaxPool", composite=True)  # ONNX MaxPool's second output
def _max_pool_indices(ex, n, x, *, kernel_shape, strides, pads, dilations, ceil_mode, storage_order):
    ex.make("MaxPool", [x], [ex.fresh(f"{n.name}/pooled"), ex.out], kernel_shape=list(kernel_shape),
            **{k: list(v) for k, v in (("strides", strides), ("pads", pads), ("dilations", dilations))
               if v is not None}, ceil_mode=ceil_mode, storage_order=storage_order)


@onnx_op
def AveragePool(ctx, X, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None,
                kernel_shape=None, pads=None, strides=None):
    x = ctx.v(X)
    attrs = _pool_attrs(ctx, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides)
    return pool(ctx, "AveragePool", x, dict(attrs, count_include_pad=int(count_include_pad)))


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
