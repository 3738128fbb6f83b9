"""The sequential executor: runs a graph on planned buffers with one generated function.

Both executors take a ``planner(graph, bindings) -> MemoryPlan`` (``passes.memory.plan_memory``;
the runtime layer does not import passes) and, per set of bindings of the
symbolic dimensions (the ``MAX_SPECIALIZATIONS`` most recently used, ``specialize.py``),
allocate the plan's buffers once and bind every node with an out-kernel
(``ir/ops/outkernels.py``) to its buffer, and every node with a workspace
(``Op.workspace``) to its scratch arrays, views of the bytes the plan gave
them (so a call allocates no scratch). Graph outputs get fresh
arrays each call (the caller keeps them); an update planned into its parameter
writes the parameter's array directly, the others are copied after the step.

``SequentialExecutor`` generates one straight-line Python function per
bindings (``v3 = k3(o3, v0, v1)`` …), so a node costs one call. ``_Prepared``
also lists each node's dependencies: its producers, and the readers of the
previous value in the buffer it overwrites; the ``DataflowExecutor``
(``dataflow.py``) runs the same code on threads in that order.
"""
from __future__ import annotations

import threading
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from ..ir import ChainruleError, Graph
from ..ir.liveness import Liveness
from ..ir.ops.outkernels import workspace_layout
from ..ir.types import TensorType
from .codegen import Code, fold
from .interpreter import Interpreter
from .threads import BlasSetter
from .limits import check_memory
from .specialize import Specializations
from .split import chunk_lines
from .tiles import tiles

_ndarray = np.ndarray


class Emission(NamedTuple):
    """How a node's lines were made: ``op.emit(code, attrs, out, args, in_types, alias, donated)``
    into the planned array named ``out`` (the dataflow executor emits row ranges of it again)."""
    op: object
    attrs: dict
    out: str
    args: List[str]
    in_types: Sequence[TensorType]
    type: TensorType  # of the result, every dimension bound
    alias: int
    donated: List[int]


class _Prepared:
    """Everything fixed for one set of bindings: buffers, generated code per node, dependencies.

    ``code[i]`` is ``(lines, input slots read, output slots written)`` for node i; ``expr[slot]``
    names the value held in a slot (``v<slot>``, or a bound constant/buffer name in ``ns``);
    ``emitted[i]`` is node i's ``Emission`` if its op emitted it into a planned buffer or parameter.
    Each node is asked, in turn: is its value known now (``Op.foldable``, ``Op.static_value``)?
    Does the plan give it a buffer (``Op.emit`` into it)? Can it make new arrays without
    temporaries (``Op.emit_fresh``)? Else its kernel is called.
    """

    def __init__(self, graph: Graph, plan, params: Dict[str, np.ndarray]):
        self.graph, self.plan = graph, plan
        self.slot: Dict[int, int] = {}
        for v in list(graph.inputs) + list(graph.params):
            self.slot[id(v)] = len(self.slot)
        self.nodes = list(graph.nodes) if plan is None else _ordered(graph, plan)
        for n in self.nodes:
            for o in n.outputs:
                self.slot[id(o)] = len(self.slot)
        self.exported = graph.exported_ids()
        self.fresh = {id(v) for v in graph.outputs}  # the caller keeps these: a new array each call
        self.bindings = plan.bindings if plan is not None else {}
        # one arena per bindings; each planned buffer is a byte range of it (ranges of values whose
        # lifetimes do not overlap may overlap, see passes/memory.py)
        self.arena = np.empty(plan.peak_bytes if plan is not None else 0, np.uint8)
        self.buffers = [self.arena[o:o + b] for o, b in zip(plan.buffer_offsets, plan.buffer_bytes)] \
            if plan is not None else []
        self.gen = Code()
        self.pslot = {p.name: self.slot[id(p)] for p in graph.params}
        self.expr: Dict[int, str] = {s: f"v{s}" for s in self.slot.values()}
        live = self.live = Liveness(self.nodes, self.exported)
        self.donated = [_donated(n, i, plan, live) for i, n in enumerate(self.nodes)]
        self.emitted: Dict[int, Emission] = {}
        self.tiles: Dict[int, list] = {}  # node -> the slices its product is computed in (tiles.py)
        self.code = [self._node(i, n) for i, n in enumerate(self.nodes)]
        self.deps = _dependencies(graph, self.nodes, plan, live, self.donated)

    def _node(self, i, n):
        gen, plan = self.gen, self.plan
        ins = tuple(self.slot[id(v)] for v in n.inputs)
        outs = tuple(self.slot[id(o)] for o in n.outputs)
        args = [self.expr[s] for s in ins]
        in_types = [_bound(v.type, self.bindings) for v in n.inputs]
        o, attrs = n.outputs[0], dict(n.attrs)
        t = _bound(o.type, self.bindings)
        if len(outs) == 1 and id(o) not in self.exported and t.is_static:
            value = _known(n.op, attrs, [gen.known.get(a) for a in args], in_types, t)
            if value is not None:
                self.expr[outs[0]] = gen.known_value(value)
                return [], ins, outs
        lines: List[str] = []
        dst = self._destination(o, t, outs[0], lines)
        ws = self._workspace(n, in_types)
        if dst is not None:
            alias = plan.alias_of.get(n.name, -1)
            donated = [k for k in self.donated[i] if self.expr[ins[k]] not in gen.known]
            extra = {} if ws is None else {"workspace": ws}
            e = Emission(n.op, attrs, dst, args, in_types, t, alias, donated)
            recorded = ws is None and id(o) not in self.fresh and len(outs) == 1
            cut = tiles(e) if recorded else None
            if cut:  # a big product, in the same slices in every executor (tiles.py)
                self.tiles[i] = cut
                lines += [ln for span in cut for ln in chunk_lines(gen, e, span)]
            else:
                lines += n.op.emit(gen, attrs, dst, args, in_types, alias, donated, **extra)
            self.expr[outs[0]] = dst
            if recorded:
                self.emitted[i] = e
            return lines, ins, outs
        lhs = [f"v{s}" for s in outs]
        if ws is not None:
            args = args + [f"workspace={ws}"]
        fresh = n.op.emit_fresh(gen, attrs, lhs, args, in_types) if all(t.is_static for t in in_types) \
            and ws is None else None
        if fresh is not None:
            return fresh, ins, outs
        k = gen.const(n.op.kernel(attrs), "k")
        # a graph output that is a view (of a reused buffer, or of a parameter an update will
        # overwrite) is copied here, so the caller keeps this call's value
        copy = ".copy()" if n.op.view and id(o) in self.exported else ""
        return [f"{', '.join(lhs)}{',' if len(outs) > 1 else ''} = {k}({', '.join(args)}){copy}"], ins, outs

    def _workspace(self, n, in_types) -> Optional[str]:
        """The name of the node's scratch arrays, views of the bytes the plan gave them, or None."""
        plan = self.plan
        if plan is None or n.name not in plan.workspace_of:
            return None
        lay = workspace_layout(n, self.bindings, in_types)
        buf = self.buffers[plan.workspace_of[n.name]]
        arrays = []
        for t, at in zip(lay.types, lay.offsets):
            nbytes = t.require_nbytes(self.bindings)
            arrays.append(buf[at:at + nbytes].view(t.dtype.numpy).reshape(t.shape))
        return self.gen.const(arrays, "w")

    def _destination(self, o, t: TensorType, slot: int, lines: List[str]) -> Optional[str]:
        """The array a planned value is written into: its parameter, a new array for a graph
        output (allocated by a line added to ``lines``), or its buffer; None if not planned."""
        plan, gen = self.plan, self.gen
        if plan is None or not (o.name in plan.buffer_of or o.name in plan.param_outputs):
            return None
        if o.name in plan.param_outputs:
            return self.expr[self.pslot[plan.param_outputs[o.name]]]
        dt = o.type.dtype.numpy
        if id(o) in self.fresh:
            lines.append(f"v{slot} = empty({gen.const(t.shape, 's')}, {gen.const(dt, 'd')})")
            return f"v{slot}"
        nbytes = int(np.prod(t.shape, dtype=np.int64)) * dt.itemsize
        return gen.const(self.buffers[plan.buffer_of[o.name]][:nbytes].view(dt).reshape(t.shape), "b")


def _known(op, attrs, vals, in_types, t: TensorType):
    """The node's value if it is the same on every call with these bindings, else None."""
    if op.foldable and all(v is not None for v in vals):
        return fold(op, attrs, vals, t)
    return op.static_value(in_types, attrs)


def _donated(n, i: int, plan, live: Liveness) -> List[int]:
    """The inputs of node ``i`` in planned buffers that die there (no later reader, no view, not
    kept), if its op may overwrite them (``Op.uses_donated``: a Fused node's intermediate steps)."""
    if plan is None or not n.op.uses_donated:
        return []
    ids = [id(v) for v in n.inputs]
    return [k for k, v in enumerate(n.inputs)
            if v.name in plan.buffer_of and live.dies_at(v, i) and ids.count(id(v)) == 1]


def _bound(t: TensorType, bindings) -> TensorType:
    if t.is_static:
        return t
    return TensorType(tuple(bindings.get(d, d) if isinstance(d, str) else d for d in t.shape), t.dtype)


def _ordered(graph, plan):
    by_name = {n.name: n for n in graph.nodes}
    return [by_name[name] for name in plan.order]


def _overlapping(plan, key):
    """Storage keys sharing bytes with ``key``: a parameter alone, a buffer with those it overlaps."""
    if key[0] != "buf":
        return [key]
    return [("buf", b) for b in plan.overlapping(key[1])]


def _dependencies(graph, nodes, plan, live: Liveness, donated) -> List[List[int]]:
    """For each node, the nodes that must finish first: producers, and the readers and writer of
    the previous value in the buffer (or parameter) it overwrites."""
    index = {id(n): i for i, n in enumerate(nodes)}
    where = {id(p): ("param", p.name) for p in graph.params}  # id(owner) -> storage key
    readers: Dict[object, List[int]] = {}
    writer: Dict[object, int] = {}
    deps = []
    for i, n in enumerate(nodes):
        d = {index[id(v.producer)] for v in n.inputs if v.producer is not None}
        for v in n.inputs:
            key = where.get(live.owner(v))
            if key is not None:
                readers.setdefault(key, []).append(i)
        for k in donated[i]:  # overwrites a dying input: after its other readers
            for key in _overlapping(plan, ("buf", plan.buffer_of[n.inputs[k].name])):
                d.update(r for r in readers.get(key, []) if r != i)
                if key in writer:
                    d.add(writer[key])
        o = n.outputs[0]
        key = None
        if plan is not None and o.name in plan.param_outputs:
            key = ("param", plan.param_outputs[o.name])
        elif plan is not None and o.name in plan.buffer_of:
            key = ("buf", plan.buffer_of[o.name])
        if key is not None:
            where[id(o)] = key
        written = [] if key is None else [key]
        if plan is not None and n.name in plan.workspace_of:  # scratch bytes are written too
            written.append(("buf", plan.workspace_of[n.name]))
        for key in written:
            for other in _overlapping(plan, key):  # every earlier value in these bytes is read first
                d.update(r for r in readers.get(other, []) if r != i)
                if other in writer:
                    d.add(writer[other])
            readers[key] = []
            writer[key] = i
        deps.append(sorted(d))
    return deps


class SequentialExecutor:
    """Runs the planned graph with one generated straight-line function per set of bindings."""

    def __init__(self, graph: Graph, params: Optional[Dict[str, np.ndarray]] = None,
                 planner: Optional[Callable] = None, threads: Optional[int] = None):
        self.graph = graph
        self.interpreter = Interpreter(graph, params)  # input checks and error messages
        self.params = self.interpreter.params
        self.planner = planner
        self.threads = threads
        self._setb: Optional[BlasSetter] = None
        self.plans: Dict[tuple, object] = {}
        self._fns: Dict[tuple, Callable] = {}
        self._syms = [(k, j, d) for k, v in enumerate(graph.inputs) for j, d in enumerate(v.type.shape)
                      if isinstance(d, str)]
        self._dtypes = [v.type.dtype.numpy for v in graph.inputs]
        # input shapes -> step function, the least recently used dropped past MAX_SPECIALIZATIONS (the
        # shapes fix the symbol sizes, the key of _fns and plans, which are dropped with it)
        self._by_shape = Specializations(on_evict=self._evict)
        self._keys = [(k, graph.keys[v.name]) for k, v in enumerate(graph.inputs) if v.name in graph.keys]
        # one call at a time: every call shares the planned buffers (a lock: ~0.3 us a call, measured)
        self._lock = threading.Lock()

    def _key(self, arrays):
        return tuple(arrays[k].shape[j] for k, j, _ in self._syms)

    def _evict(self, shapes, fn):
        """Forget the plan and code of the symbol sizes that ``shapes`` fixed (their buffers go with them)."""
        key = tuple(shapes[k][j] for k, j, _ in self._syms)
        self._fns.pop(key, None)
        self.plans.pop(key, None)

    def prepared(self, key) -> _Prepared:
        bindings = {d: key[i] for i, (_, _, d) in enumerate(self._syms)}
        plan = self.planner(self.graph, bindings) if self.planner else None
        # before the arena is allocated: the live values, or the planned arena if it is larger
        check_memory(self.graph, bindings, max(self.interpreter.peak_bytes(bindings), plan.peak_bytes if plan else 0))
        self.plans[key] = plan
        return _Prepared(self.graph, plan, self.params)

    def _updates(self, prep):
        """(param slot, value slot) for each update not written into its parameter by the plan."""
        plan = prep.plan
        return [(prep.slot[id(p)], prep.slot[id(v)]) for p, v in self.graph.updates
                if plan is None or v.name not in plan.param_outputs]

    def step_head(self, prep):
        """The generated step's first lines (inputs and parameters bound to their slots, outputs
        that are parameters copied before the updates) and the expressions of its results."""
        g = self.graph
        lines = ["def step(inputs, P):"]
        for k, v in enumerate(g.inputs):
            lines.append(f"    v{prep.slot[id(v)]} = inputs[{k}]")
        for v in g.params:
            lines.append(f"    v{prep.slot[id(v)]} = P[{v.name!r}]")
        results = [prep.expr[prep.slot[id(v)]] for v in g.outputs]
        for k, v in enumerate(g.outputs):
            if v.kind in ("param", "state"):  # returned as it was before this step's updates
                lines.append(f"    r{k} = {results[k]}.copy()")
                results[k] = f"r{k}"
        return lines, results

    def step_tail(self, prep, results):
        """The generated step's last lines: the updates not planned in place, then the results."""
        lines = [f"    copyto({prep.expr[ps]}, {prep.expr[vs]})" for ps, vs in self._updates(prep)]
        return lines + [f"    return [{', '.join(results)}]"]

    def _compile(self, key):
        prep = self.prepared(key)
        g = self.graph
        lines, results = self.step_head(prep)
        for body, _, _ in prep.code:
            lines += ["    " + ln for ln in body]
        lines += self.step_tail(prep, results)
        ns = prep.gen.ns
        self.source = "\n".join(lines)
        exec(compile(self.source, f"<chainrule step {g.name}>", "exec"), ns)  # noqa: S102 (generated code)
        return ns["step"]

    def _slow(self, arrays):
        """Full input check (the interpreter's errors), then the step function for these shapes."""
        if len(arrays) != len(self.graph.inputs):
            self.interpreter.run_list(list(arrays))  # raises the interpreter's InputError
        arrays = self.interpreter.check_inputs(list(arrays))
        shapes = tuple(a.shape for a in arrays)
        fn = self._by_shape.use(shapes)
        if fn is None:
            key = self._key(arrays)
            fn = self._fns.get(key)
            if fn is None:
                fn = self._fns[key] = self._compile(key)
            self._by_shape.add(shapes, fn)
        return arrays, fn

    def _lookup(self, arrays):
        """The step function for these inputs: one look-up by shapes and a dtype check when warm (and
        a comparison of the specialisation keys' values, if the graph has keys)."""
        try:
            shapes = tuple([a.shape for a in arrays])
            fn = self._by_shape.get(shapes)
        except AttributeError:  # not arrays: convert and check them
            fn = None
        if fn is None or not all([type(a) is _ndarray and a.dtype is d for a, d in zip(arrays, self._dtypes)]) \
                or (self._keys and not all([np.array_equal(arrays[k], v) for k, v in self._keys])):
            return self._slow(arrays)
        if len(self._by_shape) > 1:  # the recency of least-recently-used (none to keep with one entry)
            self._by_shape.move_to_end(shapes)
        return arrays, fn

    def run_list(self, arrays) -> List[np.ndarray]:
        with self._lock:
            return self._run_list(arrays)

    def _run_list(self, arrays) -> List[np.ndarray]:
        arrays, fn = self._lookup(arrays)
        try:
            if self.threads:
                return self._blas().run(self.threads, fn, arrays, self.params)
            return fn(arrays, self.params)
        except ChainruleError:
            raise
        except Exception:
            self.interpreter.run_list(arrays)  # re-run to name the failing node (ExecutionError)
            raise

    def _blas(self) -> BlasSetter:
        if self._setb is None:  # made on first use: finding the BLAS libraries costs ~0.4 ms
            self._setb = BlasSetter()
        return self._setb

    def run(self, feeds):
        names = [v.name for v in self.graph.inputs]
        if sorted(feeds) != sorted(names):
            return self.interpreter.run(feeds)  # raises its InputError
        outs = self.run_list([feeds[n] for n in names])
        return {v.name: a for v, a in zip(self.graph.outputs, outs)}
