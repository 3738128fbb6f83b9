"""Scheduling: an explicit ``Schedule`` (node order, buffer plan, concurrency levels).

``memory_aware_order(graph)`` is a list scheduler over the valid topological
orders: among the ready nodes it runs the one that frees the most bytes (or
allocates the fewest), ties broken by the current position, so the result is
deterministic and equals the current order when nothing is gained::

    Before (both branches' temporaries live at once):   After:
      %a = Exp(%x);  %b = Exp(%y)                          %a = Exp(%x);  %c = ReduceSum(%a)
      %c = ReduceSum(%a);  %d = ReduceSum(%b)              %b = Exp(%y);  %d = ReduceSum(%b)

``make_schedule(graph, bindings)`` returns the ``Schedule``: ``order`` (nodes),
``plan`` (a ``MemoryPlan`` for those bindings, see ``passes/memory.py``) and
``levels`` (node indices by depth: nodes of one level are independent and may
run concurrently). The ``schedule`` pass reorders ``graph.nodes`` in place.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Dict, List, Optional

from ..ir import Graph, Node
from ..ir.liveness import Liveness
from .manager import graph_pass
from .memory import MemoryPlan, plan_memory

#: size used for a symbolic dimension when ranking nodes (only the ranking depends on it)
DEFAULT_DIM = 64


@dataclass
class Schedule:
    graph: Graph
    order: List[Node]
    levels: List[List[int]]  # indices into ``order``
    plan: Optional[MemoryPlan] = None

    def describe(self) -> str:
        widths = [len(lv) for lv in self.levels]
        text = f"schedule of {len(self.order)} nodes in {len(self.levels)} levels (widest {max(widths, default=0)})"
        return text + ("\n" + self.plan.report() if self.plan else "")


def _bytes(v, bindings) -> int:
    n = 1
    for d in v.type.shape:
        n *= bindings.get(d, DEFAULT_DIM) if isinstance(d, str) else d
    return n * v.type.dtype.numpy.itemsize


def memory_aware_order(graph: Graph, bindings: Optional[Dict[str, int]] = None,
                       updates_last: bool = True) -> List[Node]:
    """A topological order that greedily keeps few bytes live (see module doc); with ``updates_last``
    a node making a parameter's update runs after the parameter's other readers."""
    bindings = bindings or {}
    nodes = graph.nodes
    pos = {id(n): i for i, n in enumerate(nodes)}
    keep = graph.exported_ids()
    waiting = [0] * len(nodes)  # producers not yet run
    users: List[List[int]] = [[] for _ in nodes]
    remaining = {}  # id(value) -> readers not yet run
    for i, n in enumerate(nodes):
        prods = {pos[id(v.producer)] for v in n.inputs if v.producer is not None}
        waiting[i] = len(prods)
        for p in sorted(prods):
            users[p].append(i)
        for v in n.inputs:
            if v.producer is not None:
                remaining[id(v)] = remaining.get(id(v), 0) + 1

    def score(i):
        n = nodes[i]
        grow = sum(_bytes(o, bindings) for o in n.outputs if o.uses or id(o) in keep)
        freed = sum(_bytes(v, bindings) for v in {id(v): v for v in n.inputs}.values()
                    if v.producer is not None and id(v) not in keep
                    and remaining[id(v)] == sum(1 for u, _ in v.uses if u is n))
        return grow - freed

    for prod, readers in (_update_waits(graph, pos) if updates_last else {}).items():  # write updates after the last reader
        for r in readers:
            users[r].append(prod)
            waiting[prod] += 1

    ready = [(score(i), i) for i in range(len(nodes)) if waiting[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        s, i = heapq.heappop(ready)
        now = score(i)
        if now != s:  # its inputs' other readers ran meanwhile: rank it again
            heapq.heappush(ready, (now, i))
            continue
        n = nodes[i]
        order.append(n)
        for v in n.inputs:
            if v.producer is not None:
                remaining[id(v)] -= 1
        for j in users[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, (score(j), j))
    if len(order) < len(nodes):  # the extra waits made a cycle (an update read by a reader's producer)
        return memory_aware_order(graph, bindings, updates_last=False)
    return order


def _update_waits(graph: Graph, pos) -> Dict[int, List[int]]:
    """For each node making an update value nobody else reads, the other readers of its parameter
    (or of views of it): running it after them lets the memory plan write the update in place."""
    live = Liveness(graph.nodes)  # a reader of a view of p reads p
    out_ids = {id(v) for v in graph.outputs}
    waits = {}
    for p, v in graph.updates:
        if v.producer is None or v.uses or id(v) in out_ids:
            continue
        prod = pos[id(v.producer)]
        waits[prod] = [r for r in live.readers.get(id(p), []) if r != prod]
    return waits


def levels_of(order: List[Node]) -> List[List[int]]:
    """Node indices grouped by depth (longest path from the inputs)."""
    depth: Dict[int, int] = {}
    levels: List[List[int]] = []
    for i, n in enumerate(order):
        d = 1 + max((depth[id(v.producer)] for v in n.inputs if v.producer is not None), default=-1)
        depth[id(n)] = d
        while len(levels) <= d:
            levels.append([])
        levels[d].append(i)
    return levels


def make_schedule(graph: Graph, bindings: Optional[Dict[str, int]] = None, reorder: bool = False) -> Schedule:
    """The schedule of ``graph`` (its current order, or a memory-aware one with ``reorder``)."""
    order = memory_aware_order(graph, bindings) if reorder else list(graph.nodes)
    sched = Schedule(graph, order, levels_of(order))
    if bindings is not None or all(v.type.is_static for n in order for v in n.outputs):
        sched.plan = plan_memory(sched, bindings)
    return sched


@graph_pass("schedule")
def schedule(graph: Graph) -> bool:
    """Reorder the nodes by ``memory_aware_order`` (a valid topological order)."""
    order = memory_aware_order(graph)
    changed = any(a is not b for a, b in zip(order, graph.nodes))
    graph.nodes = order
    return changed
