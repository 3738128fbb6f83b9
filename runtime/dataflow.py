"""The dataflow executor: the sequential executor's code as a DAG of tasks that workers pull.

Per set of bindings it predicts each node's time (``costmodel.py``), cuts big nodes into
chunks (``split.py``), merges small nodes into chains and simulates the workers' pulls
(``tasks.py``). Then it generates one function per task from the sequential executor's
lines. The sequential step of a 784-256-256-10 MLP at batch 128, around ``%fc2 =
Gemm(%relu, %fc2.weight, %fc2.bias) {transB=1}``, whose two tiles are its columns::

    def step(inputs, P):
        ...
        maximum(b10, 0, out=b12)
        mm(b12, v4[0:128].T, b13[:, 0:128])
        add_11(b13[:, 0:128], v5[0:128], b13[:, 0:128])
        mm(b12, v4[128:256].T, b13[:, 128:256])
        ...

becomes tasks (``programs[key].source``), each reading the slots it needs from the call's
``env`` list; ``%fc2`` [128, 256] runs as two tasks, a tile each::

    def t3(env):                              # after t1 and t2, the chunks of %fc1
        maximum(b10, 0, out=b12)
        return
    def t4(env):                              # t4 and t5 after t3, at the same time
        v4 = env[4]
        v5 = env[5]
        mm(b12, v4[0:128].T, b13[:, 0:128])
        add_11(b13[:, 0:128], v5[0:128], b13[:, 0:128])
        return
    def t5(env):
        v4 = env[4]
        v5 = env[5]
        mm(b12, v4[128:256].T, b13[:, 128:256])
        add_11(b13[:, 128:256], v5[128:256], b13[:, 128:256])
        return

The calling thread and ``workers - 1`` pool threads pull ready tasks, highest upward rank
first (``pull.py``): a worker whose core is busy with other work takes fewer tasks. Every
task runs with one BLAS thread (OpenBLAS threads spin while they wait, and two of them on
a core that something else needs collapse), so intra-op parallelism comes from the chunks;
workers × BLAS threads stays within the cores (``threads.py``). If the schedule predicts too
small a gain, the tasks are not built, and ``schedules[key]`` says why. A guard (``guard.py``)
times the ways a bindings can run and runs the fastest, since on a shared machine the
prediction for free cores may not hold: the sequential function with one BLAS thread, and one
of two ways of using several cores, the tasks or the sequential function on every core's BLAS
threads (a big GEMM alone on every core). The two take turns in the guard (``turns.py``), first
the one the schedule predicts shorter by the margin (``Schedule.tasks_first``); the one that did
better against one thread at the end of its last turn holds, and the other is tried again after
4, 8 ... 64 s of the step's own calls.
Every core's threads are admitted only after their first call gave the same bits as one thread
(``agree.py``: whether it does depends on the BLAS library and the shapes; ``summed`` products
make it so on OpenBLAS).

Every node runs the sequential executor's lines (or its op's lines on slices: an elementwise
op's rows, a product's tiles, which the sequential code computes one by one, ``tiles.py``) on
the same planned buffers, after its dependencies (producers, and
the readers of the previous value in a buffer it overwrites), so the results are
bit-identical to the sequential executor's at one BLAS thread.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from .agree import Agreeing
from .costmodel import calibrate, node_cost, seconds
from .executor import SequentialExecutor, _Prepared
from .guard import EVERY, Guard
from .pull import TaskGraph, Workers
from .split import Accesses, chunk_lines, plan_chunks
from .tasks import Schedule, list_schedule
from .threads import available_cores
from .turns import Turns

log = logging.getLogger("chainrule.dataflow")
_SLOT = re.compile(r"v(\d+)$")
# the least seconds (of the step's own calls) of a turn of a way of several cores in the guard
# (``turns.py``): a process's first calls are slower and vary more (caches, clocks, threads waking;
# in its first 0.3 s, 256-512-512-10 at batch 128 ran 4.3 ms at one BLAS thread and 5.3 ms at two;
# a second later, 3.6 ms at one thread and 2.6 ms for the tasks)
TURN = 1.0


class Program(NamedTuple):
    """One bindings' generated code: a function per task, and the updates to copy after them."""
    schedule: Schedule
    graph: TaskGraph
    updates: list
    source: List[str]


def task_source(prep, task, timed: bool = False) -> List[str]:
    """Lines of task ``task.index``'s function: its nodes' lines (or chunks of them) between reads
    of the slots it needs from ``env`` and writes of the values it makes."""
    lines = [f"def t{task.index}(env{', rec' if timed else ''}):"]
    local = set()
    for i, span in task.parts:
        body, ins, outs = prep.code[i]
        e = prep.emitted.get(i)
        if span is not None:
            body = chunk_lines(prep.gen, e, span)
        dst = _SLOT.match(e.out) if e is not None else None
        for s in sorted(set(ins) | ({int(dst.group(1))} if dst else set())):
            if prep.expr[s] == f"v{s}" and s not in local:
                lines.append(f"    v{s} = env[{s}]")
                local.add(s)
        if timed:
            lines.append("    t0 = now()")
        lines += ["    " + ln for ln in body]
        if timed:
            lines.append(f"    rec.append(({i}, {None if span is None else tuple(span)!r}, t0, now()))")
        for s in outs:
            local.add(s)
            if prep.expr[s] == f"v{s}":
                lines.append(f"    env[{s}] = v{s}")
    lines.append("    return")
    return lines


def build_program(prep, schedule: Schedule, name: str, updates, timed: bool = False) -> Program:
    """Generate and compile the task functions of ``schedule``."""
    src: List[str] = []
    for t in schedule.tasks:
        src += task_source(prep, t, timed)
    ns = prep.gen.ns
    ns.setdefault("now", time.perf_counter)
    exec(compile("\n".join(src), f"<chainrule tasks {name}>", "exec"), ns)  # noqa: S102 (generated code)
    succs: List[List[int]] = [[] for _ in schedule.tasks]
    for t in schedule.tasks:
        for p in t.preds:
            succs[p].append(t.index)
    graph = TaskGraph([ns[f"t{t.index}"] for t in schedule.tasks], succs, [len(t.preds) for t in schedule.tasks],
                      [(-t.rank, t.index) for t in schedule.tasks])
    return Program(schedule, graph, updates, src)


def run_program(prog: Program, prep, graph, arrays, P, workers: Workers, recs=None):
    """One call: the tasks on ``workers``, then the updates and the outputs. ``recs`` (a list per
    worker) receives ``(node, span, start, end)`` records of a timed program."""
    env: List = [None] * len(prep.slot)
    for v, a in zip(graph.inputs, arrays):
        env[prep.slot[id(v)]] = a
    for v in graph.params:
        env[prep.slot[id(v)]] = P[v.name]
    before = {k: P[v.name].copy() for k, v in enumerate(graph.outputs) if v.kind in ("param", "state")}
    workers.run(prog.graph, env, recs)

    def val(s):
        e = prep.expr[s]
        return env[int(e[1:])] if _SLOT.match(e) else prep.gen.ns[e]
    for ps, vs in prog.updates:
        np.copyto(val(ps), val(vs))
    return [before[k] if k in before else val(prep.slot[id(v)]) for k, v in enumerate(graph.outputs)]


class DataflowExecutor(SequentialExecutor):
    """Runs the tasks of a schedule on ``workers`` threads that pull them; same buffers, same bits.

    ``threads``: the cores it may use (default: all of ``os.sched_getaffinity``); ``workers``
    (default: as many as the budget) run one BLAS thread each. ``margin``: the predicted gain
    below which it runs sequentially. ``chunks``: at most this many row chunks per big node
    (default: one per worker; 1 splits nothing). ``grain``: the least predicted seconds worth a
    task of its own (default: four hand-offs between threads, measured). ``chunked``: schedule the
    chunks (True), not (False), or whichever is predicted shorter (None). ``guarded``: time the
    ways and run the fastest (``guard.py``; ``guards[key]`` shows the medians, ``agreements[key]``
    whether every core's BLAS threads kept the bits); else always run the tasks when the schedule
    predicts a gain, the sequential code at one thread if not. ``turn`` (default ``TURN``, seconds): the
    least time of a turn of a way of several cores in the guard, for the bindings compiled after it is
    set (``turns[key]`` shows each way's ratio to one thread at the end of its last turn).
    """

    def __init__(self, graph, params=None, planner=None, threads: Optional[int] = None,
                 workers: Optional[int] = None, margin: float = 0.1, chunks: Optional[int] = None,
                 grain: Optional[float] = None, chunked: Optional[bool] = None, guarded: bool = True):
        super().__init__(graph, params, planner, None)
        self.budget = max(1, min(threads or available_cores(), available_cores()))
        self.workers = max(1, min(workers or self.budget, self.budget))
        self.chunks = chunks if chunks is not None else self.workers
        self.margin, self.grain, self.chunked, self.guarded = margin, grain, chunked, guarded
        self.guards: Dict[tuple, Guard] = {}
        self.agreements: Dict[tuple, Agreeing] = {}  # did every core's BLAS threads give the same bits
        self.turns: Dict[tuple, Turns] = {}  # the ways of several cores taking turns in the guard
        self.schedules: Dict[tuple, Schedule] = {}
        self.programs: Dict[tuple, Program] = {}
        self._preps: Dict[tuple, object] = {}
        self._reuse = True  # which plan prepared() makes next (see _compile)
        self.turn = TURN
        self.pool = Workers(self.workers)

    def _evict(self, shapes, fn):
        super()._evict(shapes, fn)
        key = tuple(shapes[k][j] for k, j, _ in self._syms)
        for cache in (self.schedules, self.programs, self._preps, self.guards, self.agreements, self.turns):
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
        """Predict every node's time, cut big nodes into chunks, and schedule the tasks with and without
        the chunks (``tasks.list_schedule``): the shorter predicted makespan wins (towers side by side
        need no chunks, whose repacked operands cost time)."""
        m = calibrate()
        cost = [seconds(node_cost(n, prep.bindings), m, 1) + m.call if prep.code[i][0] else 0.0
                for i, n in enumerate(prep.nodes)]
        grain = self.grain or 4 * m.handoff
        names = [n.name for n in prep.nodes]
        plain = list_schedule(prep.deps, cost, names, m, self.workers, self.margin, grain)
        chunks = plan_chunks(prep, cost, grain, self.chunks) if self.workers > 1 and self.chunked is not False else {}
        if not chunks:
            return self._every_core(plain, prep, m)
        extent = {i: prep.emitted[i].type.shape[cut.spans[0].axis] for i, cut in chunks.items()}
        cut = list_schedule(prep.deps, cost, names, m, self.workers, self.margin, grain, chunks, extent,
                            Accesses(prep, self.params).conflict)
        return self._every_core(cut if self.chunked or cut.makespan < plain.makespan else plain, prep, m)

    def _every_core(self, sched: Schedule, prep, m) -> Schedule:
        """``sched`` with the predicted sequential sum on every core's BLAS threads, where that may run."""
        if self._many_threads():
            sched.blas_threads = self.budget
            sched.every_core = sum(seconds(node_cost(n, prep.bindings), m, self.budget) + m.call
                                   if prep.code[i][0] else 0.0 for i, n in enumerate(prep.nodes))
        return sched

    def _many_threads(self) -> bool:
        """May a step run on every core's BLAS threads (guarded, a BLAS library to set, a product to run)?"""
        return self.guarded and self.budget > 1 and bool(self._blas().get()) and \
            any(getattr(n.op, "blas", False) for n in self.graph.nodes)

    def _compile(self, key):
        self._reuse = False
        prep = self.prepared(key)
        sched = self.schedules[key] = self.plan_schedule(prep)
        self._reuse = True  # the sequential executor's own plan and code
        step = super()._compile(key)
        sequential = self._one_blas_thread(step)
        tasks = None
        if sched.parallel:
            self._preps[key] = prep
            prog = self.programs[key] = build_program(prep, sched, self.graph.name, self._updates(prep))
            tasks = self._one_blas_thread(lambda arrays, P: run_program(prog, prep, self.graph, arrays, P, self.pool))
        else:
            log.info("%s %s: %s", self.graph.name, key, sched.decision)
        if not self.guarded:
            return tasks or sequential
        ways = sched.ways  # of several cores, in turn order, beside one thread's code (``turns.py``)
        if not ways:
            return sequential
        many, order = sched.every_core_way, {w: tasks for w in ways}
        if many in order:  # admitted if it gives the same bits
            order[many] = self.agreements[key] = Agreeing(step, self._blas().run, self.budget,
                                                          f"{self.graph.name} {key}", lambda: disagree())
        first = ways[0]

        def disagree():  # every core's threads gave other bits: never again
            turns.remove(many)
        guard = self.guards[key] = Guard({first: order[first], "sequential": sequential}, every=EVERY,
                                         on_probe=lambda way: turns.on_probe(way))
        turns = self.turns[key] = Turns(guard, order, turn=self.turn, clock=lambda: guard.spent)
        return guard

    def _one_blas_thread(self, step):
        one = self._blas().run
        return lambda arrays, P: one(1, step, arrays, P)

    def schedule_for(self, arrays) -> Schedule:
        """The schedule used for inputs like ``arrays`` (compiled on first use)."""
        with self._lock:
            arrays, _ = self._lookup(list(arrays))
            return self.schedules[self._key(arrays)]
