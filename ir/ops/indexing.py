"""Indexing ops that ONNX models use: ``Gather`` (take along an axis), its gradient
``ScatterAddLike``, ``Concat``, and its inverse ``Split``.

``Gather``'s gradient adds each row of ȳ into a zero tensor of x's shape at the row
its index picked (rows picked twice get both contributions), which is
``ScatterAddLike(ȳ, indices, x)``; ``ScatterAddLike``'s own gradient is ``Gather``.
``Concat``'s gradient slices ȳ back into one piece per operand with ``Gather``
and constant index ranges; ``Split``'s gradient is the ``Concat`` of its pieces' cotangents.
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import TensorType, axis_list, normalize_axis
from . import register
from .base import REQUIRED, Op, same_dtype


@register
class Gather(Op):
    """y = x indexed along ``axis`` by the integer tensor ``indices`` (negative counts from the end)"""
    arity = (2, 2)
    attrs = {"axis": 0}
    nondiff_inputs = (1,)
    rule = "x̄ = ȳ's rows added into zeros of x's shape at the rows the indices picked (ScatterAddLike)"

    def infer(self, ins, attrs):
        x, idx = ins
        if idx.dtype.is_float or idx.dtype.value == "bool":
            raise IRTypeError(f"Gather needs integer indices, got {idx}")
        if x.rank == 0:
            raise IRTypeError(f"Gather needs data of rank ≥ 1, got {x}")
        a = normalize_axis(attrs["axis"], x.rank, "Gather axis")
        return [TensorType(x.shape[:a] + idx.shape + x.shape[a + 1:], x.dtype)]

    def kernel(self, attrs):
        axis = attrs["axis"]

        def gather(x, idx):
            n = x.shape[axis]
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise ValueError(f"Gather index out of range -{n}..{n - 1} along axis {axis}")
            return np.take(x, idx.astype(np.int64), axis=axis)
        return gather

    def vjp(self, e, node, gys):
        x, idx = node.inputs
        return [e.ScatterAddLike(gys[0], idx, x, axis=node.attrs["axis"]), None]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class ScatterAddLike(Op):
    """y = zeros of ``like``'s shape with g's slices added at ``indices`` along ``axis``
    (the gradient of Gather; only like's shape is read)"""
    arity = (3, 3)
    attrs = {"axis": 0}
    nondiff_inputs = (1, 2)
    rule = "ḡ = Gather(ȳ, indices, axis)"

    def infer(self, ins, attrs):
        g, idx, like = ins
        if idx.dtype.is_float or idx.dtype.value == "bool":
            raise IRTypeError(f"ScatterAddLike needs integer indices, got {idx}")
        if like.rank == 0:
            raise IRTypeError(f"ScatterAddLike needs a target of rank ≥ 1, got {like}")
        a = normalize_axis(attrs["axis"], like.rank, "ScatterAddLike axis")
        want = like.shape[:a] + idx.shape + like.shape[a + 1:]
        if g.shape != want:
            raise IRTypeError(f"ScatterAddLike updates {g} do not match Gather's output shape {list(want)} "
                              f"for indices {idx} into {like} along axis {a}")
        return [TensorType(like.shape, g.dtype)]

    def kernel(self, attrs):
        axis = attrs["axis"]

        def scatter_add(g, idx, like):
            a = axis % like.ndim
            n = like.shape[a]
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise ValueError(f"ScatterAddLike index out of range -{n}..{n - 1} along axis {a}")
            out = np.zeros(like.shape, g.dtype)
            k = idx.ndim
            # put the indexed axis first in out and the index axes first in g, then add row by row
            np.add.at(np.moveaxis(out, a, 0), idx.astype(np.int64),
                      np.moveaxis(g, list(range(a, a + k)), list(range(k))))
            return out
        return scatter_add

    def vjp(self, e, node, gys):
        _, idx, like = node.inputs
        return [e.Gather(gys[0], idx, axis=node.attrs["axis"]), None, None]

    def flops(self, ins, outs, attrs, bindings=None):
        return ins[0].numel(bindings) or 0


@register
class Concat(Op):
    """y = the operands joined along ``axis`` (all other dimensions equal)"""
    arity = (1, None)
    attrs = {"axis": 0}
    rule = "x̄ᵢ = the slice of ȳ along axis that xᵢ filled"

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        r = ins[0].rank
        if r == 0 or any(t.rank != r for t in ins):
            raise IRTypeError(f"Concat needs operands of one rank ≥ 1, got {', '.join(map(str, ins))}")
        a = normalize_axis(attrs["axis"], r, "Concat axis")
        for t in ins[1:]:
            for i, (d, e) in enumerate(zip(ins[0].shape, t.shape)):
                if i != a and d != e:
                    raise IRTypeError(f"Concat operands differ in dimension {i}: {ins[0]} vs {t}")
        sizes = [t.shape[a] for t in ins]
        if len(ins) > 1 and any(isinstance(d, str) for d in sizes):
            raise IRTypeError(f"Concat along a symbolic dimension is not supported: {', '.join(map(str, ins))}")
        total = sizes[0] if len(ins) == 1 else sum(sizes)
        return [ins[0].with_shape(ins[0].shape[:a] + (total,) + ins[0].shape[a + 1:])]

    def kernel(self, attrs):
        axis = attrs["axis"]
        return lambda *xs: np.concatenate(xs, axis=axis)

    def vjp(self, e, node, gys):
        a = normalize_axis(node.attrs["axis"], node.inputs[0].type.rank)
        out, start = [], 0
        for x in node.inputs:
            n = x.type.shape[a]
            if len(node.inputs) == 1:
                out.append(gys[0])
                continue
            idx = e.const(np.arange(start, start + n), "i64")
            out.append(e.Gather(gys[0], idx, axis=a))
            start += n
        return out

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class Split(Op):
    """y₀, y₁, … = x cut along ``axis`` into consecutive pieces of the sizes in ``split``"""
    attrs = {"axis": 0, "split": REQUIRED}
    rule = "x̄ = Concat(ȳ₀, ȳ₁, …) along axis (zeros for a piece without a cotangent)"

    def output_count(self, attrs):
        return len(attrs["split"])

    def infer(self, ins, attrs):
        x = ins[0]
        sizes = axis_list(attrs["split"], "Split sizes")
        if not sizes or any(s < 0 for s in sizes):
            raise IRTypeError(f"Split sizes must be one or more ints ≥ 0, got {attrs['split']}")
        if x.rank == 0:
            raise IRTypeError(f"Split needs an operand of rank ≥ 1, got {x}")
        a = normalize_axis(attrs["axis"], x.rank, "Split axis")
        if x.shape[a] != sum(sizes):
            raise IRTypeError(f"Split sizes {tuple(sizes)} add up to {sum(sizes)}, but axis {a} of {x} has "
                              f"{x.shape[a]} elements")
        return [x.with_shape(x.shape[:a] + (s,) + x.shape[a + 1:]) for s in sizes]

    def kernel(self, attrs):
        axis, sizes = attrs["axis"], tuple(attrs["split"])
        ends = np.cumsum(sizes)[:-1]

        def split(x):
            pieces = tuple(np.ascontiguousarray(p) for p in np.split(x, ends, axis=axis))
            return pieces if len(pieces) > 1 else pieces[0]
        return split

    def vjp(self, e, node, gys):
        pieces = [g if g is not None else e.ExpandLike(e.scalar_like(0, y), y) for g, y in zip(gys, node.outputs)]
        return [pieces[0] if len(pieces) == 1 else e.Concat(*pieces, axis=node.attrs["axis"])]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0
