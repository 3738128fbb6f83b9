"""ONNX mappings of ``ir/ops/linalg.py``."""
from __future__ import annotations

from .table import binary, direct, onnx_op

binary("MatMul")
direct("MatMul")


@onnx_op
def Gemm(ctx, A, B, C=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    ins = [ctx.v(A), ctx.v(B)] + ([ctx.v(C)] if C else [])
    return ctx.op("Gemm", *ins, alpha=float(alpha), beta=float(beta), transA=int(transA), transB=int(transB))


direct("Gemm")
