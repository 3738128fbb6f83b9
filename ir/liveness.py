"""Liveness over a node order, by storage: who owns a view's storage, who reads it, when it dies.

A view (``Reshape``, ``Transpose``, ``Identity``... ``Op.view``) has no storage of
its own: it reads its input's. So the questions the memory planner, the
scheduler and the executors ask are about the *owner* of a value's storage::

    %h: f32[N,16] = Relu(%z)          owner(%h) = %h
    %r: f32[16,N] = Transpose(%h)     owner(%r) = %h   (a view)
    %g = MatMul(%r, %w)               reads %h's storage: %h dies here, not at Transpose

``Liveness(nodes, keep)`` walks the order once. ``keep`` (usually
``graph.exported_ids()``) holds values the caller receives: their owners stay
alive to the end (``death == len(nodes)``).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from .ops.outkernels import view_source


class Liveness:
    """``owner_of[id(v)]``: id of the value owning v's storage (v itself unless v is a view);
    ``readers[owner]``: the steps reading that storage, in order; ``death[owner]``: the last one."""

    def __init__(self, nodes: Sequence, keep=frozenset()):
        self.owner_of: Dict[int, int] = {}
        self.readers: Dict[int, List[int]] = {}
        self.death: Dict[int, int] = {}
        for i, n in enumerate(nodes):
            for v in n.inputs:
                r = self.owner(v)
                steps = self.readers.setdefault(r, [])
                if not steps or steps[-1] != i:
                    steps.append(i)
                self.death[r] = max(self.death.get(r, -1), i)  # a kept owner stays at the end
            src = view_source(n)
            for o in n.outputs:
                self.owner_of[id(o)] = self.owner(n.inputs[src]) if src is not None else id(o)
                if id(o) in keep:
                    self.death[self.owner_of[id(o)]] = len(nodes)

    def owner(self, v) -> int:
        """id of the value owning ``v``'s storage (graph inputs and parameters own theirs)."""
        return self.owner_of.get(id(v), id(v))

    def dies_at(self, v, i: int) -> bool:
        """Is step ``i`` the last to read ``v``'s storage (and ``v`` its owner, not a view)?"""
        return self.owner(v) == id(v) and self.death.get(id(v)) == i
