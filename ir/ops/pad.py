"""``Pad`` (ONNX's ``Pad``: constant, edge, reflect and wrap modes), the explicit form of the
padding that Conv and the pools do inside their windows, and ``PadGrad``, the adjoint of the
modes that copy elements.

``pads`` lists all begins, then all ends, one per axis (ONNX's order); a negative pad
removes elements, so the adjoint of constant padding is padding by the negated amounts (a crop):

    y = Pad(x) {pads=(0,0,1,1,0,0,1,1)}     x̄ = Pad(ȳ) {pads=(0,0,-1,-1,0,0,-1,-1)}

The other modes fill the border with copies of x's own elements (``edge``: the end element,
``reflect``: the mirror image without the end, ``wrap``: the other end), so along each axis y is
x gathered at ``source_index``; a negative pad crops first, as onnxruntime does. Their adjoint
adds each element of ȳ into the element of x it was copied from:

    y = Pad(x) {pads=(2,1), mode="reflect"}       x̄ = PadGrad(ȳ) {pads=(2,1), mode="reflect"}
    x = [a b c]  ->  y = [c b a b c b]           x̄ = [ȳ₂, ȳ₁ + ȳ₃ + ȳ₅, ȳ₀ + ȳ₄]
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from . import register
from .base import Op, as_dtype

#: The modes of ONNX's Pad; all but ``constant`` copy elements of x into the border.
MODES = ("constant", "edge", "reflect", "wrap")


def source_index(n: int, begin: int, end: int, mode: str) -> np.ndarray:
    """For each position of an axis of length ``n`` padded by (begin, end) in a copying mode, the
    position of x it copies: the crop (negative pads) first, then NumPy's ``np.pad`` of the indices."""
    kept = np.arange(max(-begin, 0), n - max(-end, 0))
    return np.pad(kept, (max(begin, 0), max(end, 0)), mode=mode)


def _check_mode(op, t, begin, end, mode):
    if mode not in MODES:
        raise IRTypeError(f"{op.name} mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "constant":
        return
    for k, (d, b, e) in enumerate(zip(t.shape, begin, end)):
        if isinstance(d, int) and (b > 0 or e > 0) and d + min(b, 0) + min(e, 0) < 1:
            raise IRTypeError(f"{op.name} in {mode} mode cannot pad axis {k} of {t}: no element is left to copy "
                              f"(pads {begin[k]}, {end[k]})")


@register
class Pad(Op):
    """y = x with ``value`` (``mode="constant"``) or copies of x's border elements (``edge``,
    ``reflect``, ``wrap``) added before and after each axis (negative pads crop)"""
    attrs = {"pads": None, "value": 0.0, "mode": "constant"}
    rule = "x̄ = Pad(ȳ, −pads) (constant: the padding's cotangent is dropped), else PadGrad(ȳ)"

    def _pads(self, rank, attrs):
        """``pads`` as (begins, ends), checked against the operand's rank."""
        pads = tuple(int(p) for p in (attrs["pads"] or (0,) * 2 * rank))
        if len(pads) != 2 * rank:
            raise IRTypeError(f"{self.name} needs {2 * rank} pads for a rank-{rank} operand, got {pads}")
        return pads[:rank], pads[rank:]

    def infer(self, ins, attrs):
        x = ins[0]
        begin, end = self._pads(x.rank, attrs)
        out = []
        for d, b, e in zip(x.shape, begin, end):
            if isinstance(d, str):
                if b or e:
                    raise IRTypeError(f"Pad cannot pad the symbolic axis {d} of {x}")
                out.append(d)
            elif d + b + e < 0:
                raise IRTypeError(f"Pad {attrs['pads']} crops more than the {d} elements of an axis of {x}")
            else:
                out.append(d + b + e)
        _check_mode(self, x, begin, end, attrs["mode"])
        return [x.with_shape(out)]

    def kernel(self, attrs):
        mode = attrs["mode"]

        def pad(x):
            begin, end = self._pads(x.ndim, attrs)
            grow = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
            crop = tuple(slice(max(-b, 0), x.shape[k] - max(-e, 0)) for k, (b, e) in enumerate(zip(begin, end)))
            if mode != "constant":  # crop, then copy from what is left
                return as_dtype(np.pad(x[crop], grow, mode=mode), x.dtype)
            y = np.pad(x, grow, constant_values=attrs["value"]) if any(map(any, grow)) else x
            crop = tuple(slice(-min(b, 0), y.shape[k] + min(e, 0)) for k, (b, e) in enumerate(zip(begin, end)))
            return as_dtype(np.ascontiguousarray(y[crop]), x.dtype)
        return pad

    def vjp(self, e, node, gys):
        if node.attrs["mode"] != "constant":
            return [e.PadGrad(gys[0], pads=node.attrs["pads"], mode=node.attrs["mode"])]
        begin, end = self._pads(node.inputs[0].type.rank, node.attrs)
        return [e.Pad(gys[0], pads=tuple(-p for p in begin + end))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class PadGrad(Op):
    """x̄ = the adjoint of ``Pad`` in a copying mode: each element of g added into the element of
    x that ``Pad {pads, mode}`` copied it from (the result has x's shape)"""
    attrs = {"pads": None, "mode": "edge"}
    rule = "ḡ = Pad(x̄) {pads, mode}: the adjoint of the adjoint"

    _pads = Pad._pads

    def infer(self, ins, attrs):
        g = ins[0]
        begin, end = self._pads(g.rank, attrs)
        if attrs["mode"] == "constant":
            raise IRTypeError("PadGrad is the adjoint of the copying modes; a constant Pad's is Pad(ȳ, −pads)")
        out = []
        for d, b, e in zip(g.shape, begin, end):
            if isinstance(d, str) and (b or e):
                raise IRTypeError(f"PadGrad cannot un-pad the symbolic axis {d} of {g}")
            if not isinstance(d, str) and d - b - e < 0:
                raise IRTypeError(f"PadGrad {attrs['pads']} does not fit the axis of length {d} of {g}")
            out.append(d if isinstance(d, str) else d - b - e)
        x = g.with_shape(out)
        _check_mode(self, x, begin, end, attrs["mode"])
        return [x]

    def kernel(self, attrs):
        mode = attrs["mode"]

        def pad_grad(g):
            begin, end = self._pads(g.ndim, attrs)
            for k, (b, e) in enumerate(zip(begin, end)):
                if not (b or e):
                    continue
                n = g.shape[k] - b - e
                acc = np.zeros(g.shape[:k] + (n,) + g.shape[k + 1:], g.dtype)
                np.add.at(np.moveaxis(acc, k, 0), source_index(n, b, e, mode), np.moveaxis(g, k, 0))
                g = acc
            return g
        return pad_grad

    def vjp(self, e, node, gys):
        return [e.Pad(gys[0], pads=node.attrs["pads"], mode=node.attrs["mode"])]

    def flops(self, ins, outs, attrs, bindings=None):
        return ins[0].numel(bindings) or 0
