"""Change the floating-point precision of a whole graph (e.g. float64 mode).

    Before:                                    After cast_floats(f64):
      input %x: f32[N,4]                         input %x: f64[N,4]
      param %w: f32[3,4]                         param %w: f64[3,4]
      %c: f32[] = Constant() {value=...1.0}      %c: f64[] = Constant() {value=dense<f64[]>1.0}
      %y: f32[N,3] = Gemm(%x, %w) {transB=1}     %y: f64[N,3] = Gemm(%x, %w) {transB=1}

Integer and bool values are untouched; parameter arrays are cast copies, so
the original model keeps its own arrays.
"""
from __future__ import annotations

import numpy as np

from ..ir import DType, Graph
from .manager import Pass, PassResult


def _retype(t, dtype):
    return t.with_dtype(dtype) if t.dtype.is_float and t.dtype != dtype else t


class CastFloats(Pass):
    """Every float value, parameter and constant becomes ``dtype``."""

    in_place = True

    def __init__(self, dtype=DType.f64):
        self.dtype = DType.of(dtype)
        self.name = f"cast-floats-{self.dtype.value}"

    def run(self, graph: Graph) -> PassResult:
        changed = False
        for v in list(graph.inputs) + list(graph.params):
            t = _retype(v.type, self.dtype)
            changed |= t != v.type
            v.type = t
        for name, arr in list(graph.initializers.items()):
            if arr.dtype.kind == "f" and arr.dtype != self.dtype.numpy:
                graph.initializers[name] = arr.astype(self.dtype.numpy)
        for node in graph.nodes:
            attrs, retyped = dict(node.attrs), False
            for k, v in attrs.items():
                if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.dtype != self.dtype.numpy:
                    attrs[k], retyped = v.astype(self.dtype.numpy), True
                elif isinstance(v, DType) and v.is_float and v != self.dtype:
                    attrs[k], retyped = self.dtype, True
            if retyped:  # not attrs != node.attrs: an f32 0.0 equals an f64 0.0, and would stay f32
                node.attrs = type(node.attrs)(attrs)
                changed = True
            types = node.op.infer([v.type for v in node.inputs], dict(node.attrs))
            for out, t in zip(node.outputs, types):
                changed |= out.type != t
                out.type = t
        return PassResult(graph, changed)


def cast_floats(graph: Graph, dtype=DType.f64) -> Graph:
    """A copy of ``graph`` computing in ``dtype`` (parameters cast, the original untouched)."""
    g = graph.clone()
    return CastFloats(dtype).run(g).graph
