"""Constant folding: a node whose inputs are all Constants becomes a Constant.

    Before:                                            After:
      %lam: f64[] = Constant() {value=dense<f64[]>0.1}     %g: f64[] = Constant() {value=dense<f64[]>0.05} #[...]
      %c: f64[] = Constant() {value=dense<f64[]>0.5}
      %g: f64[] = Mul(%lam, %c)

Only Constant nodes count as constant, never parameters (they change every
training step) nor graph inputs. The folded value is the op's own kernel run
once at compile time, so it is bit-identical to what the runtime would
compute. Not folded:

- results with more than ``MAX_FOLD_ELEMENTS`` (64) elements: the array would be
  printed inline in the IR text (``dense<...>[...]``) and make it unreadable;
- a result that is NaN or Inf, or an op whose kernel raises: the node stays, so
  ``check_numerics`` (or the error) names it at run time, as it would unfolded;
- ops that declare ``side_effects`` or ``random``, and ops with no inputs.

The folded Constant keeps the node's name and phase, is made
``by=fold-constants`` and records the op it replaced in ``rule=``.
"""
from __future__ import annotations

from typing import List

import numpy as np

from ..ir import Graph
from .cse import impure
from .manager import Pass, PassResult
from .rewrite import constant_of, emitter_for, replace_node

#: largest folded result (elements) kept inline in the IR text
MAX_FOLD_ELEMENTS = 64


class FoldConstants(Pass):
    """Fold nodes of Constant inputs into Constants (see module doc)."""

    name = "fold-constants"

    def __init__(self, max_elements: int = MAX_FOLD_ELEMENTS):
        self.max_elements = max_elements

    def _fold(self, node):
        arrays = [constant_of(v) for v in node.inputs]
        if not arrays or any(a is None for a in arrays) or impure(node) or node.op.name == "Constant":
            return None
        if any(o.type.numel() is None or o.type.numel() > self.max_elements for o in node.outputs):
            return None
        try:
            with np.errstate(all="ignore"):
                res = node.op.kernel(dict(node.attrs))(*arrays)
        except Exception:  # noqa: BLE001 - left for the runtime to report with its own error
            return None
        res = list(res) if len(node.outputs) > 1 else [res]
        out = []
        for o, r in zip(node.outputs, res):
            r = np.array(r, dtype=o.type.dtype.numpy)  # a copy: never alias an input constant
            if r.shape != tuple(o.type.shape) or (r.dtype.kind in "fc" and not np.all(np.isfinite(r))):
                return None
            out.append(r)
        return out

    def run(self, graph: Graph) -> PassResult:
        notes: List[str] = []
        for node in list(graph.nodes):  # in order, so a folded Constant feeds the next fold
            if node.graph is not graph:
                continue
            arrays = self._fold(node)
            if arrays is None:
                continue
            e = emitter_for(graph, node, self.name, f"folded {node.op.name}")
            made = [e.emit("Constant", [], {"value": a}, name=o.name) for o, a in zip(node.outputs, arrays)]
            notes.append(f"%{node.name} = {node.op.name}(...) folded")
            replace_node(graph, node, [m.outputs[0] for m in made], made=made)
        return PassResult(graph, bool(notes), notes)


fold_constants = FoldConstants()
