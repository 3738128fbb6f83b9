"""The dataflow executor: the sequential executor's code, run as a list-scheduled set of tasks on threads.

Per set of bindings it predicts each node's time (``costmodel.py``), merges
small nodes into tasks and list-schedules them on the workers (``tasks.py``),
then generates one function per worker: its tasks in order, waiting on an
event only for a predecessor that runs on another worker::

    def w1(env, ev, setb, rec):
        ev[3].wait()              # task 3 (worker 0) made %h2
        v17 = env[17]
        mm(v17, b4.T, b9)         # the sequential executor's lines, unchanged
        ...
        ev[5].set()               # task 5 is read on worker 0

The calling thread is worker 0. Concurrent tasks use one BLAS thread each; a
task the schedule runs alone uses the whole budget (workers × BLAS threads never
exceeds the cores, ``threads.py``). If the schedule predicts too small a gain,
the executor runs the sequential function and ``schedules[key]`` says why.

Every node runs the same generated lines as in the sequential executor, on the
same planned buffers, after its dependencies (producers, and the readers of the
previous value in a buffer it overwrites), so the results are bit-identical to
the sequential executor's given the same BLAS thread count per GEMM (OpenBLAS's
sgemm rounds differently with 1 and 2 threads for some shapes).
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, NamedTuple, Optional

import numpy as np

from .costmodel import calibrate, node_cost, seconds
from .executor import SequentialExecutor, _Prepared
from .tasks import Schedule, list_schedule
from .threads import BlasSetter, available_cores

log = logging.getLogger("chainrule.dataflow")


class Program(NamedTuple):
    """One call's generated code for one bindings: a function per worker, and how to finish."""
    schedule: Schedule
    workers: List[Callable]  # wk(env, ev, setb, rec)
    events: List[threading.Event]
    base_threads: int  # BLAS threads of a task that runs concurrently with others
    updates: list
    source: List[str]


def worker_source(prep, tasks, w: int, base: int, cross_preds, signals, timed: bool = False) -> List[str]:
    """Lines of worker ``w``'s function: its tasks' node code between waits and signals; a task
    that runs alone raises the BLAS threads to its own count and sets them back to ``base``."""
    lines = [f"def w{w}(env, ev, setb, rec):"]
    local = set()
    for t in tasks:
        lines += [f"    ev[{p}].wait()" for p in cross_preds[t.index]]
        if t.threads != base:
            lines.append(f"    setb({t.threads})")
        for i in t.nodes:
            body, ins, outs = prep.code[i]
            for s in sorted(set(ins)):
                if prep.expr[s] == f"v{s}" and s not in local:
                    lines.append(f"    v{s} = env[{s}]")
                    local.add(s)
            if timed:
                lines.append("    t0 = now()")
            lines += ["    " + ln for ln in body]
            if timed:
                lines.append(f"    rec.append(({i}, t0, now()))")
            for s in outs:
                local.add(s)
                if prep.expr[s] == f"v{s}":
                    lines.append(f"    env[{s}] = v{s}")
        if t.threads != base:
            lines.append(f"    setb({base})")
        if t.index in signals:
            lines.append(f"    ev[{t.index}].set()")
    lines.append("    return")
    return lines


def build_program(prep, schedule: Schedule, name: str, base: int, updates, timed: bool = False) -> Program:
    """Generate and compile the worker functions for ``schedule``'s tasks."""
    worker_of = {t.index: t.worker for t in schedule.tasks}
    cross = {t.index: [p for p in t.preds if worker_of[p] != t.worker] for t in schedule.tasks}
    signals = {p for ps in cross.values() for p in ps}
    src: List[str] = []
    for w, tasks in enumerate(schedule.by_worker()):
        src += worker_source(prep, tasks, w, base, cross, signals, timed)
    ns = prep.gen.ns
    ns.setdefault("now", time.perf_counter)
    exec(compile("\n".join(src), f"<chainrule workers {name}>", "exec"), ns)  # noqa: S102 (generated code)
    fns = [ns[f"w{w}"] for w in range(schedule.workers)]
    events = [threading.Event() for _ in schedule.tasks]
    return Program(schedule, fns, events, base, updates, src)


def run_program(prog: Program, prep, graph, arrays, P, setb: BlasSetter, pool, rec=None):
    """One call: worker 0 on this thread, the others on ``pool``; then the updates and outputs.
    ``rec`` (a list) receives each worker's ``(node, start, end)`` records of a timed program."""
    env: List = [None] * len(prep.slot)
    for v, a in zip(graph.inputs, arrays):
        env[prep.slot[id(v)]] = a
    for v in graph.params:
        env[prep.slot[id(v)]] = P[v.name]
    before = {k: P[v.name].copy() for k, v in enumerate(graph.outputs) if v.kind in ("param", "state")}
    recs = [[] for _ in prog.workers] if rec is not None else [None] * len(prog.workers)
    errors: List[BaseException] = []

    def work(w):
        try:
            prog.workers[w](env, prog.events, setb, recs[w])
        except BaseException as err:  # noqa: BLE001 (reported to the caller below)
            errors.append(err)
            for e in prog.events:  # nobody waits forever on a task that will not finish
                e.set()

    prev = setb.get()
    if prog.base_threads:
        setb(prog.base_threads)
    try:
        futures = [pool.submit(work, w) for w in range(1, len(prog.workers))]
        work(0)
        for f in futures:
            f.result()
    finally:
        if prog.base_threads and prev:
            setb(prev)
        for e in prog.events:
            e.clear()
    if errors:
        raise errors[0]
    if rec is not None:
        rec.extend(recs)

    def val(s):
        e = prep.expr[s]
        return env[int(e[1:])] if e[0] == "v" and e[1:].isdigit() else prep.gen.ns[e]
    for ps, vs in prog.updates:
        np.copyto(val(ps), val(vs))
    return [before[k] if k in before else val(prep.slot[id(v)]) for k, v in enumerate(graph.outputs)]


class DataflowExecutor(SequentialExecutor):
    """Runs list-scheduled tasks concurrently on ``workers`` threads; same buffers, same bits.

    ``threads``: the cores it may use (default: all of ``os.sched_getaffinity``); ``workers``
    (default: as many as the budget) × BLAS threads per concurrent task stays within it.
    ``margin``: the predicted gain below which it runs sequentially. ``solo_threads``: BLAS
    threads of a task that runs alone (default: the budget).
    """

    def __init__(self, graph, params=None, planner=None, threads: Optional[int] = None,
                 workers: Optional[int] = None, margin: float = 0.1, solo_threads: Optional[int] = None):
        super().__init__(graph, params, planner, None)
        self.budget = max(1, min(threads or available_cores(), available_cores()))
        self.workers = max(1, min(workers or self.budget, self.budget))
        self.base = max(1, self.budget // self.workers)
        self.solo = min(solo_threads or self.budget, self.budget)
        self.margin = margin
        self.schedules: Dict[tuple, Schedule] = {}
        self.programs: Dict[tuple, Program] = {}
        self._preps: Dict[tuple, object] = {}
        self._reuse = True  # which plan prepared() makes next (see _compile)
        self._setb = BlasSetter()
        self.pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="chainrule") \
            if self.workers > 1 else None

    def _evict(self, shapes, fn):
        super()._evict(shapes, fn)
        key = tuple(shapes[k][j] for k, j, _ in self._syms)
        for cache in (self.schedules, self.programs, self._preps):
            cache.pop(key, None)

    def prepared(self, key):
        """As the sequential executor's, but the dataflow program gets a plan without buffer reuse
        (``planner(graph, bindings, reuse=False)``): reused bytes would serialize independent nodes."""
        if self._reuse or self.planner is None:
            self._prep = super().prepared(key)
            return self._prep
        bindings = {d: key[i] for i, (_, _, d) in enumerate(self._syms)}
        plan = self.plans[key] = self.planner(self.graph, bindings, reuse=False)
        self._prep = _Prepared(self.graph, plan, self.params)
        return self._prep

    def plan_schedule(self, prep) -> Schedule:
        """Predict every node's time and list-schedule the tasks (``tasks.list_schedule``)."""
        m = calibrate()
        costs = [node_cost(n, prep.bindings) for n in prep.nodes]
        c1 = [seconds(c, m, 1) if prep.code[i][0] else 0.0 for i, c in enumerate(costs)]
        cw = [seconds(c, m, self.solo) if prep.code[i][0] else 0.0 for i, c in enumerate(costs)]
        names = [n.name for n in prep.nodes]
        return list_schedule(prep.deps, [c + m.call for c in c1], [c + m.call for c in cw], names, m,
                             self.workers, self.solo, self.margin)

    def _compile(self, key):
        self._reuse = False
        prep = self._preps[key] = self.prepared(key)
        sched = self.schedules[key] = self.plan_schedule(prep)
        if not sched.parallel:
            log.info("%s %s: %s", self.graph.name, key, sched.decision)
            self._reuse = True  # the sequential executor's own plan and code
            del self._preps[key]
            return self._sequential(super()._compile(key))
        self.programs[key] = build_program(prep, sched, self.graph.name, self.base, self._updates(prep, key))
        return lambda arrays, P: self._run(arrays, P, key)

    def _sequential(self, step):
        setb, n = self._setb, self.solo

        def run(arrays, P):
            prev = setb.get()
            if prev != n:
                setb(n)
            try:
                return step(arrays, P)
            finally:
                if prev != n:
                    setb(prev)
        return run

    def _run(self, arrays, P, key, rec=None):
        return run_program(self.programs[key], self._preps[key], self.graph, arrays, P, self._setb,
                           self.pool, rec)

    def schedule_for(self, arrays) -> Schedule:
        """The schedule used for inputs like ``arrays`` (compiled on first use)."""
        with self._lock:
            arrays, _ = self._lookup(list(arrays))
            return self.schedules[self._key(arrays)]
