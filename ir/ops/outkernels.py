"""Kernels that write into a given buffer (``fn(out, *inputs)``), for planned execution.

The memory planner (``passes/memory.py``) gives each value of an op listed
here a buffer allocated once; the executors (``runtime/executor.py``) call
these kernels with that buffer. Ops without an out-kernel run their ordinary
kernel and get a fresh array. ``VIEW_OPS`` return a view of their input (no
buffer of their own); ``inplace_inputs`` lists the inputs whose buffer the
result may take over when the input dies at that node.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from .fused import OUT_KERNELS

#: ops whose result is a view of input 0 (or the Constant's own array): no buffer
VIEW_OPS = frozenset({"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "ExpandLike", "Identity",
                      "Constant"})


def _gemm(attrs):
    ta, tb, alpha, beta = attrs["transA"], attrs["transB"], attrs["alpha"], attrs["beta"]

    def gemm(out, a, b, c=None):
        np.matmul(a.T if ta else a, b.T if tb else b, out=out)
        if alpha != 1.0:
            out *= out.dtype.type(alpha)
        if c is not None:
            if beta == 1.0:
                out += c
            else:
                out += c * c.dtype.type(beta)
        return out
    return gemm


def _softmax(attrs):
    axis = attrs["axis"]

    def softmax(out, z):  # the same operations as numerics.softmax, so the same bits
        np.subtract(z, np.max(z, axis=axis, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= np.sum(out, axis=axis, keepdims=True)
        return out
    return softmax


def _reduce(fn):
    def make(attrs):
        axes = None if attrs["axes"] is None else tuple(attrs["axes"])
        keep = bool(attrs["keepdims"])
        return lambda out, x: fn(x, axis=axes, keepdims=keep, out=out)
    return make


_MAKERS = {"Gemm": _gemm, "MatMul": lambda attrs: lambda out, a, b: np.matmul(a, b, out=out),
           "Softmax": _softmax, "ReduceSum": _reduce(np.sum), "ReduceMax": _reduce(np.max)}


def out_kernel(node, alias: int = -1):
    """``fn(out, *inputs)`` for ``node``, or None; ``alias``: the input sharing ``out`` (Fused)."""
    name = node.op.name
    if name == "Fused":
        return node.op.out_kernel(dict(node.attrs), alias)
    if name in _MAKERS:
        return _MAKERS[name](dict(node.attrs))
    if node.op.elementwise and name in OUT_KERNELS and len(node.outputs) == 1:
        return OUT_KERNELS[name]
    return None


def has_out_kernel(node) -> bool:
    name = node.op.name
    return name == "Fused" or name in _MAKERS or (node.op.elementwise and name in OUT_KERNELS)


def inplace_inputs(node) -> List[int]:
    """Inputs whose buffer the result may reuse (same type; the op reads each element before writing it)."""
    if not (node.op.elementwise and has_out_kernel(node)):
        return []
    out = node.outputs[0].type
    return [k for k, v in enumerate(node.inputs) if v.type == out]


def view_source(node) -> Optional[int]:
    """The input a view op's result aliases (None for Constant and non-views)."""
    return 0 if node.op.name in VIEW_OPS and node.inputs else None
