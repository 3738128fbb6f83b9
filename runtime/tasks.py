"""Tasks and their schedule: the dataflow executor's plan, made before the first call.

1. **Tasks.** Every node starts as a task. A task cheaper than the grain (a few
   thread hand-offs) is merged into its only predecessor, or else into its only
   successor: merging along a lone edge never makes a cycle, and a task is then
   worth handing to another thread.
2. **List scheduling (HEFT).** Tasks are taken by upward rank, the longest
   predicted path from the task to the end (critical path first); each goes to
   the worker where it would finish earliest, counting a hand-off when a
   predecessor ran on another worker.
3. **Wide tasks.** A task that the schedule runs alone (no other task's interval
   overlaps it) gets every BLAS thread of the budget; barrier edges to the other
   workers' neighbouring tasks make it alone at run time too, since the BLAS
   thread count is process-wide.
4. **Fallback.** If the predicted makespan does not beat the sequential sum (every
   node with the whole budget of BLAS threads) by ``margin``, the schedule says so
   and the executor runs the sequential code.

``print(schedule)`` shows the tasks, their nodes, workers, predicted times and the
decision.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Sequence, Tuple

from .costmodel import Machine


class Task(NamedTuple):
    index: int
    nodes: Tuple[int, ...]  # node indices in the sequential order
    worker: int
    start: float  # predicted, seconds from the call's start
    finish: float
    threads: int  # BLAS threads while it runs
    preds: Tuple[int, ...]  # tasks that must finish first (dependencies and barriers)


class Schedule:
    """The predicted plan of one call: tasks on workers, makespan against the sequential sum."""

    def __init__(self, tasks: List[Task], names: Sequence[str], workers: int, makespan: float,
                 sequential: float, margin: float, budget: int):
        self.tasks, self.names, self.workers = tasks, list(names), workers
        self.makespan, self.sequential, self.margin, self.budget = makespan, sequential, margin, budget
        self.parallel = workers > 1 and makespan < (1 - margin) * sequential

    @property
    def gain(self) -> float:
        return self.sequential / self.makespan if self.makespan else 1.0

    @property
    def decision(self) -> str:
        if self.parallel:
            return f"dataflow on {self.workers} workers (predicted {self.gain:.2f}x the sequential sum)"
        why = "one worker" if self.workers < 2 else \
            f"predicted gain {self.gain:.2f}x is below the margin {1 / (1 - self.margin):.2f}x"
        return f"sequential, {self.budget} BLAS thread(s): {why}"

    def by_worker(self) -> List[List[Task]]:
        lists: List[List[Task]] = [[] for _ in range(self.workers)]
        for t in sorted(self.tasks, key=lambda t: (t.start, t.index)):
            lists[t.worker].append(t)
        return lists

    def __str__(self):
        lines = [f"schedule: {len(self.names)} nodes in {len(self.tasks)} tasks on {self.workers} worker(s), "
                 f"budget {self.budget} core(s)",
                 f"  predicted makespan {self.makespan * 1e3:.3f} ms, sequential sum {self.sequential * 1e3:.3f} ms",
                 f"  decision: {self.decision}",
                 f"  {'task':>4} {'worker':>6} {'start ms':>9} {'end ms':>9} {'blas':>4}  nodes"]
        for t in sorted(self.tasks, key=lambda t: (t.start, t.index)):
            names = [self.names[i] for i in t.nodes]
            shown = ", ".join(names[:4]) + (f", … (+{len(names) - 4})" if len(names) > 4 else "")
            lines.append(f"  {t.index:4d} {t.worker:6d} {t.start * 1e3:9.3f} {t.finish * 1e3:9.3f} "
                         f"{t.threads:4d}  {shown}")
        return "\n".join(lines)

    def __repr__(self):
        return f"<Schedule {len(self.tasks)} tasks, {self.makespan * 1e3:.3f} ms vs {self.sequential * 1e3:.3f} ms>"


def merge_chains(deps: Sequence[Sequence[int]], cost: Sequence[float], grain: float) -> List[List[int]]:
    """Group nodes into tasks: a group cheaper than ``grain`` joins its only predecessor group,
    or else its only successor group. Returns the groups, each sorted, in order of first node."""
    n = len(deps)
    group = list(range(n))  # node -> representative
    members: Dict[int, List[int]] = {i: [i] for i in range(n)}
    preds: Dict[int, set] = {i: set(deps[i]) for i in range(n)}
    succs: Dict[int, set] = {i: set() for i in range(n)}
    for i, d in enumerate(deps):
        for j in d:
            succs[j].add(i)
    gcost = {i: cost[i] for i in range(n)}

    def join(a: int, b: int):  # b's nodes into a
        members[a] += members.pop(b)
        gcost[a] += gcost.pop(b)
        for i in members[a]:
            group[i] = a
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
            if len(preds[g]) == 1:
                join(min(preds[g]), g)
                changed = True
            elif len(succs[g]) == 1:
                s = min(succs[g])
                join(s, g)
                changed = True
    return sorted((sorted(m) for m in members.values()), key=lambda m: m[0])


def list_schedule(deps: Sequence[Sequence[int]], cost1: Sequence[float], costw: Sequence[float],
                  names: Sequence[str], machine: Machine, workers: int, budget: int,
                  margin: float = 0.1, grain: float = 0.0) -> Schedule:
    """HEFT-style schedule of the nodes (``cost1``: seconds with one BLAS thread, ``costw``: with the
    whole budget) on ``workers``; ``grain`` defaults to four hand-offs."""
    seq = sum(costw)
    if workers < 2 or not deps:
        tasks = [Task(0, tuple(range(len(deps))), 0, 0.0, seq, budget, ())]
        return Schedule(tasks, names, 1, seq, seq, margin, budget)
    groups = merge_chains(deps, cost1, grain or 4 * machine.handoff)
    task_of = {i: k for k, g in enumerate(groups) for i in g}
    preds = [sorted({task_of[j] for i in g for j in deps[i]} - {k}) for k, g in enumerate(groups)]
    succs: List[List[int]] = [[] for _ in groups]
    for k, p in enumerate(preds):
        for j in p:
            succs[j].append(k)
    c1 = [sum(cost1[i] for i in g) for g in groups]
    cw = [sum(costw[i] for i in g) for g in groups]
    h = machine.handoff
    rank = [0.0] * len(groups)
    for k in reversed(range(len(groups))):  # groups are in a topological order (first nodes are)
        rank[k] = c1[k] + max((h + rank[s] for s in succs[k]), default=0.0)
    order = sorted(range(len(groups)), key=lambda k: (-rank[k], k))
    worker, start, finish = [0] * len(groups), [0.0] * len(groups), [0.0] * len(groups)
    free = [0.0] * workers
    for k in order:
        best = None
        for w in range(workers):
            ready = max((finish[p] + (h if worker[p] != w else 0.0) for p in preds[k]), default=0.0)
            s = max(ready, free[w])
            if best is None or s + c1[k] < best[0] - 1e-12:
                best = (s + c1[k], w, s)
        finish[k], worker[k], start[k] = best
        free[worker[k]] = finish[k]
    # tasks the plan runs alone may use every BLAS thread; barriers keep them alone at run time
    edges = [set(p) for p in preds]
    threads = [max(1, budget // workers)] * len(groups)
    for k in range(len(groups)):
        if any(worker[j] != worker[k] and start[j] < finish[k] and start[k] < finish[j] for j in range(len(groups))):
            continue
        if cw[k] >= c1[k]:
            continue  # not a BLAS task that gains from threads
        threads[k] = budget
        for w in range(workers):
            if w == worker[k]:
                continue
            on_w = sorted((j for j in range(len(groups)) if worker[j] == w), key=lambda j: start[j])
            before = [j for j in on_w if finish[j] <= start[k]]
            after = [j for j in on_w if start[j] >= finish[k]]
            if before:
                edges[k].add(before[-1])
            if after:
                edges[after[0]].add(k)
    # predicted times again, in the workers' fixed orders, with the wide tasks' shorter times
    time_order = sorted(range(len(groups)), key=lambda k: (start[k], k))
    free = [0.0] * workers
    s2, f2 = [0.0] * len(groups), [0.0] * len(groups)
    for k in time_order:
        ready = max((f2[p] + (h if worker[p] != worker[k] else 0.0) for p in edges[k]), default=0.0)
        s2[k] = max(ready, free[worker[k]])
        f2[k] = s2[k] + (cw[k] if threads[k] == budget and budget > 1 else c1[k])
        free[worker[k]] = f2[k]
    tasks = [Task(k, tuple(g), worker[k], s2[k], f2[k], threads[k], tuple(sorted(edges[k])))
             for k, g in enumerate(groups)]
    used = len({worker[k] for k in range(len(groups))})
    makespan = max(f2) + (machine.launch if used > 1 else 0.0)
    return Schedule(tasks, names, workers, makespan, seq, margin, budget)
