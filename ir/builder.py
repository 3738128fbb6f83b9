"""The ``Emitter``: the one way to append typed nodes to a graph.

Frontends, gradient rules and rewrites all build IR through an emitter, so
every node gets its type inferred and checked when it is made, a
deterministic name, and its provenance (which pass, which phase, for a
gradient node which forward value and rule).

    e = Emitter(g)
    y = e.Sigmoid(e.Add(e.MatMul(x, w), b))   # appends three nodes, returns %y
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from .core import Graph, Node, Provenance, Value
from .errors import IRTypeError
from .ops import get_op
from .types import DType, TensorType


class Emitter:
    """Appends nodes to ``graph`` (or inserts them before ``before``)."""

    def __init__(self, graph: Graph, created_by: str = "frontend", phase: str = "forward",
                 grad_of: Optional[str] = None, rule: Optional[str] = None,
                 before: Optional[Node] = None, name_hint: Optional[str] = None, source=None,
                 made: Optional[List[Node]] = None):
        self.graph = graph
        self.created_by = created_by
        self.phase = phase
        self.grad_of = grad_of
        self.rule = rule
        self.before = before
        self.name_hint = name_hint
        self.source = source  # a callable returning "file:line", or None
        self.made: List[Node] = [] if made is None else made  # every node emitted, in order

    def emit(self, opname: str, inputs: Sequence[Value], attrs: Optional[dict] = None,
             name: Optional[str] = None) -> Node:
        """Create and insert one node; returns the node (outputs in ``node.outputs``)."""
        op = get_op(opname)
        src = self.source() if self.source else None
        where = f"{src}: " if src else ""
        op.check_arity(len(inputs), where)
        attrs = op.check_attrs(dict(attrs or {}), where)
        for i, v in enumerate(inputs):
            if not isinstance(v, Value):
                raise IRTypeError(f"{where}input {i} of {opname} is a {type(v).__name__}, not an IR value")
        try:
            out_types = op.infer([v.type for v in inputs], attrs)
        except IRTypeError as err:
            operands = ", ".join(f"%{v.name}: {v.type}" for v in inputs)
            raise IRTypeError(f"{where}{err} (in {opname}({operands}))") from None
        prov = Provenance(self.created_by, self.phase, self.grad_of, self.rule, src)
        node = Node(op, inputs, attrs, prov)
        hint = name or self.name_hint or opname.lower()
        names = [hint] if len(out_types) == 1 else [f"{hint}.{k}" for k in range(len(out_types))]
        self.made.append(node)
        return self.graph.add_node(node, out_types, names, before=self.before)

    def __call__(self, opname: str, *inputs: Value, name: Optional[str] = None, **attrs):
        node = self.emit(opname, inputs, attrs, name)
        return node.outputs[0] if len(node.outputs) == 1 else tuple(node.outputs)

    def __getattr__(self, opname: str):
        if not opname[:1].isupper():
            raise AttributeError(opname)
        return lambda *inputs, name=None, **attrs: self(opname, *inputs, name=name, **attrs)

    # -- helpers used by gradient rules and frontends -------------------------
    def const(self, value, dtype=DType.f32, name: Optional[str] = None) -> Value:
        arr = np.asarray(value, dtype=DType.of(dtype).numpy)
        return self("Constant", value=arr, name=name or "c")

    def scalar_like(self, value, like: Value) -> Value:
        return self.const(value, like.dtype)

    def sum_to(self, g: Value, target: TensorType) -> Value:
        """Undo broadcasting: sum ``g`` down to the shape of ``target`` (unbroadcast)."""
        gs, ts = g.shape, target.shape
        lead = len(gs) - len(ts)
        keep = [i for i in range(lead, len(gs)) if ts[i - lead] == 1 and gs[i] != 1]
        if keep:
            g = self.ReduceSum(g, axes=tuple(keep), keepdims=1)
        if lead > 0:
            g = self.ReduceSum(g, axes=tuple(range(lead)), keepdims=0)
        if tuple(g.shape) != tuple(ts):
            raise IRTypeError(f"cannot unbroadcast gradient of shape {g.type} to {target}")
        return g
