"""The dataflow executor: independent nodes run concurrently on a thread pool.

NumPy releases the GIL in BLAS and ufunc loops. Besides true dependencies a
node that overwrites a buffer runs after every reader of the buffer's previous
value (``_Prepared.deps``), so the results are bit-identical to the sequential
executor's.
"""
from __future__ import annotations

import functools
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

import numpy as np

from .executor import SequentialExecutor


class DataflowExecutor(SequentialExecutor):
    """Runs independent nodes concurrently on ``workers`` threads; same buffers, same bits."""

    def __init__(self, graph, params=None, planner=None, threads=None, workers: int = 2):
        super().__init__(graph, params, planner, threads)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chainrule")
        self._prep: Dict[tuple, tuple] = {}

    def _compile(self, key):
        prep = self.prepared(key)
        succ = [[] for _ in prep.code]
        for i, d in enumerate(prep.deps):
            for j in d:
                succ[j].append(i)
        indeg = [len(d) for d in prep.deps]
        ns = prep.gen.ns
        src = []
        for i, (body, ins, outs) in enumerate(prep.code):  # the sequential code, one function per node
            src.append(f"def n{i}(env):")
            src += [f"    v{s} = env[{s}]" for s in sorted(set(ins)) if prep.expr[s] == f"v{s}"]
            src += ["    " + ln for ln in body]
            src += [f"    env[{s}] = {prep.expr[s]}" for s in outs] + ["    return"]
        exec(compile("\n".join(src), f"<chainrule nodes {self.graph.name}>", "exec"), ns)  # noqa: S102
        fns = [ns[f"n{i}"] for i in range(len(prep.code))]
        self._prep[key] = (prep, succ, indeg, fns, self._updates(prep, key))
        return functools.partial(self._run_graph, key=key)

    def _run_graph(self, arrays, P, key):
        prep, succ, indeg0, fns, updates = self._prep[key]
        g = self.graph
        env: List = [None] * len(prep.slot)
        for v, a in zip(g.inputs, arrays):
            env[prep.slot[id(v)]] = a
        for v in g.params:
            env[prep.slot[id(v)]] = P[v.name]
        before = {k: P[v.name].copy() for k, v in enumerate(g.outputs) if v.kind in ("param", "state")}
        done: "queue.SimpleQueue" = queue.SimpleQueue()

        def work(i):
            try:
                fns[i](env)
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
            raise error
        def val(s):
            e = prep.expr[s]
            return env[int(e[1:])] if e[0] == "v" and e[1:].isdigit() else prep.gen.ns[e]
        for ps, vs in updates:
            np.copyto(val(ps), val(vs))
        return [before[k] if k in before else val(prep.slot[id(v)]) for k, v in enumerate(g.outputs)]
