"""ONNX shape arithmetic, folded at import (registered into ``onnx_ops.ONNX_OPS``).

Exporters compute shapes at run time: PyTorch writes ``x.view(x.size(0), -1)`` as

    s = Shape(x); n = Gather(s, 0); n1 = Unsqueeze(n, [0]); t = Concat(n1, [-1]); y = Reshape(x, t)

chainrule's ``Reshape`` takes its target as a static attribute, so such chains are
evaluated here, at import, on a ``Sym``: the shape value as an object array whose
entries are ints and dimension symbols (``["N", 784]``). ``Shape``, ``Gather``,
``Slice``, ``Concat``, ``Unsqueeze``, ``Squeeze``, ``Cast`` and ``Identity`` keep a
``Sym`` symbolic; a ``Sym`` without symbols becomes an ordinary constant. A
``Reshape`` whose target holds a symbol writes 0 (copy) where the input has that
symbol at the same position, else -1, and checks that the result has the symbol
there:  Reshape(x: f32[N,1,28,28], ["N", -1])  ->  Reshape {shape=(0, -1)} : f32[N,784].
Any other use of a symbolic shape value is an import error naming it.

``Slice`` on a tensor becomes a ``Gather`` of constant indices per sliced axis (so
it has a gradient); the sliced axes must have static sizes.
"""
from __future__ import annotations

import numpy as np

from ...ir import DType
from ...ir.types import normalize_axis
from .common import from_onnx_dtype
from .ops import _axes, onnx_op


class Sym:
    """A shape value with symbolic entries: ``arr`` (object array of ints and str), its dtype."""

    def __init__(self, arr, dtype=DType.i64):
        self.arr = np.asarray(arr, dtype=object)
        self.dtype = dtype

    @property
    def is_symbolic(self):
        return any(isinstance(d, str) for d in self.arr.reshape(-1))

    def text(self):
        return "[" + ", ".join(str(d) for d in self.arr.reshape(-1)) + "]"


def sym_of(ctx, name):
    """The import-time shape value of input ``name``: a ``Sym`` if it is symbolic, else None."""
    return ctx.imp.symbolic.get(name) if name else None


def _as_sym(ctx, name, what):
    """Input ``name`` as a Sym, whether it is symbolic or a constant integer array."""
    s = sym_of(ctx, name)
    if s is not None:
        return s
    arr = ctx.static(name, what)
    if arr.dtype.kind not in "iu":
        ctx.fail(f"input {what!r} ({name!r}) is {arr.dtype}, not an integer shape value")
    return Sym(np.array([int(d) for d in arr.reshape(-1)], dtype=object).reshape(arr.shape), DType.of(arr.dtype))


def _result(ctx, s):
    """A Sym whose entries are all known is an ordinary constant; otherwise it stays a Sym."""
    if s.is_symbolic:
        return s
    return ctx.constant(np.array(s.arr.tolist(), dtype=s.dtype.numpy).reshape(s.arr.shape))


@onnx_op
def Shape(ctx, data, *, start=0, end=None):
    x = ctx.v(data)
    dims = x.type.shape[slice(int(start), None if end is None else int(end))]
    return _result(ctx, Sym(list(dims)))


@onnx_op
def Identity(ctx, X):
    s = sym_of(ctx, X)
    return s if s is not None else ctx.op("Identity", ctx.v(X))


@onnx_op
def Cast(ctx, X, *, to=0, saturate=1, round_mode="up"):
    dt = from_onnx_dtype(to, ctx.where + " attribute 'to'")
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Cast", ctx.v(X), to=dt)
    if dt.is_float or dt == DType.bool:
        ctx.unsupported(f"Cast of the symbolic shape value {X!r} {s.text()} to {dt.value}")
    return Sym(s.arr, dt)


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
    return _result(ctx, Sym(np.take(s.arr, idx, axis=a), s.dtype))


@onnx_op
def Concat(ctx, *xs, axis=None):
    if axis is None:
        ctx.fail("needs attribute 'axis'")
    if not any(sym_of(ctx, x) is not None for x in xs):
        return ctx.op("Concat", *[ctx.v(x) for x in xs], axis=int(axis))
    parts = [_as_sym(ctx, x, f"input {k}") for k, x in enumerate(xs)]
    return _result(ctx, Sym(np.concatenate([p.arr for p in parts], axis=int(axis)), parts[0].dtype))


@onnx_op
def Squeeze(ctx, X, axes_in=None, *, axes=None):
    ax = _axes(ctx, axes, axes_in, 13)
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Squeeze", ctx.v(X), axes=ax)
    return _result(ctx, Sym(np.squeeze(s.arr, axis=ax), s.dtype))


@onnx_op
def Unsqueeze(ctx, X, axes_in=None, *, axes=None):
    ax = _axes(ctx, axes, axes_in, 13)
    if ax is None:
        ctx.fail("needs axes")
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Unsqueeze", ctx.v(X), axes=ax)
    return _result(ctx, Sym(np.expand_dims(s.arr, ax), s.dtype))


@onnx_op
def Slice(ctx, data, starts_in=None, ends_in=None, axes_in=None, steps_in=None, *, starts=None, ends=None,
          axes=None):
    if ctx.opset >= 10:
        if starts is not None or ends is not None or axes is not None:
            ctx.fail(f"starts, ends and axes are inputs from opset 10 on (this model uses opset {ctx.opset})")
        if starts_in is None or ends_in is None:
            ctx.fail("needs inputs 'starts' and 'ends'")
        st = [int(v) for v in ctx.static(starts_in, "starts").reshape(-1)]
        en = [int(v) for v in ctx.static(ends_in, "ends").reshape(-1)]
        ax = None if axes_in is None else [int(v) for v in ctx.static(axes_in, "axes").reshape(-1)]
        sp = None if steps_in is None else [int(v) for v in ctx.static(steps_in, "steps").reshape(-1)]
    else:
        if starts is None or ends is None:
            ctx.fail("needs attributes 'starts' and 'ends'")
        st, en, ax, sp = [int(v) for v in starts], [int(v) for v in ends], axes, None
    ax = list(range(len(st))) if ax is None else [int(a) for a in ax]
    sp = [1] * len(st) if sp is None else sp
    if not len(st) == len(en) == len(ax) == len(sp):
        ctx.fail(f"starts, ends, axes and steps differ in length: {len(st)}, {len(en)}, {len(ax)}, {len(sp)}")
    if 0 in sp:
        ctx.fail("a step of 0")
    s = sym_of(ctx, data)
    rank = s.arr.ndim if s is not None else ctx.v(data).type.rank
    ax = [normalize_axis(a, rank, "Slice axis") for a in ax]
    if len(set(ax)) != len(ax):
        ctx.fail(f"Slice axes {ax} repeat an axis")
    if s is not None:
        key = [slice(None)] * rank
        for a, b, e, p in zip(ax, st, en, sp):
            key[a] = slice(b, e, p)
        return _result(ctx, Sym(s.arr[tuple(key)], s.dtype))
    x = ctx.v(data)
    for a, b, e, p in zip(ax, st, en, sp):
        n = x.type.shape[a]
        if not isinstance(n, int):
            if (b, p) == (0, 1) and e >= 2 ** 31 - 1:
                continue  # the whole symbolic axis
            ctx.unsupported(f"Slice along the symbolic dimension {n} of {x.type}")
        idx = np.arange(n)[b:e:p]  # Python's slice clamps as ONNX does
        if len(idx) == n and p == 1:
            continue
        x = ctx.op("Gather", x, ctx.constant(idx.astype(np.int64)), axis=a)
    return x


@onnx_op
def Reshape(ctx, X, shape=None, *, allowzero=0):
    x = ctx.v(X)
    s = sym_of(ctx, shape)
    if s is None:
        target = [int(d) for d in ctx.static(shape, "shape").reshape(-1)]
        if allowzero and 0 in target:
            ctx.unsupported("allowzero=1 with a 0 in the target shape (a dimension of size zero)")
        return ctx.op("Reshape", x, shape=tuple(target))
    dims = list(s.arr.reshape(-1))
    if allowzero and 0 in dims:
        ctx.unsupported("allowzero=1 with a 0 in the target shape (a dimension of size zero)")
    target = [0 if isinstance(d, str) and i < x.type.rank and x.type.shape[i] == d else d
              for i, d in enumerate(dims)]
    left = [i for i, d in enumerate(target) if isinstance(d, str)]
    if len(left) > 1 or (left and -1 in target):
        ctx.unsupported(f"Reshape of {x.type} to the symbolic shape {s.text()}: its symbols cannot all be "
                        f"written as 0 (copy the input's dimension) and one -1")
    if left:
        target[left[0]] = -1
    y = ctx.op("Reshape", x, shape=tuple(int(d) for d in target))
    for i, d in enumerate(dims):
        if isinstance(d, str) and y.type.shape[i] != d:
            ctx.unsupported(f"Reshape of {x.type} to the symbolic shape {s.text()}: as {tuple(target)} it "
                            f"gives {y.type}, whose dimension {i} is not {d}")
    return y
