"""ONNX mappings of ``ir/ops/conv.py``: Conv, ConvTranspose, and ConvFilterGrad (exported as a
Conv of x and ȳ with batch and channels swapped)."""
from __future__ import annotations

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
    kernel = tuple(w.type.shape[2:])
    if len(kernel) != 2:
        ctx.unsupported(f"a {len(kernel)}-D convolution (chainrule's Conv is 2-D)")
    tup = lambda v: None if v is None else tuple(int(a) for a in v)  # noqa: E731
    return dict(strides=tup(strides), dilations=tup(dilations), group=int(group),
                pads=explicit_pads(ctx, x, auto_pad, pads, kernel, tup(strides), tup(dilations)),
                kernel_shape=tup(kernel_shape))


@onnx_op(since=1)
def Conv(ctx, X, W, B=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None,
         strides=None):
    x, w = ctx.v(X), ctx.v(W)
    ins = [x, w] + ([ctx.v(B)] if B else [])
    return ctx.op("Conv", *ins, **conv_attrs(ctx, x, w, auto_pad, dilations, group, kernel_shape, pads, strides))


direct("Conv")


@onnx_op(since=1)
def ConvTranspose(ctx, X, W, B=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
                  output_padding=None, output_shape=None, pads=None, strides=None):
    if output_shape is not None:
        ctx.unsupported("ConvTranspose with output_shape (give pads and output_padding instead)")
    if auto_pad not in ("NOTSET", b"NOTSET"):
        ctx.unsupported(f"ConvTranspose with auto_pad={auto_pad}")
    x, w = ctx.v(X), ctx.v(W)
    ins = [x, w] + ([ctx.v(B)] if B else [])
    attrs = conv_attrs(ctx, x, w, auto_pad, dilations, group, kernel_shape, pads, strides)
    return ctx.op("ConvTranspose", *ins, output_padding=None if output_padding is None else tuple(output_padding),
                  **attrs)


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


__all__ = ["conv_attrs", "explicit_pads"]
