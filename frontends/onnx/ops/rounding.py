"""ONNX mappings of ``ir/ops/rounding.py``, one to one, but for ``Mod`` of floats with ``fmod=0``
(opset 28's floor modulo): the export opset (18) has it only for integers, so it exports as
C's fmod corrected the way Python's ``%`` (and ``np.mod``) computes it, bit for bit:

    r = Mod(a, b, fmod=1)                  # C's fmod: the sign of a
    m = r + b  where r ≠ 0 and r, b have opposite signs, else r
    y = |m|·sign(b)                        # the sign of b, also for a zero (onnxruntime's Where drops −0)
"""
from __future__ import annotations

import numpy as np

from .table import direct, export_op, onnx_op, unary

unary("Floor", "Ceil", "Round", "Sign")
direct("Floor", "Ceil", "Round", "Sign")


@onnx_op
def Mod(ctx, A, B, *, fmod=0):
    return ctx.op("Mod", ctx.v(A), ctx.v(B), fmod=int(fmod))


@export_op("Mod", onnx="Mod", composite=True)
def _mod(ex, n, a, b, *, fmod):
    dt = n.inputs[0].type.dtype
    if fmod or not dt.is_float:
        ex.make("Mod", [a, b], ex.out, fmod=int(fmod))
        return
    zero = ex.const(np.zeros((), dt.numpy), "zero")
    r = ex.make("Mod", [a, b], fmod=1)
    opposite = ex.make("Xor", [ex.make("Less", [r, zero]), ex.make("Less", [b, zero])])
    wrong = ex.make("And", [ex.make("Not", [ex.make("Equal", [r, zero])]), opposite])
    m = ex.make("Where", [wrong, ex.make("Add", [r, b]), r])
    ex.make("Mul", [ex.make("Abs", [m]), ex.make("Sign", [b])], ex.out)
