"""ONNX mappings of ``ir/ops/rounding.py``, one to one."""
from __future__ import annotations

from .table import direct, onnx_op, unary

unary("Floor", "Ceil", "Round", "Sign")


@onnx_op
def Mod(ctx, A, B, *, fmod=0):
    return ctx.op("Mod", ctx.v(A), ctx.v(B), fmod=int(fmod))


direct("Floor", "Ceil", "Round", "Sign", "Mod")
