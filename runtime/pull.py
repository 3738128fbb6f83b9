"""Workers that pull ready tasks from one shared queue, highest priority first.

A call is a DAG of tasks (``TaskGraph``: a function per task, its successors, how many
predecessors it waits for, its priority). The calling thread is worker 0; the others are
threads kept by ``Workers`` between calls. A worker that finishes a task counts down its
successors, takes the best ready task itself (no hand-off), and leaves the rest in the heap
with one token each in a queue the sleeping workers wait on::

    worker 0                      worker 1 (asleep on tokens.get())
    run t0                        .
    t1, t2 ready: take t1,        .
      heap [t2], put a token  --> wakes, pops t2, runs it
    run t1                        ...

So no task waits for a particular worker: a worker whose core is busy with other work simply
runs fewer tasks. Tokens may outnumber the heap's tasks (a worker that takes a task itself
leaves its token behind); a worker that finds the heap empty waits again. The last task puts
one ``STOP`` per worker; every call has its own queue, so a late worker never takes the next
call's tokens.

The GIL: a worker back from a BLAS call needs the interpreter lock, and a thread that keeps
taking it back between short NumPy calls can hold it off for Python's whole switch interval
(5 ms by default, longer than most tasks). During a call the interval is ``SWITCH`` (measured:
the median step of a 784-256-256-10 MLP at batch 128 on two busy cores went from 8.4 to 4.5 ms).
"""
from __future__ import annotations

import heapq
import sys
import threading
import weakref
from queue import SimpleQueue
from typing import Callable, List, NamedTuple, Optional, Sequence

STOP = -1
SWITCH = 1e-4  # seconds: Python's switch interval while several workers run


class TaskGraph(NamedTuple):
    fns: Sequence[Callable]  # fn(env) runs task k (a timed one: fn(env, rec))
    succs: Sequence[Sequence[int]]
    npreds: Sequence[int]
    prio: Sequence[float]  # smaller runs first (the negated upward rank)


class Call:
    """One call's state: what is left to run, the ready heap, the tokens, errors."""

    def __init__(self, graph: TaskGraph, env, workers: int, recs=None):
        self.graph, self.env, self.workers, self.recs = graph, env, workers, recs
        self.left = list(graph.npreds)
        self.heap = [(graph.prio[k], k) for k, n in enumerate(graph.npreds) if n == 0]
        heapq.heapify(self.heap)
        self.lock = threading.Lock()
        self.tokens: SimpleQueue = SimpleQueue()
        self.done = 0
        self.errors: List[BaseException] = []
        self.finished: SimpleQueue = SimpleQueue()  # one item per worker thread leaving the call

    def fail(self, err: BaseException) -> None:
        with self.lock:
            self.errors.append(err)
        for _ in range(self.workers):
            self.tokens.put(STOP)

    def work(self, w: int, first: Optional[int] = None) -> None:
        """Worker ``w``'s loop: run tasks until its ``STOP``."""
        fns, succs, prio = self.graph.fns, self.graph.succs, self.graph.prio
        left, heap, lock, tokens, env = self.left, self.heap, self.lock, self.tokens, self.env
        rec = self.recs[w] if self.recs is not None else None
        n, k = len(fns), first
        while True:
            if k is None:
                if tokens.get() == STOP:
                    return
                if self.errors:
                    continue
                with lock:
                    k = heapq.heappop(heap)[1] if heap else None
                if k is None:
                    continue  # a token whose task a finishing worker took itself
            try:
                fns[k](env) if rec is None else fns[k](env, rec)
            except BaseException as err:  # noqa: BLE001 (reported by the calling thread)
                self.fail(err)
                k = None
                continue
            new = 0
            with lock:
                self.done += 1
                for s in succs[k]:
                    left[s] -= 1
                    if not left[s]:
                        heapq.heappush(heap, (prio[s], s))
                        new += 1
                last = self.done == n
                k = heapq.heappop(heap)[1] if heap and not self.errors else None
            for _ in range(new - 1):
                tokens.put(1)
            if last:
                for _ in range(self.workers):
                    tokens.put(STOP)


def _serve(starts: SimpleQueue, w: int) -> None:
    """A pool thread: one ``Call`` at a time from its start queue, until ``None``."""
    while True:
        call = starts.get()
        if call is None:
            return
        try:
            call.work(w)
        finally:
            call.finished.put(w)


class Workers:
    """``n - 1`` threads that join the calling thread in each ``run``; stopped when collected."""

    def __init__(self, n: int):
        self.n = n
        self._starts: List[SimpleQueue] = []

    def _start(self):
        for w in range(1, self.n):
            q: SimpleQueue = SimpleQueue()
            threading.Thread(target=_serve, args=(q, w), name=f"chainrule-worker-{w}", daemon=True).start()
            self._starts.append(q)
        weakref.finalize(self, _stop, list(self._starts))

    def run(self, graph: TaskGraph, env, recs=None) -> None:
        """Run every task of ``graph`` on ``env``; raises the first task's error."""
        if not self._starts and self.n > 1:
            self._start()
        call = Call(graph, env, self.n, recs)
        first = heapq.heappop(call.heap)[1] if call.heap else None
        for _ in range(len(call.heap)):
            call.tokens.put(1)
        switch = sys.getswitchinterval()
        if self._starts:
            sys.setswitchinterval(min(switch, SWITCH))
        for q in self._starts:
            q.put(call)
        if first is None:  # an empty graph
            for _ in range(self.n):
                call.tokens.put(STOP)
        try:
            call.work(0, first)
        finally:
            sys.setswitchinterval(switch)
        if call.errors:
            for _ in self._starts:  # every worker out of the call before the buffers are reused
                call.finished.get()
            raise call.errors[0]


def _stop(starts: List[SimpleQueue]) -> None:
    for q in starts:
        q.put(None)
