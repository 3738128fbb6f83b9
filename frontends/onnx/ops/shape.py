"""ONNX mappings of ``ir/ops/shape.py``: Transpose, Reshape, Flatten, Squeeze/Unsqueeze, Expand,
Tile, OneHot, Constant, and the import-only Shape, Size and Slice. Reshape, Squeeze, Unsqueeze,
Shape, Size and Slice also fold symbolic shape values (``shapes``)."""
from __future__ import annotations

import math

import numpy as np

from ....ir import DType
from ....ir.types import broadcast_shapes, normalize_axis
from ..shapes import Sym, sym_of, sym_result
from .table import axes_of, direct, export_op, onnx_op, static_ints


@onnx_op
def Transpose(ctx, X, *, perm=None):
    return ctx.op("Transpose", ctx.v(X), perm=None if perm is None else tuple(perm))


@export_op("Transpose", onnx="Transpose")
def _transpose(ex, n, x, *, perm):
    ex.make("Transpose", [x], ex.out, perm=None if perm is None else list(perm))


@onnx_op
def Flatten(ctx, X, *, axis=1):
    return ctx.op("Flatten", ctx.v(X), axis=int(axis))


direct("Flatten")


@onnx_op
def Reshape(ctx, X, shape=None, *, allowzero=0):
    if sym_of(ctx, X) is not None:   # a shape value reshaped, as [N] to [-1]: stays an import-time value
        return _reshape_sym(ctx, sym_of(ctx, X), ctx.static(shape, "shape"), allowzero)
    x = ctx.v(X)
    s = sym_of(ctx, shape)
    if s is None:
        target = [int(d) for d in ctx.static(shape, "shape").reshape(-1)]
        if allowzero and 0 in target:  # a literal 0: the result is empty, so the input must be
            if x.type.numel() != 0 or -1 in target:
                ctx.unsupported("allowzero=1 with a 0 in the target shape (a dimension of size zero) "
                                f"for the input {x.type}")
            return ctx.constant(np.zeros(target, x.dtype.numpy))
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


def _reshape_sym(ctx, s, target, allowzero):
    """ONNX's Reshape rule applied to a shape value's entries (0 copies, one -1 is inferred)."""
    dims = [int(d) for d in target.reshape(-1)]
    dims = [s.arr.shape[i] if d == 0 and not allowzero and i < s.arr.ndim else d for i, d in enumerate(dims)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        ctx.fail(f"cannot reshape the shape value {s.text()} to {dims}")
    known = int(np.prod([d for d in dims if d != -1]))
    if -1 in dims and known:
        dims[dims.index(-1)] = s.arr.size // known
    if int(np.prod(dims)) != s.arr.size:
        ctx.fail(f"cannot reshape the shape value {s.text()} ({s.arr.size} entries) to {dims}")
    return Sym(s.arr.reshape(dims), s.dtype)


@export_op("Reshape", onnx="Reshape")  # the target is an input in ONNX
def _reshape(ex, n, x, *, shape):
    ex.make("Reshape", [x, ex.ints(shape, "shape")], ex.out)


@onnx_op
def Squeeze(ctx, X, axes_in=None, *, axes=None):
    ax = axes_of(ctx, axes, axes_in, 13)
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Squeeze", ctx.v(X), axes=ax)
    return sym_result(ctx, Sym(np.squeeze(s.arr, axis=ax), s.dtype))


@onnx_op
def Unsqueeze(ctx, X, axes_in=None, *, axes=None):
    ax = axes_of(ctx, axes, axes_in, 13)
    if ax is None:
        ctx.fail("needs axes")
    s = sym_of(ctx, X)
    if s is None:
        return ctx.op("Unsqueeze", ctx.v(X), axes=ax)
    return sym_result(ctx, Sym(np.expand_dims(s.arr, ax), s.dtype))


def _export_squeeze(opname):
    def f(ex, n, x, *, axes):  # the axes are an input in ONNX (from opset 13)
        ex.make(opname, [x] + ([] if axes is None else [ex.ints(axes)]), ex.out)
    return export_op(opname, onnx=opname)(f)


_export_squeeze("Squeeze")
_export_squeeze("Unsqueeze")


@onnx_op
def Expand(ctx, X, shape):
    x = ctx.v(X)
    target = tuple(int(d) for d in ctx.static(shape, "shape").reshape(-1))
    out = broadcast_shapes(x.type.shape, target, "Expand operands")
    if not all(isinstance(d, int) for d in out):
        ctx.unsupported(f"Expand to a symbolic shape {list(out)}")
    ctx.check_size(out, x.dtype.numpy, "the target")
    return ctx.op("ExpandLike", x, ctx.constant(np.zeros(out, x.dtype.numpy)))


@export_op("ExpandLike")  # broadcast x to the shape of a second tensor: Expand(x, Shape(like))
def _expand_like(ex, n, x, like):
    ex.make("Expand", [x, ex.make("Shape", [like])], ex.out)


@onnx_op
def Tile(ctx, input, repeats):
    x = ctx.v(input)
    reps = static_ints(ctx, repeats, "repeats")
    if len(reps) != x.type.rank or any(r < 0 for r in reps):
        ctx.fail(f"repeats {reps} must be one count ≥ 0 per axis of {x.type}")
    for d, r in zip(x.type.shape, reps):
        if isinstance(d, str) and r != 1:
            ctx.unsupported(f"Tile of the symbolic axis {d} of {x.type} ({r} times)")
    ctx.check_size([d * r for d, r in zip(x.type.shape, reps) if isinstance(d, int)], x.dtype.numpy, "the result")
    return ctx.op("Tile", x, repeats=tuple(reps))


@export_op("Tile", onnx="Tile")  # the repeats are an input in ONNX
def _tile(ex, n, x, *, repeats):
    ex.make("Tile", [x, ex.ints(repeats, "repeats")], ex.out)


@onnx_op
def OneHot(ctx, indices, depth, values, *, axis=-1):
    d = ctx.static(depth, "depth").reshape(-1)
    if d.size != 1:
        ctx.fail(f"depth must hold one number, got shape {list(d.shape)}")
    depth_n = int(d[0])
    vals = ctx.static(values, "values").reshape(-1)
    if vals.size != 2:
        ctx.fail(f"values must be [off, on], got {vals.size} numbers")
    dt = DType.of(vals.dtype)
    i = ctx.v(indices)
    if i.dtype != DType.i64:
        i = ctx.op("Cast", i, to=DType.i64)
    # negative indices count from the end, as in ONNX
    zero = ctx.constant(np.zeros((), np.int64))
    i = ctx.op("Where", ctx.op("Greater", zero, i), ctx.op("Add", i, ctx.constant(np.int64(depth_n))), i)
    y = ctx.op("OneHot", i, depth=depth_n, dtype=dt)
    if not (vals[0] == 0 and vals[1] == 1):
        y = ctx.op("Add", ctx.op("Mul", y, ctx.constant(np.asarray(vals[1] - vals[0], vals.dtype))),
                   ctx.constant(np.asarray(vals[0], vals.dtype)))
    r = y.type.rank
    a = normalize_axis(axis, r, "OneHot axis")
    if a != r - 1:
        perm = list(range(r - 1))
        perm.insert(a, r - 1)
        y = ctx.op("Transpose", y, perm=tuple(perm))
    return y


# ONNX OneHot wraps negative indices, ours rejects them: tagged, so that import keeps ours
@export_op("OneHot", onnx="OneHot", composite=True)
def _one_hot(ex, n, i, *, depth, dtype):
    dt = DType.of(dtype).numpy
    ex.make("OneHot", [i, ex.const(np.asarray(depth, np.int64), "depth"), ex.const(np.asarray([0, 1], dt), "values")],
            ex.out, axis=-1)


@onnx_op
def Constant(ctx, *, value=None, value_float=None, value_floats=None, value_int=None, value_ints=None,
             sparse_value=None, value_string=None, value_strings=None):
    given = {k: v for k, v in dict(value=value, value_float=value_float, value_floats=value_floats,
                                   value_int=value_int, value_ints=value_ints, sparse_value=sparse_value,
                                   value_string=value_string, value_strings=value_strings).items()
             if v is not None}
    if len(given) != 1:
        ctx.fail(f"a Constant needs exactly one value attribute, got {', '.join(given) or 'none'}")
    (k, v), = given.items()
    if k in ("sparse_value", "value_string", "value_strings"):
        ctx.unsupported(f"a Constant given by {k}")
    if k == "value":
        arr = v
    else:
        arr = np.asarray(v, dtype=np.float32 if "float" in k else np.int64)
    return ctx.constant(arr)


@export_op("Constant", onnx="Constant")
def _constant(ex, n, *, value):
    ex.make("Constant", [], ex.out, value=ex.tensor(value, ex.out))


@onnx_op
def Shape(ctx, data, *, start=0, end=None):
    x = ctx.v(data)
    dims = x.type.shape[slice(int(start), None if end is None else int(end))]
    return sym_result(ctx, Sym(list(dims)))


@onnx_op
def Size(ctx, data):
    """The number of elements, a constant: of a shape value, its length; of a tensor, the product
    of its static dimensions."""
    s = sym_of(ctx, data)
    if s is not None:
        return ctx.constant(np.asarray(s.arr.size, np.int64))
    x = ctx.v(data)
    if not x.type.is_static:
        ctx.unsupported(f"Size of {x.type}, whose shape is symbolic")
    return ctx.constant(np.asarray(math.prod(x.type.shape), np.int64))


@onnx_op
def Slice(ctx, data, starts_in=None, ends_in=None, axes_in=None, steps_in=None, *, starts=None, ends=None,
          axes=None):
    """A slice of a shape value stays a shape value; a slice of a tensor becomes a ``Gather`` of
    constant indices per sliced axis (so it has a gradient); those axes must have static sizes."""
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
        return sym_result(ctx, Sym(s.arr[tuple(key)], s.dtype))
    x = ctx.v(data)
    for a, b, e, p in zip(ax, st, en, sp):
        n = x.type.shape[a]
        if not isinstance(n, int):
            if (b, p) == (0, 1) and e >= 2 ** 31 - 1:
                continue  # the whole symbolic axis
            ctx.unsupported(f"Slice along the symbolic dimension {n} of {x.type}")
        idx = range(n)[b:e:p]  # Python's slice clamps as ONNX does; a range allocates nothing
        if len(idx) == n and p == 1:
            continue
        ctx.check_size((len(idx),), np.int64, "the indices of the slice")
        x = ctx.op("Gather", x, ctx.constant(np.arange(idx.start, idx.stop, idx.step, dtype=np.int64)), axis=a)
    return x
