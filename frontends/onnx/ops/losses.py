"""ONNX mappings of ``ir/ops/losses.py``. ONNX's two loss ops import as IR sub-graphs (the
common SoftmaxCrossEntropyLoss as the fused ``SoftmaxCrossEntropy``); the IR losses export
as sub-graphs, and the fused softmax cross-entropy on labels as ``SoftmaxCrossEntropyLoss``."""
from __future__ import annotations

import numpy as np

from ....ir import DType
from ....ir.ops.shape import OneHot
from .table import export_op, onnx_op


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


# -- export: each loss is its per-example formula, summed over the non-batch axes, then reduced
def _reduced(ex, n, per, reduction):
    """``per`` (the elementwise loss) summed over all axes but the first, then reduced as asked."""
    rank = n.inputs[0].type.rank
    if rank > 1:
        per = ex.make("ReduceSum", [per, ex.ints(range(1, rank))], keepdims=0)
    if reduction == "none" or rank == 0:
        return ex.make("Identity", [per], ex.out)
    return ex.make("ReduceSum" if reduction == "sum" else "ReduceMean", [per], ex.out, keepdims=0)


def _scalar(ex, n, value, hint):
    return ex.const(np.asarray(value, n.inputs[0].type.dtype.numpy), hint)


@export_op("CrossEntropy")  # −t·log y, with 0·log 0 = 0
def _cross_entropy(ex, n, y, t, *, reduction):
    safe = ex.make("Where", [ex.make("Equal", [t, _scalar(ex, n, 0, "zero")]), _scalar(ex, n, 1, "one"), y])
    _reduced(ex, n, ex.make("Neg", [ex.make("Mul", [t, ex.make("Log", [safe])])]), reduction)


@export_op("SquaredError")  # ½(y − t)²
def _squared_error(ex, n, y, t, *, reduction):
    d = ex.make("Sub", [y, t])
    _reduced(ex, n, ex.make("Mul", [ex.make("Mul", [d, d]), _scalar(ex, n, 0.5, "half")]), reduction)


@export_op("BinaryCrossEntropy")  # −(t·log y + (1 − t)·log(1 − y))
def _binary_cross_entropy(ex, n, y, t, *, reduction):
    one = _scalar(ex, n, 1, "one")
    pos = ex.make("Mul", [t, ex.make("Log", [y])])
    neg = ex.make("Mul", [ex.make("Sub", [one, t]), ex.make("Log", [ex.make("Sub", [one, y])])])
    _reduced(ex, n, ex.make("Neg", [ex.make("Add", [pos, neg])]), reduction)


@export_op("SoftmaxCrossEntropy", onnx="SoftmaxCrossEntropyLoss", composite=True)
def _softmax_cross_entropy(ex, n, z, t, *, reduction, probs):
    """On labels (the target is a OneHot, or ``onehot_targets`` says it is one-hot) ONNX's
    SoftmaxCrossEntropyLoss; else −t·LogSoftmax(z). With ``probs=1`` the second result,
    softmax(z), is a ``Softmax`` node."""
    if probs:
        ex.make("Softmax", [z], n.outputs[1].name, axis=-1)
    if n.inputs[0].type.rank == 2:
        src = n.inputs[1].producer
        labels = None
        if src is not None and isinstance(src.op, OneHot):
            labels = src.inputs[0].name
            if src.inputs[0].type.dtype != DType.i64:
                labels = ex.make("Cast", [labels], to=ex.dtype(DType.i64))
        elif ex.onehot_targets:
            labels = ex.make("ArgMax", [t], axis=1, keepdims=0)
        if labels is not None:
            ex.make("SoftmaxCrossEntropyLoss", [z, labels], ex.out, reduction=reduction)
            return
    _reduced(ex, n, ex.make("Neg", [ex.make("Mul", [t, ex.make("LogSoftmax", [z], axis=-1)])]), reduction)
