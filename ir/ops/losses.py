"""Loss functions: cross-entropy, squared error, binary cross-entropy, and the
fused softmax-cross-entropy.

Each loss takes a prediction and a target of the same shape (one-hot targets
for the cross-entropies). The per-example loss sums over every axis but the
first (the batch axis); ``reduction`` then gives the batch ``mean`` (the
lecture's cost 𝒥 = (1/N) Σ ℒ⁽ⁱ⁾), the ``sum``, or ``none`` (one loss per
example). Targets get no gradient.
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import TensorType
from . import register
from .base import HOLE, Op, Term, need_float, same_dtype
from .numerics import log_softmax

REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_elem, reduction):
    per_example = per_elem.sum(axis=tuple(range(1, per_elem.ndim))) if per_elem.ndim > 1 else per_elem
    if reduction == "none":
        return per_example
    out = per_example.sum() if reduction == "sum" or per_elem.ndim == 0 else per_example.mean()
    return np.asarray(out, dtype=per_elem.dtype)


class Loss(Op):
    arity = (2, 2)
    attrs = {"reduction": "mean"}
    nondiff_inputs = (1,)
    min_rank = 0  # the cross-entropies need [N, K]: a batch axis and a class axis

    def infer(self, ins, attrs):
        y, t = ins
        need_float(self, y)
        same_dtype(self, ins)
        if y.rank < self.min_rank:
            raise IRTypeError(f"{self.name} needs predictions of shape [N,K] (examples × classes), got {y}")
        if y.shape != t.shape:
            raise IRTypeError(f"{self.name} needs prediction and target of one shape, got {y} and {t}")
        if attrs["reduction"] not in REDUCTIONS:
            raise IRTypeError(f"{self.name} reduction must be one of {REDUCTIONS}, got {attrs['reduction']!r}")
        shape = y.shape[:1] if attrs["reduction"] == "none" else ()
        return [TensorType(shape, y.dtype)]

    def elementwise_loss(self, y, t):
        raise NotImplementedError

    expr = ""  # one element's loss as Python text of the elements {y} and {t} (the loop form)

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        if not self.expr:
            return False
        (y, t), yt = args, in_types[0]

        def example(ex):  # the loss of one example (or of the one element of a rank-0 loss)
            with lb.over(range(1, yt.rank)):
                lb.line(f"{ex} += {self.expr.format(y=lb.at(y, yt), t=lb.at(t, yt))}")
        loss_loops(lb, outs[0], yt, attrs["reduction"], example)
        return True

    def kernel(self, attrs):
        red = attrs["reduction"]
        return lambda y, t: _reduce(self.elementwise_loss(y, t), red)

    def local_grad(self, e, node):
        """∂ℒ/∂y per element, as IR."""
        raise NotImplementedError

    lecture_grad = ""  # ∂L/∂y (per element) as the lecture writes it; {y}, {t} name prediction and target

    def lecture(self, node, i, n):
        if i != 0 or not self.lecture_grad:
            return super().lecture(node, i, n)
        y, t = node.inputs
        mean = node.attrs.get("reduction") == "mean" and y.type.rank > 0
        return Term(1.0, f"{HOLE} {self.lecture_grad.format(y=n.sym(y), t=n.sym(t))}" + (" / N" if mean else ""))

    def vjp(self, e, node, gys):
        y = node.inputs[0]
        g = gys[0]
        red = node.attrs["reduction"]
        if red == "none" and y.type.rank > 1:
            g = e.Unsqueeze(g, axes=tuple(range(1, y.type.rank)))
        elif red == "mean" and y.type.rank > 0:
            g = e.Div(g, e.Count(y, axes=(0,)))
        return [e.Mul(self.local_grad(e, node), g), None]

    def flops(self, ins, outs, attrs, bindings=None):
        return 3 * (ins[0].numel(bindings) or 0)


def loss_loops(lb, out: str, yt: TensorType, reduction: str, example) -> None:
    """The loop form of ``_reduce``: ``example(ex)`` writes the lines adding one example's loss to the
    local ``ex`` (inside the loop over examples, axis 0); then one result per example, or their
    sum or mean."""
    total = lb.local("total")
    with lb.space(yt.shape):
        if reduction != "none" or yt.rank == 0:
            lb.line(f"{total} = 0.0")
        with lb.over((0,) if yt.rank else ()):
            ex = lb.local("ex")
            lb.line(f"{ex} = 0.0")
            example(ex)
            if reduction == "none" and yt.rank:
                lb.line(f"{lb.at_axes(out, (0,))} = {ex}")
            else:
                lb.line(f"{total} += {ex}")
    if reduction != "none" or yt.rank == 0:
        mean = reduction == "mean" and yt.rank > 0
        lb.line(f"{out}[()] = {total}" + (f" / {lb.dim(yt.shape[0])}" if mean else ""))


@register
class CrossEntropy(Loss):
    """ℒ = −Σₖ tₖ log yₖ  (y: probabilities, t: one-hot targets)"""
    expr = "-({t} * np.log({y} if {t} != 0 else 1.0))"
    min_rank = 2
    rule = "ȳ = −L̄ t / y (÷ N for the mean)"
    lecture_grad = "(−{t} / {y})"

    def elementwise_loss(self, y, t):
        return -(t * np.log(np.where(t != 0, y, 1)))

    def local_grad(self, e, node):
        y, t = node.inputs
        return e.Neg(e.Div(t, y))


@register
class SquaredError(Loss):
    """ℒ = ½‖y − t‖²"""
    expr = "({y} - {t}) * ({y} - {t}) * 0.5"
    rule = "ȳ = L̄(y − t) (÷ N for the mean)"
    lecture_grad = "({y} − {t})"

    def elementwise_loss(self, y, t):
        d = y - t
        return d * d * y.dtype.type(0.5)

    def local_grad(self, e, node):
        y, t = node.inputs
        return e.Sub(y, t)


@register
class BinaryCrossEntropy(Loss):
    """ℒ = −t log y − (1 − t) log(1 − y)  (y: a probability from the logistic)"""
    expr = "-({t} * np.log({y}) + (1.0 - {t}) * np.log1p(-{y}))"
    rule = "ȳ = L̄(y − t) / (y(1 − y)) (÷ N for the mean)"
    lecture_grad = "({y} − {t}) / ({y}(1 − {y}))"

    def elementwise_loss(self, y, t):
        one = y.dtype.type(1)
        return -(t * np.log(y) + (one - t) * np.log1p(-y))

    def local_grad(self, e, node):
        y, t = node.inputs
        one = e.scalar_like(1, y)
        return e.Div(e.Sub(y, t), e.Mul(y, e.Sub(one, y)))


@register
class SoftmaxCrossEntropy(Loss):
    """ℒ = −Σₖ tₖ log softmax(z)ₖ, computed from the logits z by log-sum-exp.

    Its gradient is z̄ = softmax(z)·Σₖtₖ − t. When the targets come from a ``OneHot`` node
    each row sums to 1 and the rule emits the lecture's closed form z̄ = softmax(z) − t;
    for targets it cannot see (a graph input, soft labels) it emits the exact form.

    With ``probs=1`` the node has a second result, the probabilities softmax(z) along the last
    axis, bit for bit what ``Softmax(z)`` gives: the pass ``share-loss-softmax`` lets the
    gradient's ``Softmax(z)`` read them instead of computing them again::

        %loss: f32[], %probs: f32[N,10] = SoftmaxCrossEntropy(%z, %t) {probs=1}
    """
    attrs = {"reduction": "mean", "probs": 0}
    min_rank = 2
    rule = "z̄ = L̄(softmax(z) − t) (÷ N for the mean; softmax(z)·Σₖtₖ − t unless t is one-hot)"
    lecture_grad = "(softmax({y}) − {t})"

    def output_count(self, attrs):
        return 2 if attrs["probs"] else 1

    def infer(self, ins, attrs):
        if attrs["probs"] not in (0, 1):
            raise IRTypeError(f"SoftmaxCrossEntropy probs must be 0 or 1, got {attrs['probs']!r}")
        return super().infer(ins, attrs) + ([ins[0]] if attrs["probs"] else [])

    def elementwise_loss(self, z, t):
        return -(t * log_softmax(z, axis=-1))

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        """Per example, per row of the last axis: the maximum m, s = Σ e^(z − m), lse = log s; the
        loss adds −t(z − m − lse) and the probabilities are e^(z − m) / s."""
        (z, t), zt = args, in_types[0]
        if not zt.dtype.is_float:
            return False
        k = zt.rank - 1
        probs = outs[1] if attrs["probs"] else None

        def example(ex):
            row = {k: lb.index_of(k)}  # the row's elements as they are read inside its loops
            with lb.over(range(1, k)):
                m, total, lse = lb.local("m"), lb.local("s"), lb.local("lse")
                zk, tk = lb.at(z, zt, fix=row), lb.at(t, zt, fix=row)
                lb.line(f"{m} = -np.inf")
                with lb.over((k,)):
                    lb.line(f"{m} = np.maximum({m}, {zk})")
                lb.line(f"{total} = 0.0")
                with lb.over((k,)):
                    if probs:
                        pk = lb.at(probs, zt, fix=row)
                        lb.line(f"{pk} = np.exp({zk} - {m})")
                        lb.line(f"{total} += {pk}")
                    else:
                        lb.line(f"{total} += np.exp({zk} - {m})")
                lb.line(f"{lse} = np.log({total})")
                with lb.over((k,)):
                    lb.line(f"{ex} += -({tk} * (({zk} - {m}) - {lse}))")
                    if probs:
                        lb.line(f"{pk} = {pk} / {total}")
        loss_loops(lb, outs[0], zt, attrs["reduction"], example)
        return True

    def kernel(self, attrs):
        if not attrs["probs"]:
            return super().kernel(attrs)
        red = attrs["reduction"]

        def loss_and_probs(z, t):  # the operations of numerics.log_softmax and numerics.softmax
            shifted = z - np.max(z, axis=-1, keepdims=True)
            e = np.exp(shifted)
            total = np.sum(e, axis=-1, keepdims=True)
            loss = _reduce(-(t * (shifted - np.log(total))), red)
            e /= total
            return loss, e
        return loss_and_probs

    def emit_fresh(self, code, attrs, outs, args, in_types):
        """The kernel's operations on scratch buffers (log-softmax, the per-example sum, then
        mean/sum), each result assigned a new array."""
        zt = in_types[0]
        if not zt.dtype.is_float:
            return None
        (z, t), rank, dt = args, zt.rank, zt.dtype.numpy
        s, ls = code.const(np.empty(zt.shape, dt), "s"), code.const(np.empty(zt.shape[:-1] + (1,), dt), "s")
        empty = code.const(np.empty, "empty")
        lines = []
        if attrs["probs"]:
            prob = outs[1]
            lines.append(f"{prob} = {empty}({code.const(zt.shape, 's')}, {code.const(dt, 'd')})")
        else:
            prob = code.const(np.empty(zt.shape, dt), "p")
        mx, sm = code.const(np.maximum.reduce, "maxr"), code.const(np.add.reduce, "sumr")
        sub, mul, div = code.const(np.subtract, "sub_"), code.const(np.multiply, "mul_"), code.const(np.divide, "divide")
        lines += [f"{sub}({z}, {mx}({z}, -1, None, None, True), {s})", f"{code.const(np.exp, 'exp_')}({s}, {prob})",
                  f"{sm}({prob}, -1, None, {ls}, True)"]
        if attrs["probs"]:  # softmax(z) as the Softmax out-kernel computes it
            lines.append(f"{div}({prob}, {ls}, {prob})")
        lines += [f"{code.const(np.log, 'log_')}({ls}, {ls})", f"{sub}({s}, {ls}, {s})", f"{mul}({t}, {s}, {s})"]
        red, loss = attrs["reduction"], outs[0]
        shape = () if red != "none" else zt.shape[:1]
        lines.append(f"{loss} = {empty}({code.const(shape, 's')}, {code.const(dt, 'd')})")
        rows = f"{sm}({s}, {tuple(range(1, rank))!r})"
        if red == "none":
            return lines + [f"{code.const(np.negative, 'neg_')}({rows}, {loss})"]
        n = zt.shape[0] if red == "mean" else 1
        return lines + [f"{div}({sm}({rows}, None), {code.const(dt.type(-n), 'c')}, {loss})"]

    def local_grad(self, e, node):
        z, t = node.inputs
        y = node.outputs[1] if len(node.outputs) > 1 else e.Softmax(z, axis=-1)
        if t.producer is None or t.producer.op.name != "OneHot":
            y = e.Mul(y, e.ReduceSum(t, axes=(-1,), keepdims=1))
        return e.Sub(y, t)

    def vjp(self, e, node, gys):
        gz = super().vjp(e, node, gys)[0] if gys[0] is not None else None
        if len(gys) > 1 and gys[1] is not None:  # the probabilities: Softmax's rule
            y, g = node.outputs[1], gys[1]
            gp = e.Mul(y, e.Sub(g, e.ReduceSum(e.Mul(g, y), axes=(-1,), keepdims=1)))
            gz = gp if gz is None else e.Add(gz, gp)
        return [gz, None]
