"""Memory planning: liveness over the node order, buffer reuse, in-place execution.

``plan_memory(graph_or_schedule, bindings)`` walks the nodes in order. Each
value made by a node with an out-kernel (``ir/ops/outkernels.py``) gets a
buffer: the buffer of an input that dies at this node when the op may work in
place, else a free buffer (the smallest that fits, or the largest, grown),
else a new one. A buffer is free again after the last use of every value
stored in it (views such as Reshape keep their source alive). Buffers are
allocated once, by the executor, per set of bindings of the symbolic
dimensions::

    plan = plan_memory(graph, {"N": 512})
    plan.peak_bytes          # sum of the planned buffers
    plan.no_reuse_bytes      # one buffer per value
    plan.lower_bound_bytes   # max over steps of the bytes live at that step (this order)
    plan.live_bytes          # per step, for plotting a memory timeline
    plan.buffer_of["h"]      # buffer index of value %h (absent: not planned)
    plan.buffer_bytes        # size of each buffer

``update_into_param``: an update value whose node runs after every other
reader of its parameter is written straight into the parameter's array
(``plan.param_outputs``), saving a copy per step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..ir import Graph, InputError
from ..ir.ops.outkernels import has_out_kernel, inplace_inputs, view_source


@dataclass
class MemoryPlan:
    order: List[str]  # node names, in execution order
    bindings: Dict[str, int]
    buffer_of: Dict[str, int] = field(default_factory=dict)  # value name -> buffer index
    alias_of: Dict[str, int] = field(default_factory=dict)  # node name -> input index computed in place
    param_outputs: Dict[str, str] = field(default_factory=dict)  # value name -> parameter written in place
    buffer_bytes: List[int] = field(default_factory=list)
    live_bytes: List[int] = field(default_factory=list)  # bytes of values live at each step
    no_reuse_bytes: int = 0

    @property
    def peak_bytes(self) -> int:
        return sum(self.buffer_bytes)

    @property
    def lower_bound_bytes(self) -> int:
        return max(self.live_bytes, default=0)

    def report(self) -> str:
        mib = 1 / 2 ** 20
        return (f"memory plan ({', '.join(f'{k}={v}' for k, v in sorted(self.bindings.items())) or 'static'}): "
                f"{len(self.buffer_bytes)} buffers for {len(self.buffer_of)} values; "
                f"planned peak {self.peak_bytes * mib:.3f} MiB, lower bound {self.lower_bound_bytes * mib:.3f} MiB, "
                f"no reuse {self.no_reuse_bytes * mib:.3f} MiB; {len(self.alias_of)} nodes in place, "
                f"{len(self.param_outputs)} updates written into their parameters")


def _nbytes(v, bindings) -> int:
    n = v.type.nbytes(bindings)
    if n is None:
        missing = [d for d in v.type.shape if isinstance(d, str) and d not in bindings]
        raise InputError(f"memory planning needs a size for dimension(s) {', '.join(missing)} of %{v.name} "
                         f"({v.type}); pass bindings such as {{{missing[0]!r}: 32}}")
    return n


def plan_memory(graph_or_schedule, bindings: Optional[Dict[str, int]] = None,
                update_into_param: bool = True) -> MemoryPlan:
    """Plan buffers for the node order of a graph (or of a ``Schedule``); see the module doc."""
    graph: Graph = getattr(graph_or_schedule, "graph", graph_or_schedule)
    nodes = list(getattr(graph_or_schedule, "order", None) or graph.nodes)
    bindings = dict(bindings or {})
    plan = MemoryPlan([n.name for n in nodes], bindings)
    end = len(nodes)
    keep = {id(v) for v in graph.outputs} | {id(v) for _, v in graph.updates}
    root = {}  # id(value) -> id of the value owning its storage (views share it)
    death: Dict[int, int] = {}  # id(root value) -> last step its storage is read
    for i, n in enumerate(nodes):
        for v in n.inputs:
            r = root.get(id(v), id(v))
            death[r] = max(death.get(r, -1), i)
        src = view_source(n)
        for o in n.outputs:
            root[id(o)] = root.get(id(n.inputs[src]), id(n.inputs[src])) if src is not None else id(o)
            if id(o) in keep:
                death[root[id(o)]] = end
    # updates written straight into their parameter: the node must be the last reader of the parameter
    upd_target = {}
    if update_into_param:
        for p, v in graph.updates:
            prod = v.producer
            if prod is None or not has_out_kernel(prod) or any(o is v for o in graph.outputs):
                continue
            if sum(1 for _, u in graph.updates if u is v) != 1 or v.uses:
                continue
            if death.get(id(p), -1) <= nodes.index(prod):  # no reader of p (or of a view of it) after
                upd_target[id(v)] = p
    free: List[int] = []  # buffer indices not holding a live value
    holds: Dict[int, int] = {}  # buffer -> id(root value) stored in it
    buf_of_root: Dict[int, int] = {}
    born_at: Dict[int, List] = {}
    for i, n in enumerate(nodes):
        for o in n.outputs:
            if root[id(o)] == id(o) and has_out_kernel(n) and id(o) not in upd_target:
                born_at.setdefault(i, []).append(o)
    live_now = 0
    dying_at: Dict[int, List[int]] = {}
    for r, d in death.items():
        dying_at.setdefault(d, []).append(r)
    sizes = {}
    for i, n in enumerate(nodes):
        outs = born_at.get(i, [])
        for o in outs:
            sizes[id(o)] = _nbytes(o, bindings)
            live_now += sizes[id(o)]
            plan.no_reuse_bytes += sizes[id(o)]
        plan.live_bytes.append(live_now)
        if has_out_kernel(n) and len(n.outputs) == 1:
            o = n.outputs[0]
            if id(o) in upd_target:
                p = upd_target[id(o)]
                plan.param_outputs[o.name] = p.name
                k = next((k for k, v in enumerate(n.inputs) if v is p), -1)
                if k >= 0 and k in inplace_inputs(n):
                    plan.alias_of[n.name] = k
            elif outs:
                _assign(plan, n, o, i, sizes[id(o)], root, death, free, holds, buf_of_root)
        for r in dying_at.get(i, []):  # values last read here release their buffers
            if r in sizes and death.get(r) == i:
                live_now -= sizes[r]
            b = buf_of_root.get(r)
            if b is not None and holds.get(b) == r:
                del holds[b]
                free.append(b)
        for o in outs:  # a result nobody reads dies at once
            if death.get(id(o)) is None:
                live_now -= sizes[id(o)]
                b = buf_of_root.get(id(o))
                if b is not None and holds.get(b) == id(o):
                    del holds[b]
                    free.append(b)
    return plan


def _assign(plan, n, o, i, size, root, death, free, holds, buf_of_root):
    """Pick ``o``'s buffer: an input dying here (in place), a free buffer, or a new one."""
    roots = [root.get(id(v), id(v)) for v in n.inputs]
    for k in inplace_inputs(n):
        r = roots[k]
        b = buf_of_root.get(r)
        if b is not None and holds.get(b) == r and death.get(r) == i and roots.count(r) == 1:
            plan.alias_of[n.name] = k
            holds[b] = id(o)
            buf_of_root[id(o)] = b
            plan.buffer_of[o.name] = b
            plan.buffer_bytes[b] = max(plan.buffer_bytes[b], size)
            return
    if free:
        fits = [b for b in free if plan.buffer_bytes[b] >= size]
        b = min(fits, key=lambda b: (plan.buffer_bytes[b], b)) if fits else max(
            free, key=lambda b: (plan.buffer_bytes[b], -b))
        free.remove(b)
        plan.buffer_bytes[b] = max(plan.buffer_bytes[b], size)
    else:
        b = len(plan.buffer_bytes)
        plan.buffer_bytes.append(size)
    holds[b] = id(o)
    buf_of_root[id(o)] = b
    plan.buffer_of[o.name] = b
