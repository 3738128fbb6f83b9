"""Sliding windows over the spatial axes of NCHW tensors: the geometry that convolutions
and pools share, and the two data movements they are built from.

- ``im2col``: every window of the (padded) input laid out as a column, so that a
  convolution is one matrix product (the columns come from ``sliding_window_view``,
  a strided view, and are copied once into a contiguous workspace);
- ``col2im``: the adjoint, each column *added* back to the positions it was read from.
  An input position read by several windows receives the sum of their contributions:
  the chain rule's Σ at fan-out, done by a loop over the kernel's taps.

Attributes follow ONNX: ``pads`` is ``(top, left, bottom, right)`` (all begins, then all
ends), ``strides`` and ``dilations`` are per spatial axis.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple, Tuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import IRTypeError

SPATIAL = 2  # 2-D: NCHW


class Window(NamedTuple):
    """Where the windows of one spatial axis-pair sit."""

    kernel: Tuple[int, int]
    strides: Tuple[int, int]
    dilations: Tuple[int, int]
    pads_begin: Tuple[int, int]
    pads_end: Tuple[int, int]

    @property
    def extent(self) -> Tuple[int, int]:
        """Input span of one window: d·(k − 1) + 1 per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilations))

    def out_sizes(self, sizes, ceil_mode: bool = False) -> Tuple[int, int]:
        """⌊(H + pads − extent) / s⌋ + 1 per axis (⌈⌉ with ``ceil_mode``, where, as in PyTorch
        and ONNX, a last window that would start in the end padding is dropped)."""
        out = []
        for h, s, e, pb, pe in zip(sizes, self.strides, self.extent, self.pads_begin, self.pads_end):
            span = h + pb + pe - e
            if span < 0:
                raise IRTypeError(f"window of extent {e} does not fit an input of size {h} padded by ({pb}, {pe})")
            n = (-(-span // s) if ceil_mode else span // s) + 1
            if ceil_mode and (n - 1) * s >= h + pb:
                n -= 1
            out.append(n)
        return tuple(out)

    def extra_end(self, sizes, outs) -> Tuple[int, int]:
        """Padding beyond ``pads_end`` that ceil_mode's last window reads (0 otherwise)."""
        return tuple(max(0, (o - 1) * s + e - (h + pb + pe)) for h, o, s, e, pb, pe in
                     zip(sizes, outs, self.strides, self.extent, self.pads_begin, self.pads_end))


def _pair(v, name, op, n=SPATIAL):
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise IRTypeError(f"{op} attribute {name} needs {n} values (2-D), got {v}")
    return v


def _frozen(v):
    return None if v is None else tuple(int(a) for a in v)


def window_of(op: str, attrs: dict, kernel=None) -> Window:
    """The ``Window`` of a Conv/pool node from its attributes (``kernel`` from the weight)."""
    k = kernel if kernel is not None else attrs["kernel_shape"]
    return _window(op, _frozen(k), _frozen(attrs["strides"]), _frozen(attrs.get("dilations")), _frozen(attrs["pads"]))


@functools.lru_cache(maxsize=4096)  # kernels ask at every call; the answer depends only on the attributes
def _window(op, kernel, strides, dilations, pads) -> Window:
    k = _pair(kernel, "kernel_shape", op)
    s = _pair(strides or (1,) * SPATIAL, "strides", op)
    d = _pair(dilations or (1,) * SPATIAL, "dilations", op)
    p = _pair(pads or (0,) * 2 * SPATIAL, "pads", op, 2 * SPATIAL)
    if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise IRTypeError(f"{op} needs positive kernel_shape, strides, dilations and pads ≥ 0, "
                          f"got kernel_shape={k} strides={s} dilations={d} pads={p}")
    return Window(k, s, d, p[:SPATIAL], p[SPATIAL:])


def spatial_sizes(op: str, t, what="input") -> Tuple[int, int]:
    """The static H, W of an NCHW type (symbolic spatial sizes have no fixed output size)."""
    if t.rank != 2 + SPATIAL:
        raise IRTypeError(f"{op} needs a 2-D image batch [N,C,H,W] as its {what}, got {t}")
    hw = t.shape[2:]
    if not all(isinstance(d, int) for d in hw):
        raise IRTypeError(f"{op} needs static spatial sizes, got {t}")
    return hw


def pad(x: np.ndarray, win: Window, extra=(0, 0), value=0.0) -> np.ndarray:
    widths = [(0, 0), (0, 0)] + [(b, e + x_) for b, e, x_ in zip(win.pads_begin, win.pads_end, extra)]
    if not any(b or e for b, e in widths):
        return x
    return np.pad(x, widths, constant_values=value)


def windows(xp: np.ndarray, win: Window, outs) -> np.ndarray:
    """The (N, C, Ho, Wo, kh, kw) view of every window of the padded input ``xp``."""
    v = sliding_window_view(xp, win.extent, axis=(2, 3))
    (sh, sw), (dh, dw) = win.strides, win.dilations
    return v[:, :, :(outs[0] - 1) * sh + 1:sh, :(outs[1] - 1) * sw + 1:sw, ::dh, ::dw]


def padded_last(shape, win: Window = None):
    """The shape (C, Hp, Wp, N) of ``batch_last``'s copy of an (N, C, H, W) array (N may be symbolic)."""
    n, c, h, w = shape
    if win is None:
        return (c, h, w, n)
    (pt, pl), (pb, pr) = win.pads_begin, win.pads_end
    return (c, h + pt + pb, w + pl + pr, n)


def batch_last(x: np.ndarray, win: Window = None, out: np.ndarray = None) -> np.ndarray:
    """(N, C, H, W) as a (C, Hp, Wp, N) copy, zero-padded by ``win``'s pads: the layout the
    column kernels work in, so that each kernel tap's copy or sum moves whole rows of W·N
    elements (with N first the rows would be as short as one image row). ``out``: a planned
    workspace of shape ``padded_last`` to copy into (its border is zeroed, it may hold old bytes)."""
    n, c, h, w = x.shape
    padded = win is not None and any(win.pads_begin + win.pads_end)
    if out is None:
        if not padded:
            return np.ascontiguousarray(x.transpose(1, 2, 3, 0))
        out = np.zeros(padded_last(x.shape, win), x.dtype)
    elif padded:
        (pt, pl), (pb, pr) = win.pads_begin, win.pads_end
        out[:, :pt], out[:, pt + h:], out[:, :, :pl], out[:, :, pl + w:] = 0, 0, 0, 0
    if not padded:
        np.copyto(out, x.transpose(1, 2, 3, 0))
        return out
    (pt, pl) = win.pads_begin
    out[:, pt:pt + h, pl:pl + w] = x.transpose(1, 2, 3, 0)
    return out


def col_shape(shape, win: Window, outs):
    """The shape (C, kh, kw, Ho, Wo, N) of ``im2col``'s columns for an (N, C, H, W) input."""
    n, c = shape[:2]
    return (c,) + tuple(win.kernel) + tuple(outs) + (n,)


def im2col(x: np.ndarray, win: Window, outs, group: int, xt: np.ndarray = None,
           cols: np.ndarray = None) -> np.ndarray:
    """Columns (g, C/g·kh·kw, Ho·Wo·N) of the padded input x (N, C, H, W), channel-major so that
    a convolution over the whole batch is one GEMM per group: one copy per kernel tap.
    ``xt``, ``cols``: workspaces of shapes ``padded_last`` and ``col_shape`` (else allocated)."""
    n, c = x.shape[:2]
    xt = batch_last(x, win, xt)
    kh, kw = win.kernel
    if cols is None:
        cols = np.empty(col_shape(x.shape, win, outs), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = tap_last(xt, win, outs, i, j)
    return cols.reshape(group, (c // group) * kh * kw, outs[0] * outs[1] * n)


def channel_major(a: np.ndarray, group: int, out: np.ndarray = None) -> np.ndarray:
    """(N, C, H, W) as (g, C/g, H·W·N): the layout of ``im2col``'s columns (one copy, into ``out``
    of shape ``padded_last(a.shape)`` if given)."""
    return batch_last(a, None, out).reshape(group, a.shape[1] // group, -1)


def tap_last(xt: np.ndarray, win: Window, outs, i: int, j: int) -> np.ndarray:
    """``tap`` in the (C, H, W, N) layout: the (C, Ho, Wo, N) positions that tap (i, j) reads."""
    (sh, sw), (dh, dw) = win.strides, win.dilations
    return xt[:, i * dh:i * dh + (outs[0] - 1) * sh + 1:sh, j * dw:j * dw + (outs[1] - 1) * sw + 1:sw]


def tap(xp: np.ndarray, win: Window, outs, i: int, j: int) -> np.ndarray:
    """The (N, C, Ho, Wo) strided view of the input positions that kernel tap (i, j) reads."""
    (sh, sw), (dh, dw) = win.strides, win.dilations
    return xp[:, :, i * dh:i * dh + (outs[0] - 1) * sh + 1:sh, j * dw:j * dw + (outs[1] - 1) * sw + 1:sw]


def col2im(cols: np.ndarray, win: Window, padded_hw, outs, out: np.ndarray = None) -> np.ndarray:
    """Adjoint of ``im2col``: ``cols`` (C, kh, kw, Ho, Wo, N) summed into a zero padded input,
    returned as (N, C, Hp, Wp) (a transposed view of the batch-last sum, held in ``out``, a
    (C, Hp, Wp, N) workspace, if given)."""
    c, kh, kw = cols.shape[:3]
    if out is None:
        xt = np.zeros((c,) + tuple(padded_hw) + (cols.shape[-1],), cols.dtype)
    else:
        xt = out
        xt.fill(0)
    for i in range(kh):
        for j in range(kw):
            tap_last(xt, win, outs, i, j)[...] += cols[:, i, j]
    return xt.transpose(3, 0, 1, 2)


def crop(xp: np.ndarray, win: Window, sizes) -> np.ndarray:
    """The unpadded (H, W) part of a padded array."""
    (pt, pl), (h, w) = win.pads_begin, sizes
    return xp[:, :, pt:pt + h, pl:pl + w]


def window_count(win: Window) -> int:
    return math.prod(win.kernel)
