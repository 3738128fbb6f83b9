"""Inference only: consecutive linear layers fold into one (the lecture's deep linear network).

With no nonlinearity between them, y = W⁽²⁾(W⁽¹⁾x + b⁽¹⁾) + b⁽²⁾ = W′x + b′ with
W′ = W⁽²⁾W⁽¹⁾ and b′ = W⁽²⁾b⁽¹⁾ + b⁽²⁾; three layers give W′ = W⁽³⁾W⁽²⁾W⁽¹⁾::

    Before:
      param %fc1.weight: f32[8,5]
      param %fc2.weight: f32[6,8]
      param %fc2.bias: f32[6]
      %fc1: f32[N,8] = Gemm(%x, %fc1.weight) {transB=1}
      %fc2: f32[N,6] = Gemm(%fc1, %fc2.weight, %fc2.bias) {transB=1}
    After:
      param %"fc1+fc2.weight": f32[6,5]
      param %"fc1+fc2.bias": f32[6]
      %fc2: f32[N,6] = Gemm(%x, %"fc1+fc2.weight", %"fc1+fc2.bias") {transB=1} #[by="fold-linear" ...]

The folded parameters are new initializers named after the layers they
replace: ``<a>+<b>.weight`` and ``<a>+<b>.bias``, where ``<a>`` is the first
weight's name without ``.weight`` (so three layers give ``fc1+fc2+fc3.weight``).
The product is computed in float64 and stored in the parameter's dtype. The
replaced parameters are removed when nothing else reads them.

It fires on ``Gemm``/``MatMul`` pairs whose weights (and biases) are
parameters with arrays, whose biases are one row (shape ``[n]``, ``[1,n]`` or
``[]``), and only when the intermediate has no other use (and is not an
output): otherwise the intermediate would still be needed and nothing is
saved. Two MatMuls give one MatMul; any Gemm in the pair gives a Gemm.

Never in training: the folded matrix is a snapshot of the weights at compile
time, and training changes them. The pass leaves alone any graph that has
updates or backward/update nodes, and any pipeline whose parameters are shared
live with a training step (``compile_train``'s evaluation graphs) must leave
it out: ``inference_pipeline(freeze_params=False)``.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ..ir import Graph, Node, Value
from .manager import Pass, PassResult
from .rewrite import can_replace, discard, emitter_for, is_exported, replace_node

RULE = "W′ = W⁽²⁾W⁽¹⁾, b′ = W⁽²⁾b⁽¹⁾ + b⁽²⁾ (no nonlinearity between: one linear layer)"


def _array(graph: Graph, v: Value) -> Optional[np.ndarray]:
    """The array of a trainable parameter, else None (state, inputs and node values are not folded)."""
    return graph.initializers.get(v.name) if v.kind == "param" else None


def _layer(graph: Graph, node: Node) -> Optional[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """(B, c): the layer as y = op(A)·B + c in float64, B a [k,n] matrix and c a row [n] (or None)."""
    if node.op.name == "MatMul":
        w = _array(graph, node.inputs[1])
        return (w.astype(np.float64), None) if w is not None and w.ndim == 2 else None
    if node.op.name != "Gemm":
        return None
    w = _array(graph, node.inputs[1])
    if w is None:
        return None
    b = w.astype(np.float64)
    b = (b.T if node.attrs["transB"] else b) * node.attrs["alpha"]
    if len(node.inputs) < 3:
        return b, None
    c = _array(graph, node.inputs[2])
    n = b.shape[1]
    if c is None or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
        return None  # a per-example bias [m,n] is not a row: leave it
    return b, np.broadcast_to(c.astype(np.float64).reshape(-1), (n,)) * node.attrs["beta"]


def _base(name: str) -> str:
    return name[:-len(".weight")] if name.endswith(".weight") else name


def _fresh(graph: Graph, name: str) -> str:
    taken = {v.name for v in graph.all_values()}
    k, cand = 0, name
    while cand in taken:
        k += 1
        cand = f"{name}.{k}"
    return cand


class FoldLinear(Pass):
    """Fold chains of linear layers into one layer (see module doc)."""

    name = "fold-linear"

    def _pair(self, graph: Graph, second: Node) -> Optional[Node]:
        if second.op.name not in ("Gemm", "MatMul") or (second.op.name == "Gemm" and second.attrs["transA"]):
            return None
        mid = second.inputs[0]
        first = mid.producer
        if first is None or first.op.name not in ("Gemm", "MatMul") or len(mid.uses) != 1 or is_exported(mid):
            return None
        if second.inputs[1] is mid or (len(second.inputs) > 2 and second.inputs[2] is mid):
            return None
        kinds = {first.op.name, second.op.name}
        if "Gemm" in kinds and first.inputs[0].type.rank != 2:
            return None  # a MatMul over a batch of matrices cannot become a Gemm
        return first

    def _fold(self, graph: Graph, first: Node, second: Node) -> bool:
        l1, l2 = _layer(graph, first), _layer(graph, second)
        if l1 is None or l2 is None:
            return False
        (b1, c1), (b2, c2) = l1, l2
        w = b1 @ b2  # [k, n2]: y = op(A)·B1·B2 + (c1·B2 + c2)
        bias = None if c1 is None and c2 is None else (0 if c1 is None else c1 @ b2) + (0 if c2 is None else c2)
        dt = first.outputs[0].type.dtype.numpy
        base = f"{_base(first.inputs[1].name)}+{_base(second.inputs[1].name)}"
        matmul = first.op.name == second.op.name == "MatMul"
        wv = graph.add_param(_fresh(graph, f"{base}.weight"), (w if matmul else w.T).astype(dt))
        ins = [first.inputs[0], wv]
        if bias is not None:
            ins.append(graph.add_param(_fresh(graph, f"{base}.bias"), np.asarray(bias, dtype=dt)))
        e = emitter_for(graph, second, self.name, RULE)
        attrs = {} if matmul else {"transB": 1, "transA": first.attrs["transA"] if first.op.name == "Gemm" else 0}
        made = e.emit("MatMul" if matmul else "Gemm", ins, attrs, name=second.name)
        if not can_replace(second.outputs[0], made.outputs[0]):  # defensive: the type rule disagrees
            discard(graph, [made])
            for p in ins[1:]:
                graph.remove_param(p)
            return False
        old = [v for n in (first, second) for v in n.inputs[1:]]
        replace_node(graph, second, made.outputs, made=[made])
        for p in old:
            if p.kind == "param" and p.graph is graph and not p.uses and all(q is not p for q, _ in graph.updates):
                graph.remove_param(p)
        return True

    def run(self, graph: Graph) -> PassResult:
        if graph.updates or any(n.prov.phase != "forward" for n in graph.nodes):
            return PassResult(graph, False, ["not applied: a training graph (its weights change every step)"])
        notes: List[str] = []
        for node in list(graph.nodes):
            if node.graph is not graph:
                continue
            first = self._pair(graph, node)
            if first is not None:
                names = (first.name, node.name)
                if self._fold(graph, first, node):
                    notes.append(f"%{names[0]} and %{names[1]} folded into one layer")
        return PassResult(graph, bool(notes), notes)


fold_linear = FoldLinear()
