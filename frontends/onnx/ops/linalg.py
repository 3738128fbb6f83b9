"""ONNX mappings of ``ir/ops/linalg.py``."""
from __future__ import annotations

import numpy as np

from .table import binary, direct, export_op, onnx_op, static_ints

binary("MatMul")
direct("MatMul")


@onnx_op
def Gemm(ctx, A, B, C=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    ins = [ctx.v(A), ctx.v(B)] + ([ctx.v(C)] if C else [])
    return ctx.op("Gemm", *ins, alpha=float(alpha), beta=float(beta), transA=int(transA), transB=int(transB))


direct("Gemm")


@onnx_op
def Trilu(ctx, input, k=None, *, upper=1):
    ks = static_ints(ctx, k, "k") if k else [0]
    if len(ks) != 1:
        ctx.fail(f"k must hold one number, got {len(ks)}")
    return ctx.op("Trilu", ctx.v(input), upper=int(upper), k=ks[0])


@export_op("Trilu", onnx="Trilu")  # k is an input in ONNX
def _trilu(ex, n, x, *, upper, k):
    ex.make("Trilu", [x, ex.const(np.asarray(k, np.int64), "k")], ex.out, upper=int(upper))
