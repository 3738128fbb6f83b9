"""Common-subexpression elimination: one node per (op, attributes, inputs).

Two nodes with the same op, equal attributes and the same input values
compute the same thing; the later one is removed and its uses read the first
(in node order, so the result is deterministic). Array attributes (a
Constant's ``value``) are equal when dtype, shape and bytes are; floats by
their bits (``-0.0`` is not ``0.0``, a NaN equals itself). An operand made by
a Constant counts by its value, so ``Mul(%lr, %g)`` and ``Mul(%one_minus_beta2, %g)``
with both 0.001 are one product; but the Constant nodes themselves are not
merged (unless ``CSE(merge_constants=True)``): their names say which
hyperparameter they are, and a scalar costs nothing. The operands of a
commutative op (``Op.commutative``: Add, Mul, Sum, Equal) count in any order, so
``Mul(a, b)`` and ``Mul(b, a)`` are one node.

    Before:                                        After:
      %a: f32[N,3] = Transpose(%x) {perm=[1,0]}      %a: f32[N,3] = Transpose(%x) {perm=[1,0]}
      %b: f32[N,3] = Transpose(%x) {perm=[1,0]}      %c: f32[N,3] = Mul(%a, %a)
      %c: f32[N,3] = Mul(%a, %b)                     return %c
      return %c

Never merged: ops that declare ``side_effects`` or ``random`` (none today,
but a dropout mask drawn twice is two masks). Phases: a node is merged only
into an earlier one of the same or an earlier phase (forward < backward <
update), so a backward node may start reading a forward value (autodiff does
that anyway: saved activations) but a forward value never comes to depend on
a backward or update node, and the forward graph stays runnable on its own.
The price is memory: a forward value a backward duplicate now reads stays
alive into the backward pass. An exported duplicate (a graph output) is merged
only when the kept value can take its name (see ``rewrite.can_replace``).
"""
from __future__ import annotations

import struct
from typing import Dict, List

import numpy as np

from ..ir import DType, Graph, Node
from .manager import Pass, PassResult
from .rewrite import PHASE_RANK, can_replace, constant_of, replace_node


def freeze(v):
    """A hashable key for an attribute value; equal keys mean interchangeable attributes."""
    if isinstance(v, np.ndarray):
        return ("ndarray", v.dtype.str, v.shape, np.ascontiguousarray(v).tobytes())
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, np.integer)):
        return ("int", int(v))
    if isinstance(v, (float, np.floating)):
        return ("float", struct.pack("<d", float(v)))
    if isinstance(v, (tuple, list)):
        return ("seq", tuple(freeze(x) for x in v))
    if isinstance(v, DType):
        return ("dtype", v.value)
    if isinstance(v, dict) or hasattr(v, "items"):
        return ("map", tuple((k, freeze(x)) for k, x in sorted(v.items())))
    return (type(v).__name__, v)


def impure(node: Node) -> bool:
    """Nodes whose two copies may differ or must both run."""
    return bool(getattr(node.op, "side_effects", False) or getattr(node.op, "random", False))


def _operand(v):
    c = constant_of(v)
    return ("const", freeze(c)) if c is not None else id(v)


def node_key(node: Node):
    operands = [_operand(v) for v in node.inputs]
    if node.op.commutative:  # Mul(a, b) and Mul(b, a) compute the same value
        operands.sort(key=repr)
    return (node.op.name, tuple((k, freeze(v)) for k, v in node.attrs.items()), tuple(operands))


class CSE(Pass):
    """Merge later duplicates into the first equal node (see module doc)."""

    name = "cse"

    def __init__(self, merge_constants: bool = False):
        self.merge_constants = merge_constants

    def run(self, graph: Graph) -> PassResult:
        seen: Dict[tuple, List[Node]] = {}
        notes: List[str] = []
        for node in list(graph.nodes):
            if impure(node) or not node.outputs or (node.op.name == "Constant" and not self.merge_constants):
                continue
            key = node_key(node)  # inputs are already the merged values: earlier nodes were done first
            rank = PHASE_RANK.get(node.prov.phase, 0)
            keep = next((k for k in seen.get(key, ()) if PHASE_RANK.get(k.prov.phase, 0) <= rank), None)
            if keep is not None and all(can_replace(o, n) for o, n in zip(node.outputs, keep.outputs)):
                notes.append(f"%{node.name} = %{keep.name}")
                replace_node(graph, node, keep.outputs)
                continue
            seen.setdefault(key, []).append(node)
        return PassResult(graph, bool(notes), notes)


cse = CSE()
