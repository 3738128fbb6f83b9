"""ONNX mappings of ``ir/ops/conv.py``: Conv and ConvTranspose of 1, 2 and 3 spatial axes (1-D and
3-D ones import as 2-D ops, below), and ConvFilterGrad (exported as a Conv of x and ȳ with batch
and channels swapped)."""
from __future__ import annotations

import numpy as np

from .table import direct, export_op, onnx_op


def explicit_pads(ctx, x, auto_pad, pads, kernel, strides, dilations):
    """ONNX ``pads`` for ``auto_pad`` (SAME_UPPER puts the odd pad at the end, SAME_LOWER at the begin)."""
    if auto_pad in ("NOTSET", b"NOTSET", None):
        return None if pads is None else tuple(int(p) for p in pads)
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad == "VALID":
        return (0,) * (2 * len(kernel))
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"unknown auto_pad {auto_pad!r}")
    sizes = x.type.shape[2:]
    if not all(isinstance(d, int) for d in sizes):
        ctx.unsupported(f"auto_pad={auto_pad} on the symbolic spatial sizes of {x.type}")
    begin, end = [], []
    for h, k, s, d in zip(sizes, kernel, strides or (1,) * len(kernel), dilations or (1,) * len(kernel)):
        total = max(0, (-(-h // s) - 1) * s + d * (k - 1) + 1 - h)
        small, big = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else big)
        end.append(big if auto_pad == "SAME_UPPER" else small)
    return tuple(begin + end)


def conv_attrs(ctx, x, w, auto_pad, dilations, group, kernel_shape, pads, strides):
    """The IR attributes of a convolution of any spatial rank (that of the weight's kernel)."""
    kernel = tuple(w.type.shape[2:])
    if not kernel or x.type.rank != w.type.rank:
        ctx.fail(f"input {x.type} and weight {w.type} are not [N,C,spatial...] and [O,C/group,kernel...] "
                 f"of one spatial rank")
    tup = lambda v: None if v is None else tuple(int(a) for a in v)  # noqa: E731
    return dict(strides=tup(strides), dilations=tup(dilations), group=int(group),
                pads=explicit_pads(ctx, x, auto_pad, pads, kernel, tup(strides), tup(dilations)),
                kernel_shape=tup(kernel_shape))


# -- 1-D and 3-D as 2-D ----------------------------------------------------------------------------
# chainrule's convolutions and pools are 2-D. A 1-D one is the 2-D one of an image of height 1:
#
#     %y: f32[N,4,30] = Conv(%x: [N,2,32], %w: [4,2,3])
#  => %y = Squeeze(Conv(Unsqueeze(%x), Unsqueeze(%w)) {kernel_shape=[1, 3]}) {axes=[2]}
#
# (the unit axis has kernel 1, stride 1, dilation 1 and no pads), which exports as those three ops.
# A 3-D convolution reads the depth axis with a 2-D convolution of one-hot weights, which copies
# each depth tap into a channel; the 2-D convolution over height and width then sums the taps
# (``conv_3d``; ConvTranspose the other way round, ``conv_transpose_3d``).
def lift(ctx, v):
    """(N, C, L) as (N, C, 1, L): a 1-D operand as a 2-D one of height 1."""
    return ctx.op("Unsqueeze", v, axes=(2,))


def lifted(attrs, ones=("kernel_shape", "strides", "dilations"), zeros=("output_padding",)):
    """1-D attributes as the 2-D op's on lifted operands: the unit axis has kernel, stride and
    dilation 1, no output padding and no pads."""
    out = dict(attrs)
    for k in ones + zeros:
        if out.get(k) is not None:
            out[k] = (1 if k in ones else 0,) + tuple(out[k])
    if out.get("pads") is not None:
        b, e = out["pads"]
        out["pads"] = (0, b, 0, e)
    return out


def split_depth(attrs):
    """A 3-D op's attributes as (the depth axis's kernel, stride, dilation, begin, end pads,
    output padding) and the 2-D attributes of the height and width axes."""
    k = attrs["kernel_shape"]
    s = attrs.get("strides") or (1, 1, 1)
    d = attrs.get("dilations") or (1, 1, 1)
    p = attrs.get("pads") or (0,) * 6
    op = attrs.get("output_padding") or (0, 0, 0)
    depth = dict(kernel=k[0], stride=s[0], dilation=d[0], begin=p[0], end=p[3], output_padding=op[0])
    hw = dict(attrs, kernel_shape=tuple(k[1:]), strides=tuple(s[1:]), dilations=tuple(d[1:]),
              pads=(p[1], p[2], p[4], p[5]))
    if "output_padding" in attrs:
        hw["output_padding"] = tuple(op[1:])
    return depth, hw


def static_dims(ctx, t, what):
    dims = t.shape[1:]
    if not all(isinstance(d, int) for d in dims):
        ctx.unsupported(f"a 3-D {what} of {t}, whose channels and spatial sizes are not all static")
    return dims


def depth_taps(ctx, dtype, channels, kd):
    """The one-hot weights [C·kd, 1, kd, 1] of group C that copy each of kd depth taps into a channel."""
    ctx.check_size((channels * kd, 1, kd, 1), dtype.numpy, "the depth taps' weights")
    eye = np.tile(np.eye(kd, dtype=dtype.numpy), (channels, 1))
    return ctx.constant(eye.reshape(channels * kd, 1, kd, 1))


def conv_3d(ctx, x, w, b, attrs):
    """Conv of [N,C,D,H,W]: the depth taps become channels (C·kd, a 2-D Conv of one-hot weights over
    depth and H·W), every output depth an image, then one 2-D Conv over height and width with the
    weight [O, C/g·kd, kh, kw] (a reshape of the 3-D weight) sums the taps."""
    c, dd, h, wd = static_dims(ctx, x.type, "convolution")
    o, kd = w.type.shape[0], w.type.shape[2]
    depth, hw = split_depth(attrs)
    taps = ctx.op("Conv", ctx.op("Reshape", x, shape=(0, c, dd, h * wd)), depth_taps(ctx, x.dtype, c, kd),
                  kernel_shape=(kd, 1), strides=(depth["stride"], 1), dilations=(depth["dilation"], 1),
                  pads=(depth["begin"], 0, depth["end"], 0), group=c)      # [N, C·kd, Do, H·W]
    do = taps.type.shape[2]
    images = ctx.op("Reshape", ctx.op("Transpose", ctx.op("Reshape", taps, shape=(0, c * kd, do, h, wd)),
                                      perm=(0, 2, 1, 3, 4)), shape=(-1, c * kd, h, wd))   # [N·Do, C·kd, H, W]
    w2 = ctx.op("Reshape", w, shape=(o, -1) + tuple(w.type.shape[3:]))
    y = ctx.op("Conv", images, w2, *b, **hw)                                  # [N·Do, O, Ho, Wo]
    return ctx.op("Transpose", ctx.op("Reshape", y, shape=(-1, do) + tuple(y.type.shape[1:])), perm=(0, 2, 1, 3, 4))


def conv_transpose_3d(ctx, x, w, b, attrs):
    """ConvTranspose of [N,C,D,H,W], the adjoint of ``conv_3d``'s steps in reverse order: a 2-D
    ConvTranspose of every input depth over height and width with the weight [C, O/g·kd, kh, kw]
    gives each depth tap a channel, and a 2-D ConvTranspose of one-hot weights over depth adds
    the taps where they land."""
    c, dd, h, wd = static_dims(ctx, x.type, "transposed convolution")
    kd = w.type.shape[2]
    g = attrs["group"]
    o = w.type.shape[1] * g
    depth, hw = split_depth(attrs)
    images = ctx.op("Reshape", ctx.op("Transpose", x, perm=(0, 2, 1, 3, 4)), shape=(-1, c, h, wd))   # [N·D, C, H, W]
    w2 = ctx.op("Reshape", w, shape=(c, -1) + tuple(w.type.shape[3:]))
    z = ctx.op("ConvTranspose", images, w2, **hw)                            # [N·D, O·kd, Ho, Wo]
    ho, wo = z.type.shape[2:]
    planes = ctx.op("Transpose", ctx.op("Reshape", z, shape=(-1, dd, o * kd, ho * wo)), perm=(0, 2, 1, 3))
    y = ctx.op("ConvTranspose", planes, depth_taps(ctx, x.dtype, o, kd), *b, kernel_shape=(kd, 1),
               strides=(depth["stride"], 1), dilations=(depth["dilation"], 1), pads=(depth["begin"], 0, depth["end"], 0),
               output_padding=(depth["output_padding"], 0), group=o)        # [N, O, Do, Ho·Wo]
    return ctx.op("Reshape", y, shape=(0, o, y.type.shape[2], ho, wo))


def by_rank(ctx, opname, x, w, b, attrs, three_d):
    """The IR of a 1-, 2- or 3-D convolution ``opname``."""
    n = len(w.type.shape) - 2
    if n == 2:
        return ctx.op(opname, x, w, *b, **attrs)
    if n == 1:
        return ctx.op("Squeeze", ctx.op(opname, lift(ctx, x), lift(ctx, w), *b, **lifted(attrs)), axes=(2,))
    if n == 3:
        if attrs["kernel_shape"] is None:
            attrs = dict(attrs, kernel_shape=tuple(w.type.shape[2:]))
        return three_d(ctx, x, w, b, attrs)
    ctx.unsupported(f"a {n}-D convolution (chainrule's Conv is 2-D; 1-D and 3-D ones import as 2-D ops)")


@onnx_op(since=1)
def Conv(ctx, X, W, B=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None,
         strides=None):
    x, w = ctx.v(X), ctx.v(W)
    b = [ctx.v(B)] if B else []
    return by_rank(ctx, "Conv", x, w, b, conv_attrs(ctx, x, w, auto_pad, dilations, group, kernel_shape, pads, strides),
                   conv_3d)


direct("Conv")


def transpose_pads(ctx, x, kernel, auto_pad, pads, output_shape, output_padding, strides, dilations):
    """ConvTranspose's explicit pads and output_padding. With ``output_shape`` (by default, for
    SAME_UPPER and SAME_LOWER, the input size times the stride) ONNX's formula gives the total
    padding of each axis,

        total = stride·(in − 1) + output_padding + dilation·(kernel − 1) + 1 − output_shape,

    split evenly, SAME_UPPER putting the odd one at the end, SAME_LOWER at the begin. Without
    auto_pad, output_shape only adds zeros at the end (total ≤ 0: ONNX's reference and
    onnxruntime agree; they crop a larger total in different places, so that is refused). A
    negative end pad is output padding; a negative begin pad is refused."""
    auto = auto_pad.decode() if isinstance(auto_pad, bytes) else (auto_pad or "NOTSET")
    n = len(kernel)
    s, d = strides or (1,) * n, dilations or (1,) * n
    op = list(output_padding or (0,) * n)
    if auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"unknown auto_pad {auto!r}")
    if output_shape is None and auto not in ("SAME_UPPER", "SAME_LOWER"):
        return ((0,) * 2 * n if auto == "VALID" else pads), (None if output_padding is None else tuple(op))
    if pads is not None:
        ctx.unsupported("ConvTranspose with both pads and output_shape or auto_pad (ONNX's reference and "
                        "onnxruntime read them differently)")
    sizes = x.type.shape[2:]
    if not all(isinstance(h, int) for h in sizes):
        ctx.unsupported(f"ConvTranspose with auto_pad or output_shape on the symbolic spatial sizes of {x.type}")
    target = list(output_shape) if output_shape is not None else [h * si for h, si in zip(sizes, s)]
    if len(target) != n:
        ctx.fail(f"output_shape {list(output_shape)} does not give the {n} spatial sizes")
    begin, end = [], []
    for i, (h, k) in enumerate(zip(sizes, kernel)):
        total = s[i] * (h - 1) + op[i] + d[i] * (k - 1) + 1 - int(target[i])
        if auto == "SAME_UPPER":
            b, e = total // 2, total - total // 2
        elif auto == "SAME_LOWER":
            b, e = total - total // 2, total // 2
        elif total > 0:
            ctx.unsupported(f"ConvTranspose with output_shape {list(output_shape)} smaller than the full "
                            f"output (ONNX's reference and onnxruntime crop it in different places)")
        else:
            b, e = 0, total
        if b < 0:
            ctx.unsupported(f"ConvTranspose whose output_shape or auto_pad asks for a negative begin pad ({b})")
        if e < 0:  # the output grows at the end: zeros, as output padding makes
            op[i] -= e
            e = 0
        begin.append(b)
        end.append(e)
    return tuple(begin + end), tuple(op)


@onnx_op(since=1)
def ConvTranspose(ctx, X, W, B=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
                  output_padding=None, output_shape=None, pads=None, strides=None):
    x, w = ctx.v(X), ctx.v(W)
    b = [ctx.v(B)] if B else []
    tup = lambda v: None if v is None else tuple(int(a) for a in v)  # noqa: E731
    kernel = tuple(w.type.shape[2:])
    attrs = conv_attrs(ctx, x, w, "NOTSET", dilations, group, kernel_shape, pads, strides)
    attrs["pads"], attrs["output_padding"] = transpose_pads(ctx, x, tup(kernel_shape) or kernel, auto_pad,
                                                            attrs["pads"], tup(output_shape), tup(output_padding),
                                                            attrs["strides"], attrs["dilations"])
    return by_rank(ctx, "ConvTranspose", x, w, b, attrs, conv_transpose_3d)


direct("ConvTranspose")


@export_op("ConvFilterGrad")
def _conv_filter_grad(ex, n, x, gy, *, kernel_shape, strides, pads, dilations, group):
    """W̄ = Conv(x', ȳ') with x' = x as [C/g, g·N, H, W] and ȳ' = ȳ as [O, N, Ho, Wo]: the batch
    becomes the channel that is summed over; strides and dilations trade places."""
    xt = n.inputs[0].type
    c, (h, w) = xt.shape[1], xt.shape[2:]
    g = int(group)
    xs = ex.make("Reshape", [x, ex.ints([0, g, c // g, h, w], "shape")])
    xs = ex.make("Reshape", [ex.make("Transpose", [xs], perm=[2, 1, 0, 3, 4]), ex.ints([c // g, -1, h, w], "shape")])
    gyt = ex.make("Transpose", [gy], perm=[1, 0, 2, 3])
    full = ex.make("Conv", [xs, gyt], strides=list(dilations or (1, 1)), dilations=list(strides or (1, 1)),
                   pads=None if pads is None else list(pads), group=g)
    kh, kw = kernel_shape
    cut = ex.make("Slice", [full, ex.ints([0, 0], "starts"), ex.ints([kh, kw], "ends"), ex.ints([2, 3], "axes")])
    ex.make("Transpose", [cut], ex.out, perm=[1, 0, 2, 3])


__all__ = ["conv_attrs", "explicit_pads", "lift", "lifted", "split_depth", "static_dims"]
