"""How long a node takes on this machine: the cost ledger's counts times measured rates.

A node's time is predicted from what its op says about it (``Op.flops``
multiply-adds, ``Op.blas``, the bytes of its operands and results):

    t(node, threads) = call + madds · madd[threads]   (a BLAS op)
                     + bytes · byte                    (every op)

The rates are measured once per machine by ``calibrate()`` (a GEMM at each
thread count, a large ``add``, a tiny call, a hand-off between two threads,
a worker's bookkeeping per task; about 0.2 s) and cached in memory and in a
small JSON file, so every process on the machine predicts the same schedule.
Rates that cannot be this machine's (one BLAS thread more than ``t`` times
slower than ``t``: measured while other work held the core) are measured
again and never cached (``plausible``).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

from ..ir.files import open_regular, write_file
from .threads import BlasSetter, available_cores
from .cache import CACHE_ENV, cache_dir  # noqa: F401  (the calibration file's folder; CACHE_ENV names it)


class Machine(NamedTuple):
    """Measured rates, in seconds: ``madd[t - 1]`` per BLAS multiply-add with t threads."""
    cores: int
    madd: Tuple[float, ...]
    byte: float  # per byte read or written by an elementwise op
    call: float  # fixed cost of one generated line calling NumPy
    handoff: float  # a token handed to a worker waiting on a queue, until it runs
    launch: float  # starting the other workers of one call and joining them
    task: float  # a worker taking one task from the ready heap and counting down its successors

    def madd_s(self, threads: int) -> float:
        return self.madd[min(max(threads, 1), len(self.madd)) - 1]


class NodeCost(NamedTuple):
    madds: int
    bytes: int
    blas: bool


def node_cost(node, bindings: Dict[str, int]) -> NodeCost:
    """The ledger's counts for one node (``frontends/inspect/cost.py`` prints the same counts)."""
    ins = [v.type for v in node.inputs]
    outs = [v.type for v in node.outputs]
    madds = int(node.op.flops(ins, outs, dict(node.attrs), bindings) or 0)
    nbytes = sum(t.nbytes(bindings) or 0 for t in ins + outs)
    return NodeCost(madds, nbytes, bool(node.op.blas))


def seconds(c: NodeCost, m: Machine, threads: int = 1) -> float:
    """Predicted time of a node with these counts (``threads`` matters for BLAS ops only)."""
    t = m.call + c.bytes * m.byte
    if c.blas:
        t += c.madds * m.madd_s(threads)
    return t


def _median(fn, reps: int, best: bool = False) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(min(times) if best else np.median(times))


def _handoff(reps: int = 200) -> float:
    """Half a ping-pong between two threads through queues (as ``pull.py`` hands out tasks): one wake-up."""
    from queue import SimpleQueue
    ping, pong = SimpleQueue(), SimpleQueue()

    def other():
        for _ in range(reps):
            pong.put(ping.get())

    th = threading.Thread(target=other)
    th.start()
    t0 = time.perf_counter()
    for _ in range(reps):
        ping.put(1)
        pong.get()
    t = time.perf_counter() - t0
    th.join()
    return t / (2 * reps)


def _launch(reps: int = 100) -> float:
    """A call of two workers (``pull.py``) in which the pool thread must run a task: waking it."""
    from .pull import TaskGraph, Workers
    pool = Workers(2)
    ran = threading.Event()

    def wait(env):  # worker 0's task: done when the other task has run on the pool thread
        ran.wait()
        ran.clear()
    g = TaskGraph([wait, lambda env: ran.set()], [[], []], [0, 0], [0, 1])
    return _median(lambda: pool.run(g, None), reps)


def _task(n: int = 400) -> float:
    """One task of a chain run by one worker (``pull.py``): its bookkeeping, no work."""
    from .pull import TaskGraph, Workers
    g = TaskGraph([lambda env: None] * n, [[k + 1] for k in range(n - 1)] + [[]], [0] + [1] * (n - 1),
                  list(range(n)))
    return _median(lambda: Workers(1).run(g, None), 15) / n


def measure() -> Machine:
    """Measure the rates now (about 0.2 s)."""
    cores = available_cores()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 384), dtype=np.float32)
    b = rng.standard_normal((384, 384), dtype=np.float32)
    out = np.empty((128, 384), np.float32)
    setb = BlasSetter()
    before = setb.get()
    best = [float("inf")] * cores
    try:  # the fastest of 30 runs at each thread count, the counts taken in turn, so that a burst of
        # other work slows all of them alike: a shared machine only ever slows a GEMM down
        for _ in range(31):
            for t in range(1, cores + 1):
                setb(t)
                t0 = time.perf_counter()
                np.matmul(a, b, out=out)
                best[t - 1] = min(best[t - 1], time.perf_counter() - t0)
    finally:
        if before:
            setb(before)
    madd = [t / (128 * 384 * 384) for t in best]
    x = rng.standard_normal(1 << 18, dtype=np.float32)
    y = np.empty_like(x)
    byte = _median(lambda: np.add(x, x, out=y), 15) / (3 * x.nbytes)
    one = np.zeros(1, np.float32)
    call = _median(lambda: np.add(one, one, out=one), 200)
    return Machine(cores, tuple(madd), byte, call, _handoff(), _launch(), _task())


_MACHINE: Dict[str, Machine] = {}
VERSION = 2  # of what ``measure`` measures: a new version measures again


def plausible(m: Machine) -> bool:
    """Could these rates be this machine's? ``t`` BLAS threads are at most ``t`` times faster than one
    (1.5x slack for turbo): a one-thread rate measured while other work held the core came out 32x
    slower than two threads', and a cache of it would mislead every later schedule."""
    return all(0 < r < float("inf") for r in m.madd) and \
        all(m.madd[0] <= 1.5 * t * m.madd[t - 1] for t in range(1, len(m.madd) + 1))


def _key() -> str:
    from .threads import _controller
    ctl = _controller()
    blas = [(c.internal_api, c.version, getattr(c, "architecture", "")) for c in ctl.lib_controllers] if ctl else []
    text = repr((VERSION, platform.machine(), platform.processor(), platform.node(), available_cores(),
                 np.__version__, blas))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_file(key: str) -> str:
    return cache_dir(f"machine-{key}.json")


def calibrate(refresh: bool = False) -> Machine:
    """This machine's rates: measured on first use, then read from the cache."""
    key = _key()
    if key in _MACHINE and not refresh:
        return _MACHINE[key]
    path = _cache_file(key)
    m: Optional[Machine] = None
    if not refresh:
        try:
            with open_regular(path, text=True) as f:  # ReadError is an OSError: measure instead
                d = json.load(f)
            m = Machine(int(d["cores"]), tuple(float(x) for x in d["madd"]), float(d["byte"]), float(d["call"]),
                        float(d["handoff"]), float(d["launch"]), float(d["task"]))
        except (OSError, ValueError, KeyError, TypeError):
            m = None  # no cache yet, or an unreadable one: measure
    if m is None or m.cores != available_cores() or not plausible(m):
        m = measure()
        if not plausible(m):
            m = measure()  # once more; if still implausible, used by this process but not cached
        try:
            if plausible(m):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_file(path, json.dumps(m._asdict(), indent=1))
        except Exception:  # noqa: BLE001 (a read-only home only costs a measurement next time)
            pass
    _MACHINE[key] = m
    return m
