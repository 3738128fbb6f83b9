"""Tasks and their schedule: the dataflow executor's plan, made before the first call.

1. **Chunks.** A node predicted to take several grains, whose op can compute slices of its
   result alone (``Op.split``, ``split.py``), is cut into chunks of rows or columns, and the
   nodes along a row-split node's rows are cut the same way (``relu`` after ``fc1``). A
   chunk waits only for the chunks of its dependencies whose bytes it touches: rows 0:32
   of ``relu`` wait for rows 0:32 of ``fc1``, while the weight gradient, which reads every
   row, waits for all of them.
2. **Chains.** Every node or chunk starts as a task. A task cheaper than the grain (a few
   thread hand-offs) is merged into its latest predecessor when the others are done by
   then, or else into its only successor (``merge_chains``), so that a task is worth
   handing to another thread (``fc1[0:128], relu[0:128]``).
3. **Priorities.** A task's upward rank is the longest predicted path from it to the end
   (critical path first, as in HEFT list scheduling).
4. **A prediction.** The workers pull ready tasks at run time (``pull.py``); the schedule
   simulates those pulls with the predicted times: a free worker takes the ready task of
   highest rank, and a worker that was asleep starts after a hand-off.
5. **A decision.** If the predicted makespan does not beat the sequential sum (every node
   on one thread) by ``margin``, the executor builds no tasks and runs the sequential code:
   its guard times one BLAS thread against every core's, where they give the same bits and
   every core's are predicted shorter by the margin (``every_core_pays``), else one thread.

``print(schedule)`` shows the tasks, their nodes (and chunks), the worker each is expected
on, predicted times and the decision.
"""
from __future__ import annotations

import heapq
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from .costmodel import Machine
from .split import Cut, Span


class Part(NamedTuple):
    """A node, or a chunk of it (a ``Span`` of its result's rows or columns)."""
    node: int
    span: Optional[Span] = None


class Task(NamedTuple):
    index: int
    parts: Tuple[Part, ...]  # run in this order (the sequential order, a node's chunks in order)
    cost: float  # predicted seconds, bookkeeping included
    rank: float  # upward rank: the longest predicted path from its start to the end
    preds: Tuple[int, ...]  # tasks that must finish first
    worker: int  # where the simulated pulls ran it
    start: float  # predicted, seconds from the call's start
    finish: float

    @property
    def nodes(self) -> Tuple[int, ...]:
        return tuple(dict.fromkeys(p.node for p in self.parts))


class Schedule:
    """The predicted plan of one call: tasks, their expected workers, makespan against the sequential sum."""

    def __init__(self, tasks: List[Task], names: Sequence[str], workers: int, makespan: float,
                 sequential: float, margin: float):
        self.tasks, self.names, self.workers = tasks, list(names), workers
        self.makespan, self.sequential, self.margin = makespan, sequential, margin
        self.parallel = workers > 1 and makespan < (1 - margin) * sequential
        self.every_core: Optional[float] = None  # the sequential sum on every core's BLAS threads, if it may run
        self.blas_threads = 1  # ... and how many those are

    @property
    def tasks_first(self) -> bool:
        """Run the tasks first? They are built (``parallel``) and predicted shorter, by the margin, than
        the sequential code on every core's BLAS threads (where that may run)."""
        return self.parallel and (self.every_core is None or self.makespan < (1 - self.margin) * self.every_core)

    @property
    def every_core_pays(self) -> bool:
        """Is the sequential code on every core's BLAS threads (where it may run) predicted shorter, by
        the margin, than on one? If not, and no tasks are built, the step runs at one thread, unguarded."""
        return self.every_core is not None and self.every_core < (1 - self.margin) * self.sequential

    @property
    def every_core_way(self) -> str:
        """The name of the way that runs the sequential code on every core's BLAS threads."""
        return f"sequential, {self.blas_threads} BLAS threads"

    @property
    def ways(self) -> List[str]:
        """The ways of running the step on several cores, in the order of their turns beside one
        thread's code (``turns.py``): ``"dataflow"``, the tasks (if ``parallel``), and ``"sequential,
        N BLAS threads"`` (if ``every_core_pays``); the tasks first if ``tasks_first``. None: the step
        runs at one BLAS thread, unguarded."""
        tasks = ["dataflow"] if self.parallel else []
        many = [self.every_core_way] if self.every_core_pays else []
        return tasks + many if self.tasks_first else many + tasks

    @property
    def gain(self) -> float:
        return self.sequential / self.makespan if self.makespan else 1.0

    @property
    def chunked(self) -> int:
        """How many nodes run in chunks."""
        return len({p.node for t in self.tasks for p in t.parts if p.span is not None})

    def part_names(self, task: Task) -> List[str]:
        """``task``'s nodes by name, a chunk with its span: ``["fc1[0:64]", "relu[0:64]"]``."""
        return [self.names[p.node] + ("" if p.span is None else str(p.span)) for p in task.parts]

    @property
    def decision(self) -> str:
        if self.parallel and not self.tasks_first and self.every_core_pays:
            return (f"sequential on {self.blas_threads} BLAS threads (predicted {self.every_core * 1e3:.3f} ms, the "
                    f"tasks {self.makespan * 1e3:.3f} ms: not {1 / (1 - self.margin):.2f}x shorter), then the tasks "
                    f"in turn; the faster against one thread holds")
        if self.parallel:
            then = "" if self.every_core is None else (
                f", then sequential on {self.blas_threads} BLAS threads in turn" if self.every_core_pays else
                f"; on {self.blas_threads} BLAS threads {self.sequential / self.every_core:.2f}x, below the margin")
            return f"dataflow on {self.workers} workers (predicted {self.gain:.2f}x the sequential sum){then}"
        why = "one worker" if self.workers < 2 else \
            f"predicted gain {self.gain:.2f}x is below the margin {1 / (1 - self.margin):.2f}x"
        if self.every_core_pays:
            return (f"sequential (no tasks): {why}; one BLAS thread against {self.blas_threads} "
                    f"(predicted {self.every_core * 1e3:.3f} ms), the faster holds")
        if self.every_core is not None:
            why += f", and on {self.blas_threads} BLAS threads {self.sequential / self.every_core:.2f}x"
        return f"sequential (no tasks) at one BLAS thread: {why}"

    def __str__(self):
        lines = [f"schedule: {len(self.names)} nodes in {len(self.tasks)} tasks ({self.chunked} nodes in "
                 f"chunks) on {self.workers} worker(s), 1 BLAS thread each",
                 f"  predicted makespan {self.makespan * 1e3:.3f} ms, sequential sum {self.sequential * 1e3:.3f} ms"
                 + ("" if self.every_core is None else
                    f" ({self.every_core * 1e3:.3f} ms on {self.blas_threads} BLAS threads)"),
                 f"  decision: {self.decision}",
                 f"  {'task':>4} {'worker':>6} {'start ms':>9} {'end ms':>9}  nodes"]
        for t in sorted(self.tasks, key=lambda t: (t.start, t.worker, t.index)):
            names = self.part_names(t)
            shown = ", ".join(names[:4]) + (f", … (+{len(names) - 4})" if len(names) > 4 else "")
            lines.append(f"  {t.index:4d} {t.worker:6d} {t.start * 1e3:9.3f} {t.finish * 1e3:9.3f}  {shown}")
        return "\n".join(lines)

    def __repr__(self):
        return f"<Schedule {len(self.tasks)} tasks, {self.makespan * 1e3:.3f} ms vs {self.sequential * 1e3:.3f} ms>"


def merge_chains(deps: Sequence[Sequence[int]], cost: Sequence[float], grain: float) -> List[List[int]]:
    """Group the items of a DAG (``deps``: each item's predecessors; the items in a topological
    order) into tasks. A group cheaper than ``grain`` joins

    - its only predecessor group; or else
    - its latest predecessor group (in the topological order), if every other predecessor
      would be finished before that one starts with as many workers as wanted: waiting for
      them then delays nothing, and the latest predecessor is never reachable from another
      one, so no cycle is made; or else
    - its only successor group.

    A merged group takes its target's place in the order, which stays topological. Returns the
    groups, each sorted, in order of first item."""
    n = len(deps)
    members: Dict[int, List[int]] = {i: [i] for i in range(n)}
    preds: Dict[int, set] = {i: set(deps[i]) for i in range(n)}
    succs: Dict[int, set] = {i: set() for i in range(n)}
    start, finish = [0.0] * n, [0.0] * n  # as soon as possible, with as many workers as wanted
    for i, d in enumerate(deps):
        for j in d:
            succs[j].add(i)
        start[i] = max((finish[j] for j in d), default=0.0)
        finish[i] = start[i] + cost[i]
    gcost = {i: cost[i] for i in range(n)}

    def join(a: int, b: int):  # b's nodes into a (a keeps its place: the key is its first item)
        members[a] += members.pop(b)
        gcost[a] += gcost.pop(b)
        start[a], finish[a] = min(start[a], start[b]), max(finish[a], finish[b])
        for p in preds.pop(b):
            succs[p].discard(b)
            if p != a:
                succs[p].add(a)
                preds[a].add(p)
        for s in succs.pop(b):
            preds[s].discard(b)
            if s != a:
                preds[s].add(a)
                succs[a].add(s)
        preds[a].discard(a)
        succs[a].discard(a)

    changed = True
    while changed:
        changed = False
        for g in sorted(members):
            if g not in members or gcost[g] >= grain:
                continue
            last = max(preds[g], default=None)
            if last is not None and all(finish[p] <= start[last] + 1e-12 for p in preds[g] if p != last):
                join(last, g)
                changed = True
            elif len(succs[g]) == 1:
                join(min(succs[g]), g)
                changed = True
    return sorted((sorted(m) for m in members.values()), key=lambda m: m[0])


def _pieces(deps, cost, chunks: Dict[int, Cut], extent: Dict[int, int], conflict, m: Machine):
    """Every node, or each of its chunks, with its predicted cost (a chunk: its share of the node's)
    and predecessors: a chunk waits for a chunk of a node it depends on only if ``conflict`` says
    they touch the same bytes."""
    parts: List[Part] = []
    pcost: List[float] = []
    of: Dict[int, List[int]] = {}
    for i in range(len(deps)):
        cut = chunks.get(i)
        for span in cut.spans if cut else [None]:
            of.setdefault(i, []).append(len(parts))
            parts.append(Part(i, span))
            pcost.append(cost[i] if span is None else
                         (cost[i] - m.call) * (span.hi - span.lo) / extent[i] + m.call)
    pdeps = []
    for part in parts:
        pdeps.append([q for j in deps[part.node] for q in of[j]
                      if part.span is None or parts[q].span is None or conflict is None
                      or conflict(part.node, part.span, j, parts[q].span)])
    return parts, pcost, pdeps


def _topological(preds, succs) -> List[int]:
    """The tasks in an order where each comes after its predecessors (Kahn's, smallest index first)."""
    left = [len(p) for p in preds]
    ready = [k for k, n in enumerate(left) if not n]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for s in succs[k]:
            left[s] -= 1
            if not left[s]:
                heapq.heappush(ready, s)
    return order


def _simulate(cost, preds, succs, rank, workers: int, m: Machine):
    """Where and when each task runs if free workers pull the ready task of highest rank."""
    n = len(cost)
    left = [len(p) for p in preds]
    ready = [(-rank[k], k) for k in range(n) if not left[k]]
    heapq.heapify(ready)
    worker, start, finish = [0] * n, [0.0] * n, [0.0] * n
    running: List[tuple] = []
    asleep = {w: (0.0 if w == 0 else m.launch) for w in range(workers)}  # worker -> since when

    def run(k, w, t):
        worker[k], start[k], finish[k] = w, t, t + cost[k]
        heapq.heappush(running, (finish[k], w, k))

    def wake(t):  # sleeping workers take what is left: a hand-off wakes them (pool workers start at launch)
        while ready and asleep:
            w = min(asleep)
            since = asleep.pop(w)
            run(heapq.heappop(ready)[1], w, since if since >= t else t + m.handoff)

    wake(0.0)
    while running:
        t, w, k = heapq.heappop(running)
        for s in succs[k]:
            left[s] -= 1
            if not left[s]:
                heapq.heappush(ready, (-rank[s], s))
        if ready:
            run(heapq.heappop(ready)[1], w, t)
        else:
            asleep[w] = t
        wake(t)
    return worker, start, finish


def list_schedule(deps: Sequence[Sequence[int]], cost: Sequence[float], names: Sequence[str], machine: Machine,
                  workers: int, margin: float = 0.1, grain: float = 0.0,
                  chunks: Optional[Dict[int, Cut]] = None, extent: Optional[Dict[int, int]] = None,
                  conflict=None) -> Schedule:
    """The tasks of the nodes (``cost``: predicted seconds each, one BLAS thread), their ranks, and
    the simulated pulls of ``workers``. ``chunks``: the cuts of the nodes run in chunks (``extent``:
    the length of the axis they cut; ``conflict(i, span_i, j, span_j)``: must those chunks be
    ordered). ``grain`` defaults to four hand-offs."""
    seq = sum(cost)
    if workers < 2 or not deps:
        t = Task(0, tuple(Part(i) for i in range(len(deps))), seq, seq, (), 0, 0.0, seq)
        return Schedule([t], names, 1, seq, seq, margin)
    m, h = machine, machine.handoff
    parts, pcost, pdeps = _pieces(deps, cost, chunks or {}, extent or {}, conflict, m)
    groups = merge_chains(pdeps, pcost, grain or 4 * h)
    task_of = {q: k for k, g in enumerate(groups) for q in g}
    preds = [sorted({task_of[d] for q in g for d in pdeps[q]} - {k}) for k, g in enumerate(groups)]
    succs: List[List[int]] = [[] for _ in groups]
    for k, p in enumerate(preds):
        for j in p:
            succs[j].append(k)
    c = [sum(pcost[q] for q in g) + m.task for g in groups]
    rank = [0.0] * len(groups)
    for k in reversed(_topological(preds, succs)):
        rank[k] = c[k] + max((h + rank[s] for s in succs[k]), default=0.0)
    worker, start, finish = _simulate(c, preds, succs, rank, workers, m)
    tasks = [Task(k, tuple(parts[q] for q in g), c[k], rank[k], tuple(preds[k]), worker[k], start[k], finish[k])
             for k, g in enumerate(groups)]
    last = max(range(len(tasks)), key=lambda k: (finish[k], -k))
    makespan = finish[last] + (h if worker[last] != 0 else 0.0)  # the calling thread is woken to return
    return Schedule(tasks, names, workers, makespan, seq, margin)
