"""One function per ONNX op: ONNX node -> chainrule IR (used by ``onnx_import``).

Each function takes the import context and the node's input names (``None``
for an omitted optional input); its keyword-only parameters are the op's
attributes with the ONNX spec defaults. Behaviour that changed between opsets
(axes as attribute or input, Softmax's 2-D coercion before opset 13) is chosen
with ``ctx.opset``. Functions return the IR values of the node's outputs.
"""
from __future__ import annotations

import numpy as np

from ...ir import DType
from ...ir.ops.shape import like_shape
from ...ir.types import broadcast_shapes, normalize_axis

ONNX_OPS = {}


def onnx_op(fn):
    ONNX_OPS[fn.__name__] = fn
    return fn


def _binary(opname):
    def f(ctx, A, B):
        a, b = ctx.v(A), ctx.v(B)
        if opname == "Pow" and a.dtype != b.dtype:  # ONNX Pow lets the exponent have its own type
            b = ctx.op("Cast", b, to=a.dtype)
        return ctx.op(opname, a, b)
    f.__name__ = opname
    return onnx_op(f)


def _unary(opname):
    def f(ctx, X):
        return ctx.op(opname, ctx.v(X))
    f.__name__ = opname
    return onnx_op(f)


for _n in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater"):
    _binary(_n)
for _n in ("Neg", "Exp", "Log", "Sqrt", "Sin", "Cos", "Relu", "Sigmoid", "Tanh", "Softplus"):
    _unary(_n)


@onnx_op
def Sum(ctx, *xs):
    return ctx.op("Sum", *[ctx.v(x) for x in xs])


@onnx_op
def Where(ctx, C, X, Y):
    return ctx.op("Where", ctx.v(C), ctx.v(X), ctx.v(Y))


@onnx_op
def LeakyRelu(ctx, X, *, alpha=0.01):
    return ctx.op("LeakyRelu", ctx.v(X), alpha=float(alpha))


def _softmax(opname):
    def f(ctx, X, *, axis=None):
        x = ctx.v(X)
        if axis is None:
            axis = -1 if ctx.opset >= 13 else 1
        a = normalize_axis(axis, x.type.rank, f"{opname} axis")
        if ctx.opset >= 13 or a == x.type.rank - 1:
            return ctx.op(opname, x, axis=axis)
        # before opset 13 the input is coerced to 2-D at ``axis`` and normalised over each row
        flat = ctx.op("Flatten", x, axis=a)
        return ctx.op("Reshape", ctx.op(opname, flat, axis=1), shape=like_shape(x.type))
    f.__name__ = opname
    return onnx_op(f)


_softmax("Softmax")
_softmax("LogSoftmax")


@onnx_op
def MatMul(ctx, A, B):
    return ctx.op("MatMul", ctx.v(A), ctx.v(B))


@onnx_op
def Gemm(ctx, A, B, C=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    ins = [ctx.v(A), ctx.v(B)] + ([ctx.v(C)] if C else [])
    return ctx.op("Gemm", *ins, alpha=float(alpha), beta=float(beta), transA=int(transA), transB=int(transB))


@onnx_op
def Transpose(ctx, X, *, perm=None):
    return ctx.op("Transpose", ctx.v(X), perm=None if perm is None else tuple(perm))


@onnx_op
def Flatten(ctx, X, *, axis=1):
    return ctx.op("Flatten", ctx.v(X), axis=int(axis))


def _axes(ctx, attr, inp, since):
    """Axes given as an attribute (before opset ``since``) or as an input (from it on)."""
    if attr is not None and ctx.opset >= since:
        ctx.fail(f"attribute 'axes' is an input from opset {since} on (this model uses opset {ctx.opset})")
    if inp is not None:
        return tuple(int(a) for a in ctx.static(inp, "axes").reshape(-1))
    return None if attr is None else tuple(int(a) for a in attr)


def _reduce(opname, since):
    def f(ctx, X, axes_in=None, *, axes=None, keepdims=1, noop_with_empty_axes=0):
        x = ctx.v(X)
        ax = _axes(ctx, axes, axes_in, since)
        if ax is not None and len(ax) == 0:
            if noop_with_empty_axes:
                return ctx.op("Identity", x)
            ax = None
        if ax is None and noop_with_empty_axes and axes_in is None and ctx.opset >= since:
            return ctx.op("Identity", x)
        return ctx.op(opname, x, axes=ax, keepdims=int(keepdims))
    f.__name__ = opname
    return onnx_op(f)


_reduce("ReduceSum", 13)
_reduce("ReduceMean", 18)
_reduce("ReduceMax", 18)


@onnx_op
def ArgMax(ctx, X, *, axis=0, keepdims=1, select_last_index=0):
    if select_last_index:
        ctx.unsupported("select_last_index=1")
    return ctx.op("ArgMax", ctx.v(X), axis=int(axis), keepdims=int(keepdims))


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


@onnx_op
def Dropout(ctx, data, ratio_in=None, training_mode=None, *, seed=None, is_test=None, consumed_inputs=None,
            ratio=None):
    if training_mode is not None and bool(ctx.static(training_mode, "training_mode").reshape(-1)[0]):
        p = 0.5 if ratio_in is None else float(ctx.static(ratio_in, "ratio").reshape(-1)[0])
        if p != 0:  # dropout with ratio 0 keeps everything, even when training
            ctx.unsupported("training_mode=true (random dropout): chainrule imports models for inference")
    x = ctx.v(data)
    y = ctx.op("Identity", x)
    if ctx.n_outputs < 2:
        return y
    if not x.type.is_static:
        ctx.unsupported("the mask output of Dropout with a symbolic shape")
    return y, ctx.constant(np.ones(x.type.shape, bool))


@onnx_op
def Expand(ctx, X, shape):
    x = ctx.v(X)
    target = tuple(int(d) for d in ctx.static(shape, "shape").reshape(-1))
    out = broadcast_shapes(x.type.shape, target, "Expand operands")
    if not all(isinstance(d, int) for d in out):
        ctx.unsupported(f"Expand to a symbolic shape {list(out)}")
    return ctx.op("ExpandLike", x, ctx.constant(np.zeros(out, x.dtype.numpy)))


def _nll(ctx, logp, labels, weights, reduction, ignore_index):
    """−Σ logp[n, t[n], …] (weighted), as OneHot + Mul + ReduceSum; classes on axis 1."""
    r = logp.type.rank
    c = logp.type.shape[1]
    if not isinstance(c, int):
        ctx.unsupported("a symbolic number of classes")
    t = labels if labels.dtype == DType.i64 else ctx.op("Cast", labels, to=DType.i64)
    valid = None
    if ignore_index is not None:
        ii = ctx.constant(np.int64(ignore_index))
        ignored = ctx.op("Equal", t, ii)
        t = ctx.op("Where", ignored, ctx.constant(np.int64(0)), t)
        valid = ctx.op("Where", ignored, ctx.constant(np.zeros((), logp.dtype.numpy)),
                       ctx.constant(np.ones((), logp.dtype.numpy)))
    oh = ctx.op("OneHot", t, depth=c, dtype=logp.dtype)  # [N, d1.., C]
    if r > 2:
        oh = ctx.op("Transpose", oh, perm=(0, r - 1) + tuple(range(1, r - 1)))
    picked = ctx.op("ReduceSum", ctx.op("Mul", oh, logp), axes=(1,), keepdims=0)  # [N, d1..]
    w = None
    if weights is not None:
        w = ctx.op("Gather", ctx.v(weights), t, axis=0)
    if valid is not None:
        w = valid if w is None else ctx.op("Mul", w, valid)
    loss = ctx.op("Neg", picked if w is None else ctx.op("Mul", picked, w))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return ctx.op("ReduceSum", loss, axes=None, keepdims=0)
    if reduction != "mean":
        ctx.fail(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    if w is None:
        return ctx.op("ReduceMean", loss, axes=None, keepdims=0)
    return ctx.op("Div", ctx.op("ReduceSum", loss, axes=None, keepdims=0), ctx.op("ReduceSum", w, axes=None, keepdims=0))


@onnx_op
def NegativeLogLikelihoodLoss(ctx, input, target, weight=None, *, reduction="mean", ignore_index=None):
    return _nll(ctx, ctx.v(input), ctx.v(target), weight, reduction, ignore_index)


@onnx_op
def SoftmaxCrossEntropyLoss(ctx, scores, labels, weights=None, *, reduction="mean", ignore_index=None):
    z, t = ctx.v(scores), ctx.v(labels)
    if (z.type.rank == 2 and weights is None and ignore_index is None and ctx.n_outputs == 1
            and isinstance(z.type.shape[1], int)):
        # the common case maps onto chainrule's fused op, whose gradient is softmax(z) − t
        if t.dtype != DType.i64:
            t = ctx.op("Cast", t, to=DType.i64)
        if reduction not in ("none", "sum", "mean"):
            ctx.fail(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
        oh = ctx.op("OneHot", t, depth=z.type.shape[1], dtype=z.dtype)
        return ctx.op("SoftmaxCrossEntropy", z, oh, reduction=reduction)
    logp = ctx.op("LogSoftmax", z, axis=1)
    loss = _nll(ctx, logp, t, weights, reduction, ignore_index)
    return (loss, logp) if ctx.n_outputs > 1 else loss


from . import shapes as onnx_shapes  # noqa: E402,F401  (registers Shape, Reshape, Slice, Gather, Concat, ...)


def supported_ops():
    """Sorted names of the ONNX ops the importer maps."""
    return sorted(ONNX_OPS)
