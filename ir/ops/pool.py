"""Pooling over 2-D windows: ``MaxPool``, ``AveragePool``, ``GlobalAveragePool``, the two
routing ops their gradients emit, and ``MaxPoolIndices``, where each window's maximum is.

    MaxPool      ȳ goes to the one input position that won its window (MaxPoolGrad)
    AveragePool  ȳ / count spread evenly over the window (AveragePoolGrad)

MaxPool and MaxPoolIndices also take integer operands (padding is then the type's minimum);
the average and the gradients need floats.

Tie rule of MaxPool: when several positions of a window hold the maximum, the *first* in
row-major order inside the window wins and receives all of ȳ (as PyTorch's CPU kernel
does). Windows overlap when stride < kernel, so one position can win several windows;
its gradient is the sum (col2im adds).
"""
from __future__ import annotations

import functools

import numpy as np

from ..errors import IRTypeError
from ..types import TensorType
from . import register
from .base import Op, as_dtype, need_float
from .window import crop, pad, spatial_sizes, tap, window_count, window_of, windows

POOL_ATTRS = {"kernel_shape": None, "strides": None, "pads": None, "dilations": None, "ceil_mode": 0}


class Pool(Op):
    """What the pools share: the window from the attributes and the output size."""
    integers = False  # True: integer operands too (a maximum needs no division)

    def window(self, attrs):
        if attrs["kernel_shape"] is None:
            raise IRTypeError(f"{self.name} needs attribute 'kernel_shape'")
        return window_of(self.name, attrs)

    def out_type(self, x, attrs):
        if not (self.integers and x.dtype.numpy.kind in "iu"):
            need_float(self, x)
        hw = spatial_sizes(self.name, x)
        outs = self.window(attrs).out_sizes(hw, bool(attrs["ceil_mode"]))
        return TensorType(x.shape[:2] + outs, x.dtype)

    def infer(self, ins, attrs):
        return [self.out_type(ins[0], attrs)]

    def geometry(self, attrs, x_hw):
        """Window, output sizes and ceil_mode's extra end padding for an input of size ``x_hw``."""
        win = self.window(attrs)
        return _geometry(win, tuple(x_hw), bool(attrs["ceil_mode"]))

    def flops(self, ins, outs, attrs, bindings=None):
        n = outs[0].numel(bindings)
        return 0 if n is None else n * window_count(self.window(attrs))


@functools.lru_cache(maxsize=4096)
def _geometry(win, x_hw, ceil_mode):
    outs = win.out_sizes(x_hw, ceil_mode)
    return win, outs, win.extra_end(x_hw, outs)


def _scatter(gy_taps, win, shape, dtype, outs, extra):
    """Σ over kernel taps of each tap's (N, C, Ho, Wo) contribution, back on x's positions."""
    hp = tuple(h + pb + pe + e for h, pb, pe, e in zip(shape[2:], win.pads_begin, win.pads_end, extra))
    xp = np.zeros(tuple(shape[:2]) + hp, dtype)
    kh, kw = win.kernel
    for i in range(kh):
        for j in range(kw):
            tap(xp, win, outs, i, j)[...] += gy_taps(i, j)
    return np.ascontiguousarray(crop(xp, win, shape[2:]))


def lowest(dtype):
    """What padding holds for a maximum: −∞, or the integer type's minimum."""
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _tap_max(xp, win, outs):
    """The maximum of each window: one np.maximum per kernel tap over the whole batch."""
    kh, kw = win.kernel
    y = np.array(tap(xp, win, outs, 0, 0))
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(y, tap(xp, win, outs, i, j), out=y)
    return y


@register
class MaxPool(Pool):
    """y[n,c,p,q] = max over the window at (p, q) of x (padding counts as −∞)"""
    attrs = POOL_ATTRS
    integers = True
    rule = "x̄ = MaxPoolGrad(x, ȳ): ȳ routed to each window's first maximal position"

    def kernel(self, attrs):
        def maxpool(x):
            win, outs, extra = self.geometry(attrs, x.shape[2:])
            return _tap_max(pad(x, win, extra, lowest(x.dtype)), win, outs)
        return maxpool

    def vjp(self, e, node, gys):
        return [e.MaxPoolGrad(node.inputs[0], gys[0], **node.attrs)]


@register
class MaxPoolGrad(Pool):
    """x̄ = ȳ added at the arg-max of each window of x (first maximum in row-major order)"""
    arity = (2, 2)
    attrs = POOL_ATTRS
    differentiable = False
    nograd_reason = "second derivatives through MaxPool are not implemented"

    def infer(self, ins, attrs):
        x, gy = ins
        if self.out_type(x, attrs) != gy:
            raise IRTypeError(f"MaxPoolGrad: ȳ {gy} is not the MaxPool output type of {x}")
        return [x]

    def kernel(self, attrs):
        def maxpool_grad(x, gy):
            win, outs, extra = self.geometry(attrs, x.shape[2:])
            xp = pad(x, win, extra, -np.inf)
            y = _tap_max(xp, win, outs)
            gxp = np.zeros(xp.shape, gy.dtype)
            free = np.ones(y.shape, bool)  # windows whose maximum has not been routed yet
            hit = np.empty(y.shape, bool)
            # windows that do not overlap (stride ≥ extent) write each input position at most once
            disjoint = all(s >= e for s, e in zip(win.strides, win.extent))
            taps = [(i, j) for i in range(win.kernel[0]) for j in range(win.kernel[1])]
            for k, (i, j) in enumerate(taps):  # row-major over the window: the first maximum takes ȳ
                np.logical_and(np.equal(tap(xp, win, outs, i, j), y, out=hit), free, out=hit)
                target = tap(gxp, win, outs, i, j)
                if disjoint:
                    np.multiply(hit, gy, out=target)
                else:
                    target += hit * gy
                if k + 1 < len(taps):
                    np.logical_xor(free, hit, out=free)  # hit ⊆ free: this removes the routed windows
            return np.ascontiguousarray(crop(gxp, win, x.shape[2:]))
        return maxpool_grad


@register
class MaxPoolIndices(Pool):
    """i[n,c,p,q] = the flat index in x of the first maximum of the window at (p, q), over the
    positions inside x (ONNX MaxPool's Indices): ((n·C + c)·H + h)·W + w, or, with
    ``storage_order=1`` (column-major), (n·C + c)·H·W + w·H + h

        %i: i64[1,1,2,2] = MaxPoolIndices(%x) {kernel_shape=[2, 2], strides=[2, 2]}
    """
    attrs = {**POOL_ATTRS, "storage_order": 0}
    integers = True
    differentiable = False

    def infer(self, ins, attrs):
        if attrs["storage_order"] not in (0, 1):
            raise IRTypeError(f"MaxPoolIndices storage_order must be 0 or 1, got {attrs['storage_order']!r}")
        return [self.out_type(ins[0], attrs).with_dtype("i64")]

    def kernel(self, attrs):
        column_major = attrs["storage_order"] == 1

        def indices(x):
            win, outs, extra = self.geometry(attrs, x.shape[2:])
            xp = pad(x, win, extra, lowest(x.dtype))
            y = _tap_max(xp, win, outs)
            n, c, h, w = x.shape
            first = (np.arange(n * c, dtype=np.int64) * (h * w)).reshape(n, c, 1, 1)  # where each image starts
            found = np.zeros(y.shape, np.int64)
            free = np.ones(y.shape, bool)  # windows whose maximum is not found yet
            (sh, sw), (dh, dw), (pt, pl) = win.strides, win.dilations, win.pads_begin
            for i in range(win.kernel[0]):  # row-major over the window: the first maximum wins
                rows = np.arange(outs[0]) * sh + i * dh - pt  # the row of x each window's tap reads
                for j in range(win.kernel[1]):
                    cols = np.arange(outs[1]) * sw + j * dw - pl
                    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
                    hit = (tap(xp, win, outs, i, j) == y) & free & inside
                    at = rows[:, None] + cols[None, :] * h if column_major else rows[:, None] * w + cols[None, :]
                    np.copyto(found, first + at, where=hit)
                    free &= ~hit
            return found
        return indices


def window_counts(win, hw, outs, extra, include_pad, dtype):
    """Elements averaged by each window: pads count with ``count_include_pad`` (ceil_mode's
    extra end padding never does, as in PyTorch)."""
    ones = np.ones((1, 1) + tuple(hw), dtype)
    marked = pad(ones, win, value=1.0 if include_pad else 0.0)
    marked = np.pad(marked, [(0, 0), (0, 0)] + [(0, e) for e in extra])
    return windows(marked, win, outs).sum(axis=(4, 5))[0, 0]


@register
class AveragePool(Pool):
    """y[n,c,p,q] = mean of the window at (p, q) (pads counted if count_include_pad=1)"""
    attrs = {**POOL_ATTRS, "count_include_pad": 0}
    rule = "x̄ = AveragePoolGrad(ȳ, x): ȳ / count spread over each window"

    def kernel(self, attrs):
        def avgpool(x):
            win, outs, extra = self.geometry(attrs, x.shape[2:])
            v = windows(pad(x, win, extra), win, outs)
            cnt = window_counts(win, x.shape[2:], outs, extra, attrs["count_include_pad"], x.dtype)
            return as_dtype(v.sum(axis=(4, 5)) / cnt, x.dtype)
        return avgpool

    def vjp(self, e, node, gys):
        return [e.AveragePoolGrad(gys[0], node.inputs[0], **node.attrs)]


@register
class AveragePoolGrad(Pool):
    """x̄ = Σ over the windows containing a position of ȳ / count (reads only x's shape)"""
    arity = (2, 2)
    attrs = {**POOL_ATTRS, "count_include_pad": 0}
    nondiff_inputs = (1,)
    rule = "ȳ̄ = AveragePool(x̄̄): the adjoint of spreading is averaging"

    def infer(self, ins, attrs):
        gy, x = ins
        if self.out_type(x, attrs) != gy:
            raise IRTypeError(f"AveragePoolGrad: ȳ {gy} is not the AveragePool output type of {x}")
        return [x]

    def kernel(self, attrs):
        def avgpool_grad(gy, x):
            win, outs, extra = self.geometry(attrs, x.shape[2:])
            share = gy / window_counts(win, x.shape[2:], outs, extra, attrs["count_include_pad"], gy.dtype)
            return as_dtype(_scatter(lambda i, j: share, win, x.shape, gy.dtype, outs, extra), gy.dtype)
        return avgpool_grad

    def vjp(self, e, node, gys):
        return [e.AveragePool(gys[0], **node.attrs), None]


@register
class GlobalAveragePool(Op):
    """y[n,c,1,1] = mean of x[n,c] over all spatial positions"""
    rule = "x̄ = ȳ / (H·W) broadcast over the spatial positions"

    def infer(self, ins, attrs):
        x = ins[0]
        need_float(self, x)
        if x.rank < 3:
            raise IRTypeError(f"GlobalAveragePool needs [N,C,spatial...], got {x}")
        return [x.with_shape(x.shape[:2] + (1,) * (x.rank - 2))]

    def kernel(self, attrs):
        return lambda x: as_dtype(x.mean(axis=tuple(range(2, x.ndim)), keepdims=True), x.dtype)

    def vjp(self, e, node, gys):
        x = node.inputs[0]
        n = e.Count(x, axes=tuple(range(2, x.type.rank)))
        return [e.Div(e.ExpandLike(gys[0], x), n)]
