"""Reductions over axes: sum, mean, max and min, product, the norms and log-sum-exp, argmax,
and the element count.

``axes`` is a tuple of axes or ``None`` for all axes; ``keepdims`` is 1 or 0
as in ONNX. The gradient of a reduction broadcasts ȳ back with
``ExpandLike``, which reads only the *shape* of its second operand, so the
batch dimension can stay symbolic. A reduction over no elements (an axis of
size 0) gives the operation's identity, as in ONNX: 0 for the sums, 1 for the
product, −∞ for max and log-sum-exp, +∞ for min.
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, axis_list, normalize_axis
from . import register
from .base import Accumulator, Op, as_dtype, literal, need_float


def reduced_axes(t: TensorType, axes):
    if axes is None:
        return tuple(range(t.rank))
    out = tuple(sorted(normalize_axis(a, t.rank, "reduction axis") for a in axis_list(axes, "reduction axes")))
    if len(set(out)) != len(out):
        raise IRTypeError(f"reduction axes {tuple(axes)} repeat an axis")
    return out


def reduced_shape(t: TensorType, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(t.shape))
    return tuple(d for i, d in enumerate(t.shape) if i not in axes)


class Reduce(Op):
    attrs = {"axes": None, "keepdims": 1}
    fn = None
    writes_out = False  # does ``fn`` take ``out=`` (np.sum, np.max)?
    reducer = None  # the ufunc whose ``reduce`` this is (np.add for a sum): generated code calls it directly
    float_only = False  # exp and log: ONNX's integer forms are gone from opset 28

    def infer(self, ins, attrs):
        if self.float_only:
            need_float(self, ins[0])
        ax = reduced_axes(ins[0], attrs["axes"])
        return [TensorType(reduced_shape(ins[0], ax, attrs["keepdims"]), ins[0].dtype)]

    def initial(self, dtype):
        """The result over no elements, for the reductions whose ufunc has no identity (max, min);
        None: the ufunc's own (0 for a sum, 1 for a product)."""
        return None

    def _initial_of(self):
        """``dtype -> initial`` if the op has one, else None (and ``fn`` is called without it)."""
        return None if type(self).initial is Reduce.initial else self.initial

    def kernel(self, attrs):
        fn, axes, keep, init = self.fn, attrs["axes"], bool(attrs["keepdims"]), self._initial_of()
        axes = None if axes is None else tuple(axes)
        if init is None:
            # NumPy sums small ints as the platform int and averages ints as float64: keep x's dtype
            return lambda x: as_dtype(np.asarray(fn(x, axis=axes, keepdims=keep)), x.dtype)
        return lambda x: as_dtype(np.asarray(fn(x, axis=axes, keepdims=keep, initial=init(x.dtype))), x.dtype)

    def out_kernel(self, attrs, alias=-1):
        if not self.writes_out:
            return None
        fn, axes, keep, init = self.fn, attrs["axes"], bool(attrs["keepdims"]), self._initial_of()
        axes = None if axes is None else tuple(axes)
        if init is None:
            return lambda out, x: fn(x, axis=axes, keepdims=keep, out=out)
        return lambda out, x: fn(x, axis=axes, keepdims=keep, out=out, initial=init(x.dtype))

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        if self.reducer is None or not in_types[0].dtype.is_float:
            return super().emit(code, attrs, out, args, in_types)
        axes = None if attrs["axes"] is None else tuple(attrs["axes"])
        red = code.const(self.reducer.reduce, "red")  # what np.sum / np.max call, without their checks
        init = self.initial(in_types[0].dtype.numpy)
        tail = "" if init is None else f", {code.const(init, 'init')}"
        return [f"{red}({args[0]}, {axes!r}, None, {out}, {bool(attrs['keepdims'])}{tail})"]

    def flops(self, ins, outs, attrs, bindings=None):
        return ins[0].numel(bindings) or 0

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        how = self.accumulate(attrs, in_types[0])
        if how is None:
            return False
        lb.reduce(outs[0], out_types[0], args[0], in_types[0], reduced_axes(in_types[0], attrs["axes"]),
                  bool(attrs["keepdims"]), how)
        return True

    def _expand(self, e, node, g):
        """ȳ with the reduced axes re-inserted, broadcast to x's shape."""
        x = node.inputs[0]
        if not node.attrs["keepdims"]:
            ax = reduced_axes(x.type, node.attrs["axes"])
            g = e.Unsqueeze(g, axes=ax)
        return e.ExpandLike(g, x)


@register
class ReduceSum(Reduce):
    """y = Σ x over ``axes``"""
    fn = staticmethod(np.sum)
    writes_out = True
    reducer = np.add
    rule = "x̄ = ȳ broadcast back over the summed axes"

    def accumulate(self, attrs, in_type):  # floats add in float64 (the literal 0.0)
        return Accumulator("0.0" if in_type.dtype.is_float else "0", "{acc} + {x}")

    def vjp(self, e, node, gys):
        return [self._expand(e, node, gys[0])]


@register
class ReduceMean(Reduce):
    """y = mean of x over ``axes``"""
    fn = staticmethod(np.mean)
    rule = "x̄ = ȳ / n broadcast back over the averaged axes (n elements averaged)"

    def accumulate(self, attrs, in_type):
        if in_type.dtype.is_float:
            return Accumulator("0.0", "{acc} + {x}", "{acc} / {n}")
        return Accumulator("0", "{acc} + {x}", "int({acc} / {n})")  # NumPy's float mean, truncated back

    def vjp(self, e, node, gys):
        x = node.inputs[0]
        n = e.Count(x, axes=node.attrs["axes"])
        return [e.Div(self._expand(e, node, gys[0]), n)]


class Extremum(Reduce):
    """Max and min: ȳ goes to the entries equal to the result."""
    writes_out = True
    lowest = True  # the identity is the dtype's lowest value (max) or its highest (min)

    def initial(self, dtype):
        if dtype.kind == "f":
            return -np.inf if self.lowest else np.inf
        if dtype.kind == "b":
            return not self.lowest
        info = np.iinfo(dtype)
        return int(info.min if self.lowest else info.max)

    def accumulate(self, attrs, in_type):
        pick = self.reducer.__name__  # maximum or minimum, as the kernel: a NaN wins
        if in_type.dtype.is_float:
            return Accumulator("-np.inf" if self.lowest else "np.inf", f"np.{pick}({{acc}}, {{x}})")
        if in_type.dtype.numpy.kind not in "iu":
            return None
        return Accumulator(literal(self.initial(in_type.dtype.numpy)), f"np.{pick}({{acc}}, {{x}})")

    def vjp(self, e, node, gys):
        x, y = node.inputs[0], node.outputs[0]
        if not node.attrs["keepdims"]:
            y = e.Unsqueeze(y, axes=reduced_axes(x.type, node.attrs["axes"]))
        mask = e.Cast(e.Equal(x, e.ExpandLike(y, x)), to=x.dtype)
        ties = e.ReduceSum(mask, axes=node.attrs["axes"], keepdims=1)
        g = self._expand(e, node, gys[0])
        return [e.Div(e.Mul(g, mask), ties)]


@register
class ReduceMax(Extremum):
    """y = max of x over ``axes``"""
    fn = staticmethod(np.max)
    reducer = np.maximum
    rule = "x̄ = ȳ routed to the maximal entries (split evenly between ties)"


@register
class ReduceMin(Extremum):
    """y = min of x over ``axes``"""
    fn = staticmethod(np.min)
    reducer = np.minimum
    lowest = False
    rule = "x̄ = ȳ routed to the minimal entries (split evenly between ties)"


@register
class ReduceProd(Reduce):
    """y = Π x over ``axes``"""
    fn = staticmethod(np.prod)
    writes_out = True
    reducer = np.multiply
    rule = "x̄ᵢ = ȳ Πⱼ≠ᵢ xⱼ (y/xᵢ without zeros; with one zero only it gets the product, with two none)"

    def accumulate(self, attrs, in_type):
        return Accumulator("1.0" if in_type.dtype.is_float else "1", "{acc} * {x}")

    def vjp(self, e, node, gys):
        x, axes = node.inputs[0], node.attrs["axes"]
        zero, one = e.scalar_like(0, x), e.scalar_like(1, x)
        is_zero = e.Equal(x, zero)
        zeros = e.ReduceSum(e.Cast(is_zero, to=x.dtype), axes=axes, keepdims=1)  # zeros per product
        safe = e.Where(is_zero, one, x)
        p = e.ReduceProd(safe, axes=axes, keepdims=1)  # the product of the nonzero entries
        others = e.Where(is_zero, e.Where(e.Equal(zeros, one), p, zero),
                         e.Where(e.Equal(zeros, zero), e.Div(p, safe), zero))
        return [e.Mul(self._expand(e, node, gys[0]), others)]


def _l1(x, axis=None, keepdims=False):
    return np.sum(np.abs(x), axis=axis, keepdims=keepdims)


def _l2(x, axis=None, keepdims=False):
    return np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims))


def _sum_square(x, axis=None, keepdims=False):
    return np.sum(np.square(x), axis=axis, keepdims=keepdims)


def _log_sum_exp(x, axis=None, keepdims=False):
    """m + log Σ exp(x − m) with m the max, so no exp overflows; m = 0 where the max is ±∞."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    with np.errstate(divide="ignore"):  # log 0 = −∞: a reduction over nothing, or of −∞ only
        y = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis)


@register
class ReduceL1(Reduce):
    """y = Σ |x| over ``axes``"""
    fn = staticmethod(_l1)
    rule = "x̄ = ȳ ∘ sign(x), broadcast back"

    def accumulate(self, attrs, in_type):
        return Accumulator("0.0" if in_type.dtype.is_float else "0", "{acc} + np.abs({x})")

    def vjp(self, e, node, gys):
        return [e.Mul(self._expand(e, node, gys[0]), e.Sign(node.inputs[0]))]


@register
class ReduceL2(Reduce):
    """y = √(Σ x²) over ``axes``"""
    fn = staticmethod(_l2)
    rule = "x̄ = ȳ ∘ x / y, broadcast back (0 where y = 0)"

    def accumulate(self, attrs, in_type):
        return Accumulator("0.0", "{acc} + {x} * {x}", "np.sqrt({acc})") if in_type.dtype.is_float else None

    def vjp(self, e, node, gys):
        x, y = node.inputs[0], node.outputs[0]
        zero, one = e.scalar_like(0, x), e.scalar_like(1, x)
        safe = e.Where(e.Equal(y, zero), one, y)  # y = 0 only when every x is 0: x/1 = 0 there
        return [e.Mul(self._expand(e, node, gys[0]), e.Div(x, self._expand(e, node, safe)))]


@register
class ReduceSumSquare(Reduce):
    """y = Σ x² over ``axes``"""
    fn = staticmethod(_sum_square)
    rule = "x̄ = 2 ȳ ∘ x, broadcast back"

    def accumulate(self, attrs, in_type):
        return Accumulator("0.0" if in_type.dtype.is_float else "0", "{acc} + {x} * {x}")

    def vjp(self, e, node, gys):
        x = node.inputs[0]
        return [e.Mul(self._expand(e, node, gys[0]), e.Mul(e.scalar_like(2, x), x))]


@register
class ReduceLogSumExp(Reduce):
    """y = log Σ exp x over ``axes`` (computed as m + log Σ exp(x − m), m the max: no overflow)"""
    fn = staticmethod(_log_sum_exp)
    float_only = True
    rule = "x̄ = ȳ ∘ softmax(x) over the axes, broadcast back (exp(x − m)/Σ exp(x − m), m the max)"

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        """For each kept index: the maximum m over the axes (0 if it is not finite), then m + log Σ e^(x − m)."""
        t, x = in_types[0], args[0]
        if not t.dtype.is_float:
            return False
        axes = reduced_axes(t, attrs["axes"])
        with lb.space(t.shape), lb.over([a for a in range(t.rank) if a not in axes]):
            m, total = lb.local("m"), lb.local("total")
            lb.line(f"{m} = -np.inf")
            with lb.over(axes):
                lb.line(f"{m} = np.maximum({m}, {lb.at(x, t)})")
            lb.line(f"{m} = {m} if np.isfinite({m}) else 0.0")
            lb.line(f"{total} = 0.0")
            with lb.over(axes):
                lb.line(f"{total} += np.exp({lb.at(x, t)} - {m})")
            lb.line(f"{lb.at_reduced(outs[0], axes, bool(attrs['keepdims']), t.rank)} = np.log({total}) + {m}")
        return True

    def vjp(self, e, node, gys):
        # exp(x − y) is the same softmax, but y ≈ 1000.69 in float32 is off by 3e-5 and so would be x̄
        x, axes = node.inputs[0], node.attrs["axes"]
        s = e.Exp(e.Sub(x, e.ReduceMax(x, axes=axes, keepdims=1)))
        return [e.Mul(self._expand(e, node, gys[0]), e.Div(s, e.ReduceSum(s, axes=axes, keepdims=1)))]


class _ArgExtreme(Op):
    """The index of the extreme value along ``axis`` (i64); of its first occurrence, or of its
    last with ``select_last_index=1`` (the first index of the reversed axis, counted back):

        %i: i64[3] = ArgMax(%x) {axis=1, keepdims=0, select_last_index=1}
    """
    attrs = {"axis": 0, "keepdims": 1, "select_last_index": 0}
    differentiable = False
    find = None  # np.argmax or np.argmin

    def infer(self, ins, attrs):
        ax = normalize_axis(attrs["axis"], ins[0].rank, f"{self.name} axis")
        if attrs["select_last_index"] not in (0, 1):
            raise IRTypeError(f"{self.name} select_last_index must be 0 or 1, got {attrs['select_last_index']!r}")
        return [TensorType(reduced_shape(ins[0], (ax,), attrs["keepdims"]), DType.i64)]

    def kernel(self, attrs):
        axis, keep, last, find = attrs["axis"], bool(attrs["keepdims"]), attrs["select_last_index"], self.find

        def arg(x):
            if not last:
                return np.asarray(find(x, axis=axis, keepdims=keep), dtype=np.int64)
            n = x.shape[axis]
            return np.asarray(n - 1 - find(np.flip(x, axis), axis=axis, keepdims=keep), dtype=np.int64)
        return arg

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        """For each row, the first (or last) index of its extreme element; a NaN wins, as in NumPy
        (the first NaN, or the last with select_last_index=1)."""
        t, x = in_types[0], args[0]
        ax = normalize_axis(attrs["axis"], t.rank, f"{self.name} axis")
        beats = ">" if self.find is np.argmax else "<"
        with lb.space(t.shape), lb.over([a for a in range(t.rank) if a != ax]):
            best, where = lb.local("best"), lb.local("where")
            lb.line(f"{best} = {lb.at(x, t, fix={ax: '0'})}")
            lb.line(f"{where} = 0")
            with lb.over((ax,)):
                v = lb.at(x, t)
                if attrs["select_last_index"]:  # a tie moves on; once a NaN is seen only NaNs do
                    lb.line(f"if {v} != {v} or ({best} == {best} and {v} {beats}= {best}):")
                else:
                    lb.line(f"if {v} {beats} {best} or ({v} != {v} and {best} == {best}):")
                lb.line(f"    {best} = {v}")
                lb.line(f"    {where} = {lb.index_of(ax)}")
            lb.line(f"{lb.at_reduced(outs[0], (ax,), bool(attrs['keepdims']), t.rank)} = {where}")
        return True


@register
class ArgMax(_ArgExtreme):
    """y = index of the maximum along ``axis`` (i64; the first one, or the last with select_last_index=1)"""
    find = staticmethod(np.argmax)


@register
class ArgMin(_ArgExtreme):
    """y = index of the minimum along ``axis`` (i64; the first one, or the last with select_last_index=1)"""
    find = staticmethod(np.argmin)



def _count(shape, axes, dtype):
    ax = range(len(shape)) if axes is None else axes
    return np.asarray(np.prod([shape[a] for a in ax], dtype=np.int64), dtype=dtype)


@register
class Count(Op):
    """y = number of elements of x over ``axes`` (a scalar in x's dtype; reads only x's shape)"""
    attrs = {"axes": None}
    differentiable = False
    foldable = True

    def infer(self, ins, attrs):
        need_float(self, ins[0])
        reduced_axes(ins[0], attrs["axes"])
        return [TensorType((), ins[0].dtype)]

    def kernel(self, attrs):
        axes = attrs["axes"]
        return lambda x: _count(x.shape, axes, x.dtype)

    def static_value(self, ins, attrs):
        t = ins[0]
        return _count(t.shape, attrs["axes"], t.dtype.numpy) if t.is_static else None

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        t = in_types[0]
        lb.line(f"{outs[0]}[()] = {lb.count([t.shape[a] for a in reduced_axes(t, attrs['axes'])])}")
        return True

    def flops(self, ins, outs, attrs, bindings=None):
        return 0
