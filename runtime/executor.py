"""Executors that run a graph on planned buffers: sequential (least overhead) and dataflow (threads).

Both take a ``planner(graph, bindings) -> MemoryPlan`` (``passes.memory.plan_memory``;
the runtime layer does not import passes) and, per set of bindings of the
symbolic dimensions, allocate the plan's buffers once and bind every node with
an out-kernel (``ir/ops/outkernels.py``) to its buffer. Graph outputs get fresh
arrays each call (the caller keeps them); an update planned into its parameter
writes the parameter's array directly, the others are copied after the step.

``SequentialExecutor`` generates one straight-line Python function per
bindings (``v3 = k3(o3, v0, v1)`` …), so a node costs one call. The
``DataflowExecutor`` runs ready nodes on a small thread pool (NumPy releases
the GIL in BLAS and ufunc loops); besides true dependencies it orders a node
that overwrites a buffer after every reader of the buffer's previous value,
so its results are bit-identical to the sequential executor's.
"""
from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional

import numpy as np

from ..ir import ChainruleError, Graph
from ..ir.ops.outkernels import out_kernel, view_source
from .interpreter import Interpreter


def blas_threads(n: Optional[int]):
    """A context manager capping BLAS/OpenMP threads (threadpoolctl), or a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional dependency
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=n) if n else __import__("contextlib").nullcontext()


class _Prepared:
    """Everything fixed for one set of bindings: kernels, buffers, slots, dependencies."""

    def __init__(self, graph: Graph, plan, params: Dict[str, np.ndarray]):
        self.slot: Dict[int, int] = {}
        for v in list(graph.inputs) + list(graph.params):
            self.slot[id(v)] = len(self.slot)
        for n in graph.nodes if plan is None else _ordered(graph, plan):
            for o in n.outputs:
                self.slot[id(o)] = len(self.slot)
        self.nodes = list(graph.nodes) if plan is None else _ordered(graph, plan)
        outputs = {id(v) for v in graph.outputs}
        bindings = plan.bindings if plan is not None else {}
        self.buffers = [np.empty(b, np.uint8) for b in (plan.buffer_bytes if plan is not None else [])]
        self.steps = []  # (kernel, in slots, out slot, out spec); spec: array, ("fresh", shape, dtype), ("param", name) or None
        for n in self.nodes:
            ins = tuple(self.slot[id(v)] for v in n.inputs)
            outs = tuple(self.slot[id(o)] for o in n.outputs)
            o = n.outputs[0]
            spec, fn = None, None
            if plan is not None and (o.name in plan.buffer_of or o.name in plan.param_outputs):
                fn = out_kernel(n, plan.alias_of.get(n.name, -1))
                shape = tuple(bindings[d] if isinstance(d, str) else d for d in o.type.shape)
                if o.name in plan.param_outputs:
                    spec = ("param", plan.param_outputs[o.name])
                elif id(o) in outputs:
                    spec = ("fresh", shape, o.type.dtype.numpy)
                else:
                    dt = o.type.dtype.numpy
                    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
                    spec = self.buffers[plan.buffer_of[o.name]][:nbytes].view(dt).reshape(shape)
            if fn is None:
                fn, spec = n.op.kernel(dict(n.attrs)), None
            self.steps.append((fn, ins, outs, spec))
        self.deps = _dependencies(graph, self.nodes, plan)


def _ordered(graph, plan):
    by_name = {n.name: n for n in graph.nodes}
    return [by_name[name] for name in plan.order]


def _dependencies(graph, nodes, plan) -> List[List[int]]:
    """For each node, the nodes that must finish first: producers, and the readers and writer of
    the previous value in the buffer (or parameter) it overwrites."""
    index = {id(n): i for i, n in enumerate(nodes)}
    root = {}
    where = {}  # id(root value) -> buffer key
    readers: Dict[object, List[int]] = {}
    writer: Dict[object, int] = {}
    for p in graph.params:
        where[id(p)] = ("param", p.name)
    deps = []
    for i, n in enumerate(nodes):
        d = {index[id(v.producer)] for v in n.inputs if v.producer is not None}
        for v in n.inputs:
            key = where.get(root.get(id(v), id(v)))
            if key is not None:
                readers.setdefault(key, []).append(i)
        o = n.outputs[0]
        src = view_source(n)
        for out in n.outputs:
            root[id(out)] = root.get(id(n.inputs[src]), id(n.inputs[src])) if src is not None else id(out)
        key = None
        if plan is not None and o.name in plan.param_outputs:
            key = ("param", plan.param_outputs[o.name])
        elif plan is not None and o.name in plan.buffer_of:
            key = ("buf", plan.buffer_of[o.name])
        if key is not None:
            d.update(r for r in readers.get(key, []) if r != i)
            if key in writer:
                d.add(writer[key])
            readers[key] = []
            writer[key] = i
            where[id(o)] = key
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
        self.plans: Dict[tuple, object] = {}
        self._fns: Dict[tuple, Callable] = {}
        self._syms = [(k, j, d) for k, v in enumerate(graph.inputs) for j, d in enumerate(v.type.shape)
                      if isinstance(d, str)]
        self._want = [(v.type.dtype.numpy, v.type.rank) for v in graph.inputs]

    def _key(self, arrays):
        return tuple(arrays[k].shape[j] for k, j, _ in self._syms)

    def prepared(self, key) -> _Prepared:
        bindings = {d: key[i] for i, (_, _, d) in enumerate(self._syms)}
        plan = self.planner(self.graph, bindings) if self.planner else None
        self.plans[key] = plan
        return _Prepared(self.graph, plan, self.params)

    def _compile(self, key):
        prep = self.prepared(key)
        g = self.graph
        ns = {"np": np}
        lines = ["def step(inputs, P):"]
        for k, v in enumerate(g.inputs):
            lines.append(f"    v{prep.slot[id(v)]} = inputs[{k}]")
        for v in g.params:
            lines.append(f"    v{prep.slot[id(v)]} = P[{v.name!r}]")
        for i, (fn, ins, outs, spec) in enumerate(prep.steps):
            ns[f"k{i}"] = fn
            args = ", ".join(f"v{s}" for s in ins)
            if spec is None:
                lhs = ", ".join(f"v{s}" for s in outs) + ("," if len(outs) > 1 else "")
                lines.append(f"    {lhs} = k{i}({args})")
                continue
            if isinstance(spec, np.ndarray):
                ns[f"o{i}"] = spec
                lines.append(f"    v{outs[0]} = o{i}")
            elif spec[0] == "param":
                lines.append(f"    v{outs[0]} = P[{spec[1]!r}]")
            else:
                ns[f"s{i}"], ns[f"d{i}"] = spec[1], spec[2]
                lines.append(f"    v{outs[0]} = np.empty(s{i}, d{i})")
            lines.append(f"    k{i}(v{outs[0]}{', ' if args else ''}{args})")
        outs = ", ".join(f"v{prep.slot[id(v)]}" for v in g.outputs)
        planned = set(self.plans[key].param_outputs.values()) if self.plans[key] is not None else set()
        for p, v in g.updates:
            if p.name not in planned or v.name not in self.plans[key].param_outputs:
                lines.append(f"    np.copyto(P[{p.name!r}], v{prep.slot[id(v)]})")
        lines.append(f"    return [{outs}]")
        exec(compile("\n".join(lines), f"<chainrule step {g.name}>", "exec"), ns)  # noqa: S102 (generated code)
        self.source = "\n".join(lines)
        return ns["step"]

    def _checked(self, arrays):
        ok = len(arrays) == len(self._want) and all(
            type(a) is np.ndarray and a.dtype == dt and a.ndim == r for a, (dt, r) in zip(arrays, self._want))
        return list(arrays) if ok else self.interpreter.check_inputs(self._count(arrays))

    def _count(self, arrays):
        if len(arrays) != len(self.graph.inputs):
            self.interpreter.run_list(list(arrays))  # raises the interpreter's InputError
        return list(arrays)

    def run_list(self, arrays) -> List[np.ndarray]:
        arrays = self._checked(arrays)
        key = self._key(arrays)
        fn = self._fns.get(key)
        if fn is None:
            self.interpreter.check_inputs(arrays)  # first call with these sizes: full check
            fn = self._fns[key] = self._compile(key)
        try:
            with blas_threads(self.threads):
                return fn(arrays, self.params)
        except ChainruleError:
            raise
        except Exception:
            self.interpreter.run_list(arrays)  # re-run to name the failing node (ExecutionError)
            raise

    def run(self, feeds):
        names = [v.name for v in self.graph.inputs]
        if sorted(feeds) != sorted(names):
            return self.interpreter.run(feeds)  # raises its InputError
        outs = self.run_list([feeds[n] for n in names])
        return {v.name: a for v, a in zip(self.graph.outputs, outs)}


class DataflowExecutor(SequentialExecutor):
    """Runs independent nodes concurrently on ``workers`` threads; same buffers, same bits."""

    def __init__(self, graph, params=None, planner=None, threads=None, workers: int = 2):
        super().__init__(graph, params, planner, threads)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chainrule")
        self._prep: Dict[tuple, tuple] = {}

    def _compile(self, key):
        prep = self.prepared(key)
        succ = [[] for _ in prep.steps]
        for i, d in enumerate(prep.deps):
            for j in d:
                succ[j].append(i)
        indeg = [len(d) for d in prep.deps]
        self._prep[key] = (prep, succ, indeg)
        return self._run_graph

    def run_list(self, arrays):
        arrays = self._checked(arrays)
        key = self._key(arrays)
        if key not in self._fns:
            self.interpreter.check_inputs(arrays)
            self._fns[key] = self._compile(key)
        with blas_threads(self.threads):
            return self._run_graph(arrays, key)

    def _run_graph(self, arrays, key):
        prep, succ, indeg0 = self._prep[key]
        g, P = self.graph, self.params
        env: List = [None] * len(prep.slot)
        for v, a in zip(g.inputs, arrays):
            env[prep.slot[id(v)]] = a
        for v in g.params:
            env[prep.slot[id(v)]] = P[v.name]
        done: "queue.SimpleQueue" = queue.SimpleQueue()
        steps = prep.steps

        def work(i):
            fn, ins, outs, spec = steps[i]
            try:
                if spec is None:
                    r = fn(*[env[s] for s in ins])
                    if len(outs) == 1:
                        env[outs[0]] = r
                    else:
                        for s, x in zip(outs, r):
                            env[s] = x
                else:
                    out = spec if isinstance(spec, np.ndarray) else (
                        P[spec[1]] if spec[0] == "param" else np.empty(spec[1], spec[2]))
                    fn(out, *[env[s] for s in ins])
                    env[outs[0]] = out
                done.put((i, None))
            except BaseException as err:  # reported to the caller below
                done.put((i, err))

        indeg = list(indeg0)
        pending = 0
        for i, d in enumerate(indeg):
            if d == 0:
                self.pool.submit(work, i)
                pending += 1
        error = None
        while pending:
            i, err = done.get()
            pending -= 1
            if err is not None:
                error = error or err
                continue
            if error is not None:
                continue
            for j in succ[i]:
                indeg[j] -= 1
                if indeg[j] == 0:
                    self.pool.submit(work, j)
                    pending += 1
        if error is not None:
            if isinstance(error, ChainruleError):
                raise error
            self.interpreter.run_list(arrays)
            raise error
        plan = self.plans[key]
        for p, v in g.updates:
            if plan is None or v.name not in plan.param_outputs:
                np.copyto(P[p.name], env[prep.slot[id(v)]])
        return [env[prep.slot[id(v)]] for v in g.outputs]
