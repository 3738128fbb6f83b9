"""``Pad``: constant padding (ONNX's ``Pad`` in ``constant`` mode), the explicit form of the
padding that Conv and the pools do inside their windows.

``pads`` lists all begins, then all ends, one per axis (ONNX's order); a negative pad
removes elements, so the adjoint of padding is padding by the negated amounts (a crop):

    y = Pad(x) {pads=(0,0,1,1,0,0,1,1)}     x̄ = Pad(ȳ) {pads=(0,0,-1,-1,0,0,-1,-1)}
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from . import register
from .base import Op, as_dtype


@register
class Pad(Op):
    """y = x with ``value`` added before and after each axis (negative pads crop)"""
    attrs = {"pads": None, "value": 0.0}
    rule = "x̄ = Pad(ȳ, −pads): the padding's cotangent is dropped"

    def _pads(self, rank, attrs):
        pads = tuple(int(p) for p in (attrs["pads"] or (0,) * 2 * rank))
        if len(pads) != 2 * rank:
            raise IRTypeError(f"Pad needs {2 * rank} pads for a rank-{rank} operand, got {pads}")
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
        return [x.with_shape(out)]

    def kernel(self, attrs):
        def pad(x):
            begin, end = self._pads(x.ndim, attrs)
            grow = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
            y = np.pad(x, grow, constant_values=attrs["value"]) if any(map(any, grow)) else x
            crop = tuple(slice(-min(b, 0), y.shape[k] + min(e, 0)) for k, (b, e) in enumerate(zip(begin, end)))
            return as_dtype(np.ascontiguousarray(y[crop]), x.dtype)
        return pad

    def vjp(self, e, node, gys):
        begin, end = self._pads(node.inputs[0].type.rank, node.attrs)
        return [e.Pad(gys[0], pads=tuple(-p for p in begin + end))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0
