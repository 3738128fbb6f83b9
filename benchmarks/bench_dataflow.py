"""Benchmark: the dataflow executor against the sequential one, idle, with one core busy, with both busy.

    python benchmarks/bench_dataflow.py [--quick] [--blocks 8] [--loads idle one both]

Training steps of four independent towers 256-384-384-10 (batch 128), of MLPs
784-256-256-10 and 784-1024-1024-10 at batch 1-512 (the first layer's product summed in two,
``summed`` in ``ir/ops/linalg.py``), and of 256-512-512-10 at batch 32 and 128 (every product one
BLAS call). For each configuration, in one
process: the sequential executor with one BLAS thread and with the default (every core),
the dataflow executor with its defaults (guarded: it runs the faster of the sequential code at
one BLAS thread and either its tasks or the sequential code at every core's BLAS threads
where that gives the same bits), and its tasks alone (unguarded), against the schedule's predicted
makespan and predicted sequential sum.

Each contender runs in blocks of consecutive steps, as a training loop calls it (at least
``BLOCK_S`` = 0.25 s and ``CALLS`` steps), the first ``SKIP`` of a block not timed; the blocks
are interleaved in an order drawn each round, so a change of load hits every contender alike.
(Timing single calls interleaved measures something else: a worker thread that slept while
another contender ran wakes up slowly, 1.5-2x on this kind of machine, measured; and blocks of 8
calls, 2-8 ms for the MLPs at batch 1-32, measured mostly the calls right after another
contender's block: 150 back-to-back calls of 256-512-512-10 at batch 32 ran the tasks at 0.83 ms,
blocks of 8 at 1.5-1.8 ms.) After a block of the default sequential executor or of the dataflow
executor the script waits 0.2 s, until OpenBLAS's spinning second thread sleeps (``_settle``).

The times are medians of samples, each the mean of consecutive calls lasting at least
``SAMPLE_S`` (0.05 s; one call, if longer), as ``timeit`` and ``pyperf`` time loops rather than
single calls. With both cores busy, the sequential code on one thread on 784-256-256-10 at batch
128 took 1.9 and 6.0 ms in turn, call after call: a call fits in this process's time slice or
waits out the busy loop's 4 ms. A median of single calls was 1.96 or 5.96 ms by the draw, block
by block; of 25 ms samples, 3.8-4.4 ms (measured). The dataflow executor's mean is shown too,
against the better sequential mean: a training run takes the sum of its steps, which rare long
stalls dominate.

"One core busy" is a busy loop in a child process (its own session) pinned to the last core;
"both busy", one per core. The load average is printed with every condition: on a shared
machine "idle" is whatever the other jobs leave. Not a test: tests check correctness only.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import time

import numpy as np

import chainrule as cr
from chainrule.examples import models
from chainrule.passes.memory import plan_memory
from chainrule.runtime.costmodel import calibrate
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from chainrule.runtime.threads import available_cores


def towers(k=4, sizes=(256, 384, 384, 10), activation="relu"):
    """``k`` independent MLPs on one input, their losses summed (``chainrule.examples.models.towers``, the
    built-in model ``towers``; ``tests/test_dataflow.py`` uses it too). Returns ``(graph, sizes)``."""
    return models.towers(k, sizes, activation), sizes


def mlp(sizes):
    b = cr.GraphBuilder("mlp")
    x, t = b.input("x", ("N", sizes[0])), b.input("t", ("N", sizes[-1]))
    return b.build(cr.cross_entropy(cr.softmax(cr.nn.mlp(list(sizes), seed=0)(x)), t)), sizes


def _busy(core):
    """A busy loop: other work, as another program would be (its own session, so Linux's autogroup
    scheduler shares the cores between it and this process rather than among their threads)."""
    if hasattr(os, "setsid"):
        os.setsid()
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    while True:
        pass


def _cores_held(seconds=0.3):
    """How many cores two threads of this process hold (CPU time over wall time, each running
    ``np.exp`` on its own array): on a shared machine, what "idle" left."""
    import threading
    xs = [np.ones(1 << 20, np.float32) for _ in range(2)]
    end = time.perf_counter() + seconds

    def spin(x):
        y = np.empty_like(x)
        while time.perf_counter() < end:
            np.exp(x, out=y)
    ths = [threading.Thread(target=spin, args=(x,)) for x in xs]
    w0, c0 = time.perf_counter(), time.process_time()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return (time.process_time() - c0) / (time.perf_counter() - w0)


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _block(step, seconds):
    """One block: ``SKIP`` calls of ``step``, then samples of consecutive calls until ``seconds`` and
    ``CALLS`` calls passed. A sample is the mean time of calls summing to at least ``SAMPLE_S`` (one
    call, if longer): on a core the host shares, a call that fits in a time slice takes either its time
    or that plus the other job's slice (module docstring), and a median of single calls is whichever
    of the two the draw gives. Returns the samples."""
    for _ in range(SKIP):
        step()
    end, calls, samples = time.perf_counter() + seconds, SKIP, []
    while calls < CALLS or time.perf_counter() < end:
        spent, n = 0.0, 0
        while spent < SAMPLE_S:
            spent += _time(step)
            n += 1
        samples.append(spent / n)
        calls += n
    return samples


def _settle(contender):
    """After calls with two BLAS threads, wait until OpenBLAS's second thread stops spinning (it
    spins about 2^28 cycles for more work): spinning, it holds a core the next contender would use
    (two workers right after such a call ran 1.5-1.9x slower than one thread, measured)."""
    if contender in ("seq default", "dataflow"):  # the dataflow executor's guard may run two BLAS threads
        time.sleep(SETTLE)


def bench(name, graph, sizes, batch, blocks, block_s=None):
    g = cr.compile(graph, "training").graph
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    t = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)]

    def params():
        return {k: v.copy() for k, v in g.initializers.items()}
    runs = {"seq 1 thread": SequentialExecutor(g, params(), planner=plan_memory, threads=1),
            "seq default": SequentialExecutor(g, params(), planner=plan_memory),
            "dataflow": DataflowExecutor(g, params(), planner=plan_memory),
            "tasks": DataflowExecutor(g, params(), planner=plan_memory, guarded=False, margin=-10.0)}
    for k, r in runs.items():  # compiled, and the guard past its first timings, as a training loop's first steps
        end = time.perf_counter() + WARMUP_S
        for c in range(WARMUP):
            r.run_list([x, t])
            if c >= WARMUP_MIN and time.perf_counter() > end:
                break
        _settle(k)
    times = {k: [] for k in runs}
    order, shuffle = list(runs), random.Random(0).shuffle
    for _ in range(blocks):  # blocks of consecutive calls, interleaved in an order drawn each round
        shuffle(order)
        for k in order:
            times[k] += _block(lambda: runs[k].run_list([x, t]), BLOCK_S if block_s is None else block_s)
            _settle(k)
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    dfl = runs["dataflow"]
    s = dfl.schedule_for([x, t])
    guard = dfl.guards.get(dfl._key([x, t]))
    best = min(med["seq 1 thread"], med["seq default"])
    way = f"{guard.current} (measured)" if guard is not None else "sequential (predicted)"
    mean = {k: float(np.mean(v)) * 1e3 for k, v in times.items()}
    return dict(name=name, batch=batch, **med, ratio=med["dataflow"] / best, mean=mean["dataflow"],
                mean_ratio=mean["dataflow"] / min(mean["seq 1 thread"], mean["seq default"]),
                vs1=med["dataflow"] / med["seq 1 thread"],
                predicted=runs["tasks"].schedule_for([x, t]).makespan * 1e3, predicted_seq=s.sequential * 1e3,
                way=way, tasks_n=len(runs["tasks"].schedule_for([x, t]).tasks),
                gain=best / med["dataflow"])


def table(rows, load):
    print(f"\n== {load} ==")
    print(f"{'config':24} {'batch':>5} {'seq 1t':>8} {'seq def':>8} {'dataflow':>8} {'vs best':>7} {'vs 1t':>6} "
          f"{'tasks':>8} {'pred':>7} {'pred seq':>8} {'df mean':>8} {'vs best':>7}  runs")
    for r in rows:
        print(f"{r['name']:24} {r['batch']:5d} {r['seq 1 thread']:8.3f} {r['seq default']:8.3f} {r['dataflow']:8.3f} "
              f"{r['ratio']:6.2f}x {r['vs1']:5.2f}x {r['tasks']:8.3f} {r['predicted']:7.3f} {r['predicted_seq']:8.3f}"
              f" {r['mean']:8.3f} {r['mean_ratio']:6.2f}x  {r['way']}, {r['tasks_n']} tasks")


LOADS = {"idle": [], "one": [-1], "both": [0, -1]}  # busy loops, by core (-1: the last)
# calls of each contender before the timed ones: at most WARMUP (or WARMUP_MIN once WARMUP_S seconds
# passed), a training loop's first steps, while the guard times its ways and lengthens its probe intervals
WARMUP, WARMUP_MIN, WARMUP_S = 500, 20, 2.0
CALLS, SKIP = 8, 2  # the least calls in a block, and those not timed at its start
SAMPLE_S = 0.05  # the least seconds of calls in one sample (``_block``)
BLOCK_S = 0.25  # and the least seconds (``--block-seconds``)
SETTLE = 0.2  # seconds after each call with two BLAS threads (``_settle``)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer configurations and repetitions")
    ap.add_argument("--blocks", type=int, default=8, help="blocks of consecutive calls per contender")
    ap.add_argument("--block-seconds", type=float, default=BLOCK_S,
                    help=f"the least seconds of a block (and at least {CALLS} calls)")
    ap.add_argument("--loads", nargs="+", default=list(LOADS), choices=list(LOADS))
    args = ap.parse_args()
    blocks = 4 if args.quick else args.blocks
    m = calibrate()
    print(f"machine: {platform.machine()} {platform.processor()}, {available_cores()} cores available, "
          f"python {platform.python_version()}, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"calibration: {2 / m.madd[0] / 1e9:.0f} GFLOP/s per BLAS thread, "
          f"{2 / m.madd[-1] / 1e9:.0f} GFLOP/s with {len(m.madd)}, {1 / m.byte / 1e9:.0f} GB/s, "
          f"call {m.call * 1e6:.2f} us, hand-off {m.handoff * 1e6:.1f} us, launch {m.launch * 1e6:.1f} us, "
          f"task {m.task * 1e6:.2f} us")
    print("times in ms; vs best: dataflow / the better sequential; tasks: the dataflow tasks alone (unguarded); "
          "pred: their predicted makespan; pred seq: the predicted sequential sum (one BLAS thread); "
          "df mean: the dataflow executor's mean, and against the better sequential mean")
    configs = [("4 towers 256-384-384-10", towers, 128)]
    batches = (1, 32, 512) if args.quick else (1, 32, 128, 512)
    for sizes in ((784, 256, 256, 10), (784, 1024, 1024, 10)):
        for n in batches:
            configs.append(("-".join(map(str, sizes)), lambda s=sizes: mlp(s), n))
    for n in (32, 128):  # every product one BLAS call (no K over 256 that is not a multiple of 32)
        configs.append(("256-512-512-10", lambda: mlp((256, 512, 512, 10)), n))
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
    for load in args.loads:
        busy = [multiprocessing.Process(target=_busy, args=(cores[c] if cores[0] is not None else None,), daemon=True)
                for c in LOADS[load]]
        for p in busy:
            p.start()
        if busy:
            time.sleep(0.5)
        before, held = os.getloadavg()[0], _cores_held()
        try:
            rows = [bench(name, *make(), n, blocks, args.block_seconds) for name, make, n in configs]
            held_after = _cores_held()
        finally:
            for p in busy:
                p.terminate()
                p.join()
        table(rows, f"{load} ({len(busy)} busy loop(s) of this script; load average {before:.2f} before, "
                    f"{os.getloadavg()[0]:.2f} after; two threads of this process held {held:.2f} cores "
                    f"before, {held_after:.2f} after)")


if __name__ == "__main__":
    main()
