"""Memory planning: liveness over the node order, buffer reuse, in-place execution.

``plan_memory(graph_or_schedule, bindings)`` walks the nodes in order. Each
value made by a node with an out-kernel (``ir/ops/outkernels.py``) gets a
buffer: the buffer of an input that dies at this node when the op may work in
place, else a free buffer (the smallest that fits, or the largest, grown),
else a new one. A buffer is free again after the last use of every value
stored in it (views such as Reshape keep their source alive). The buffers are
then placed in one arena, largest first, where values whose lifetimes do not
overlap may share bytes (``_pack_arena``). The executor allocates the arena
once per set of bindings of the symbolic dimensions::

    plan = plan_memory(graph, {"N": 512})
    plan.peak_bytes          # size of the arena holding every planned buffer
    plan.no_reuse_bytes      # one buffer per value
    plan.lower_bound_bytes   # max over steps of the bytes live entering or leaving it (this order)
    plan.live_bytes          # per step, for plotting a memory timeline
    plan.buffer_of["h"]      # buffer index of value %h (absent: not planned)
    plan.buffer_bytes        # size of each buffer

A node whose op needs scratch arrays (``Op.workspace``: im2col's columns) takes a free
buffer for the length of its step: the bytes count in ``live_bytes`` at that step, in the
peak and in the lower bound, and ``plan.workspace_of[node]`` is the buffer the executors
carve the arrays from (``ir/ops/outkernels.workspace_layout``).

``update_into_param``: an update value whose node runs after every other
reader of its parameter is written straight into the parameter's array
(``plan.param_outputs``), saving a copy per step.

``reuse=False`` gives every value its own bytes (results computed in place on an
input that dies there excepted): the dataflow executor's plan, since a reused
buffer orders its next writer after all its readers, which would chain
independent nodes of the sequential order together.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..ir import Graph
from ..ir.liveness import Liveness
from ..ir.ops.outkernels import has_out_kernel, inplace_inputs, workspace_layout


@dataclass
class MemoryPlan:
    order: List[str]  # node names, in execution order
    bindings: Dict[str, int]
    buffer_of: Dict[str, int] = field(default_factory=dict)  # value name -> buffer index
    alias_of: Dict[str, int] = field(default_factory=dict)  # node name -> input index computed in place
    param_outputs: Dict[str, str] = field(default_factory=dict)  # value name -> parameter written in place
    workspace_of: Dict[str, int] = field(default_factory=dict)  # node name -> buffer of its scratch arrays
    workspace_bytes: Dict[str, int] = field(default_factory=dict)  # node name -> bytes of its scratch arrays
    buffer_bytes: List[int] = field(default_factory=list)
    live_bytes: List[int] = field(default_factory=list)  # bytes of values live at each step
    no_reuse_bytes: int = 0
    lower_bound_bytes: int = 0  # see plan_memory: no plan of this order can use fewer

    buffer_offsets: List[int] = field(default_factory=list)  # where each buffer starts in the arena
    _overlaps: Optional[List[List[int]]] = field(default=None, init=False, repr=False, compare=False)

    @property
    def peak_bytes(self) -> int:
        """Size of the one arena holding every buffer."""
        return max((o + b for o, b in zip(self.buffer_offsets, self.buffer_bytes)), default=0)

    def overlapping(self, b: int) -> List[int]:
        """Buffers whose byte ranges overlap buffer ``b`` (``b`` included): writers must wait for their readers."""
        if self._overlaps is None or len(self._overlaps) != len(self.buffer_bytes):  # once, for the finished plan
            self._overlaps = _overlaps(self.buffer_offsets, self.buffer_bytes)
        return self._overlaps[b]

    def report(self) -> str:
        mib = 1 / 2 ** 20
        return (f"memory plan ({', '.join(f'{k}={v}' for k, v in sorted(self.bindings.items())) or 'static'}): "
                f"{len(self.buffer_bytes)} buffers for {len(self.buffer_of)} values; "
                f"planned peak {self.peak_bytes * mib:.3f} MiB, lower bound {self.lower_bound_bytes * mib:.3f} MiB, "
                f"no reuse {self.no_reuse_bytes * mib:.3f} MiB; {len(self.alias_of)} nodes in place, "
                f"{len(self.param_outputs)} updates written into their parameters"
                + (f"; {len(self.workspace_of)} workspaces (largest "
                   f"{max(self.workspace_bytes.values()) * mib:.3f} MiB)" if self.workspace_of else ""))


def _overlaps(offsets: List[int], sizes: List[int]) -> List[List[int]]:
    """For each byte range ``[offset, offset + size)``, the ranges it overlaps (itself included if not
    empty), in index order: one sweep by start, so the cost is the number of overlapping pairs, not buffers²."""
    out: List[List[int]] = [[] for _ in offsets]
    active: List[int] = []  # ranges begun and not yet ended at the current start
    for b in sorted(range(len(offsets)), key=lambda c: (offsets[c], c)):
        lo = offsets[b]
        active = [c for c in active if offsets[c] + sizes[c] > lo]
        if sizes[b] == 0:  # an empty range: only the ranges strictly around its position, not itself
            for c in active:
                if offsets[c] < lo:
                    out[b].append(c)
                    out[c].append(b)
            continue
        for c in active:
            out[b].append(c)
            out[c].append(b)
        out[b].append(b)
        active.append(b)
    return [sorted(o) for o in out]


def _nbytes(v, bindings) -> int:
    return v.type.require_nbytes(bindings, f"memory planning of %{v.name}: ")


def plan_memory(graph_or_schedule, bindings: Optional[Dict[str, int]] = None,
                update_into_param: bool = True, reuse: bool = True) -> MemoryPlan:
    """Plan buffers for the node order of a graph (or of a ``Schedule``); see the module doc."""
    graph: Graph = getattr(graph_or_schedule, "graph", graph_or_schedule)
    nodes = list(getattr(graph_or_schedule, "order", None) or graph.nodes)
    bindings = dict(bindings or {})
    plan = MemoryPlan([n.name for n in nodes], bindings)
    live = Liveness(nodes, graph.exported_ids())  # views share their owner's storage
    death = live.death  # id(owner) -> last step its storage is read
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
            if live.owner(o) == id(o) and has_out_kernel(n) and id(o) not in upd_target:
                born_at.setdefault(i, []).append(o)
    live_now = 0
    dying_at: Dict[int, List[int]] = {}
    for r, d in death.items():
        dying_at.setdefault(d, []).append(r)
    sizes = {}
    for i, n in enumerate(nodes):
        outs = born_at.get(i, [])
        before = live_now  # what must be held entering the step
        for o in outs:
            sizes[id(o)] = _nbytes(o, bindings)
            live_now += sizes[id(o)]
            plan.no_reuse_bytes += sizes[id(o)]
        if has_out_kernel(n) and len(n.outputs) == 1:
            o = n.outputs[0]
            if id(o) in upd_target:
                p = upd_target[id(o)]
                plan.param_outputs[o.name] = p.name
                k = next((k for k, v in enumerate(n.inputs) if v is p), -1)
                if k >= 0 and k in inplace_inputs(n):
                    plan.alias_of[n.name] = k
            elif outs:
                _assign(plan, n, o, i, sizes[id(o)], live, free, holds, buf_of_root)
        # a result computed in place overwrites its input: the two are one buffer, counted once
        k = plan.alias_of.get(n.name)
        overwritten = sizes.get(live.owner(n.inputs[k]), 0) if k is not None and outs else 0
        scratch = workspace_layout(n, bindings).nbytes
        plan.live_bytes.append(live_now - overwritten + scratch)
        ws = None
        if scratch:  # held only during the step, with the inputs and the results: all count
            ws = plan.workspace_of[n.name] = _take(plan, free, scratch)
            plan.workspace_bytes[n.name] = scratch
            plan.no_reuse_bytes += scratch
            plan.lower_bound_bytes = max(plan.lower_bound_bytes, plan.live_bytes[-1])
        for r in dying_at.get(i, []):  # values last read here release their buffers
            if r in sizes and death.get(r) == i:
                live_now -= sizes[r]
            b = buf_of_root.get(r)
            if b is not None and holds.get(b) == r:
                del holds[b]
                if reuse:
                    free.append(b)
        # Any plan holds every value live entering the step and every value live leaving it; an
        # in-place step needs no more than that, so the larger of the two is a true lower bound.
        plan.lower_bound_bytes = max(plan.lower_bound_bytes, before, live_now)
        if ws is not None:
            free.append(ws)
        for o in outs:  # a result nobody reads dies at once
            if death.get(id(o)) is None:
                live_now -= sizes[id(o)]
                b = buf_of_root.get(id(o))
                if b is not None and holds.get(b) == id(o):
                    del holds[b]
                    if reuse:
                        free.append(b)
    if reuse:
        _pack_arena(plan, nodes, death)
    else:
        plan.buffer_offsets = [sum(plan.buffer_bytes[:b]) for b in range(len(plan.buffer_bytes))]
    return plan


ALIGN = 64  # bytes: every buffer starts on a cache line (and a SIMD-friendly boundary)
MAX_ARENA_OBJECTS = 2000  # beyond this many planned values, keep separate buffers (placement is quadratic)


def _pack_arena(plan, nodes, death) -> None:
    """Place every buffer at an offset in one arena, if that needs fewer bytes than the separate
    buffers of the greedy walk: largest first ("greedy by size", as in TFLite's planner) or
    first born first, whichever packs tighter.

    Values computed in place form one storage object with the input they overwrite. An
    object's lifetime runs from its first write to its last read, inclusive; objects whose
    lifetimes overlap get disjoint byte ranges. Each object in turn takes the smallest gap
    between the ranges of the objects it overlaps in time that fits it, else the end. Unlike
    separate buffers, a large late value (a weight gradient) can then use the
    room of several small dead ones.
    """
    step_of = {n.name: i for i, n in enumerate(nodes)}
    obj_of: Dict[str, int] = {}
    objects: List[List[int]] = []  # [first step, last step, bytes]
    for n in nodes:
        for o in n.outputs:
            if o.name not in plan.buffer_of:
                continue
            i = step_of[n.name]
            end = death.get(id(o), i)
            size = -(-_nbytes(o, plan.bindings) // ALIGN) * ALIGN
            k = plan.alias_of.get(n.name)
            if k is not None and n.inputs[k].name in obj_of:
                j = obj_of[n.inputs[k].name]
                objects[j][1] = max(objects[j][1], end)
                objects[j][2] = max(objects[j][2], size)
            else:
                j = len(objects)
                objects.append([i, end, size])
            obj_of[o.name] = j
    ws_obj = {}
    for name, size in plan.workspace_bytes.items():  # scratch lives for its one step
        i = step_of[name]
        ws_obj[name] = len(objects)
        objects.append([i, i, -(-size // ALIGN) * ALIGN])
    if len(objects) > MAX_ARENA_OBJECTS:  # the placement below is quadratic; keep the greedy buffers
        plan.buffer_offsets = _side_by_side(plan.buffer_bytes)
        return
    arena, offset = None, None
    orders = [lambda j: (-objects[j][2], objects[j][0], j),  # largest first
              lambda j: (objects[j][0], -objects[j][2], j)]  # first born first
    for key in orders:  # keep whichever placement needs the smaller arena
        placed = _place(objects, sorted(range(len(objects)), key=key))
        size = max((placed[j] + objects[j][2] for j in placed), default=0)
        if arena is None or size < arena:
            arena, offset = size, placed
    if arena <= sum(plan.buffer_bytes):
        plan.buffer_bytes = [objects[j][2] for j in range(len(objects))]
        plan.buffer_offsets = [offset[j] for j in range(len(objects))]
        plan.buffer_of = dict(obj_of)
        plan.workspace_of = ws_obj
    else:
        plan.buffer_offsets = _side_by_side(plan.buffer_bytes)


def _side_by_side(sizes: List[int]) -> List[int]:
    """Offsets of buffers laid end to end (a running sum: linear, where summing each prefix was not)."""
    return list(itertools.accumulate(sizes, initial=0))[:-1]


def _place(objects, order) -> Dict[int, int]:
    """Offsets for ``objects`` taken in ``order``: each takes the smallest gap that fits between
    the objects it overlaps in time, else the end of them."""
    offset: Dict[int, int] = {}
    for j in order:
        a0, a1, size = objects[j]
        taken = sorted((offset[m], offset[m] + objects[m][2]) for m in offset
                       if not (a1 < objects[m][0] or objects[m][1] < a0))
        best, at = None, 0
        for lo, hi in taken:
            if lo - at >= size and (best is None or lo - at < best[0]):
                best = (lo - at, at)
            at = max(at, hi)
        offset[j] = best[1] if best is not None else at
    return offset


def _assign(plan, n, o, i, size, live, free, holds, buf_of_root):
    """Pick ``o``'s buffer: an input dying here (in place), a free buffer, or a new one."""
    death = live.death
    roots = [live.owner(v) for v in n.inputs]
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
    b = _take(plan, free, size)
    holds[b] = id(o)
    buf_of_root[id(o)] = b
    plan.buffer_of[o.name] = b


def _take(plan, free, size) -> int:
    """A free buffer for ``size`` bytes (the smallest that fits, else the largest, grown), or a new one."""
    if free:
        fits = [b for b in free if plan.buffer_bytes[b] >= size]
        b = min(fits, key=lambda b: (plan.buffer_bytes[b], b)) if fits else max(
            free, key=lambda b: (plan.buffer_bytes[b], -b))
        free.remove(b)
        plan.buffer_bytes[b] = max(plan.buffer_bytes[b], size)
        return b
    plan.buffer_bytes.append(size)
    return len(plan.buffer_bytes) - 1
