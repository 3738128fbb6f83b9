"""Benchmark: the dataflow executor against the sequential one, idle and with one core busy.

    python benchmarks/bench_dataflow.py [--quick] [--reps 30]

Training steps of four independent towers 256-384-384-10 (batch 128) and of
MLPs at batch 1-512. For each configuration: the sequential executor with one
BLAS thread and with the default (every core), the dataflow executor with its
defaults, and the dataflow schedule's predicted makespan against the sequential
sum it predicts. One process, interleaved runs, medians. "One core busy" is a
busy loop in a child process that this script starts and stops. Not a test:
tests check correctness only.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import time

import numpy as np

import chainrule as cr
from chainrule.passes.memory import plan_memory
from chainrule.runtime.costmodel import calibrate
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from chainrule.runtime.threads import available_cores


def towers(k=4, sizes=(256, 384, 384, 10), activation="relu"):
    """``k`` independent MLPs on one input, their losses summed: the graph inter-op parallelism is for
    (``tests/test_dataflow.py`` uses it too). Returns ``(graph, sizes)``."""
    b = cr.GraphBuilder("towers")
    x, t = b.input("x", ("N", sizes[0])), b.input("t", ("N", sizes[-1]))
    total = None
    for j in range(k):
        m = cr.nn.mlp(list(sizes), activation, seed=10 * j)
        for i, layer in enumerate(m_ for m_ in m.modules if isinstance(m_, cr.nn.Linear)):
            layer.name = f"t{j}.fc{i + 1}"
        loss = cr.cross_entropy(cr.softmax(m(x)), t)
        total = loss if total is None else total + loss
    return b.build(total), sizes


def mlp(sizes):
    b = cr.GraphBuilder("mlp")
    x, t = b.input("x", ("N", sizes[0])), b.input("t", ("N", sizes[-1]))
    return b.build(cr.cross_entropy(cr.softmax(cr.nn.mlp(list(sizes), seed=0)(x)), t)), sizes


def _busy():
    while True:
        pass


def _median_ms(fn, reps):
    return float(np.median([_time(fn) for _ in range(reps)])) * 1e3


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(name, graph, sizes, batch, reps):
    g = cr.compile(graph, "training").graph
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    t = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)]
    runs = {"seq 1 thread": SequentialExecutor(g, {k: v.copy() for k, v in g.initializers.items()},
                                               planner=plan_memory, threads=1),
            "seq default": SequentialExecutor(g, {k: v.copy() for k, v in g.initializers.items()},
                                              planner=plan_memory),
            "dataflow": DataflowExecutor(g, {k: v.copy() for k, v in g.initializers.items()}, planner=plan_memory)}
    for r in runs.values():
        r.run_list([x, t])
        r.run_list([x, t])
    times = {k: [] for k in runs}
    for _ in range(reps):  # interleaved, so a change of load hits every contender alike
        for k, r in runs.items():
            times[k].append(_time(lambda: r.run_list([x, t])))
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    s = runs["dataflow"].schedule_for([x, t])
    best = min(med["seq 1 thread"], med["seq default"])
    return dict(name=name, batch=batch, **med, ratio=med["dataflow"] / best, predicted=s.makespan * 1e3,
                predicted_seq=s.sequential * 1e3, decision="dataflow" if s.parallel else "sequential",
                tasks=len(s.tasks))


def table(rows, load):
    print(f"\n== {load} ==")
    print(f"{'config':22} {'batch':>5} {'seq 1t ms':>10} {'seq def ms':>10} {'dataflow ms':>11} {'vs best':>8} "
          f"{'pred ms':>8} {'pred seq':>8}  decision")
    for r in rows:
        print(f"{r['name']:22} {r['batch']:5d} {r['seq 1 thread']:10.3f} {r['seq default']:10.3f} "
              f"{r['dataflow']:11.3f} {r['ratio']:7.2f}x {r['predicted']:8.3f} {r['predicted_seq']:8.3f}  "
              f"{r['decision']} ({r['tasks']} tasks)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer configurations and repetitions")
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    reps = 10 if args.quick else args.reps
    m = calibrate()
    print(f"machine: {platform.machine()} {platform.processor()}, {available_cores()} cores available, "
          f"python {platform.python_version()}, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"calibration: {2 / m.madd[0] / 1e9:.0f} GFLOP/s per BLAS thread, "
          f"{2 / m.madd[-1] / 1e9:.0f} GFLOP/s with {len(m.madd)}, {1 / m.byte / 1e9:.0f} GB/s, "
          f"call {m.call * 1e6:.2f} us, hand-off {m.handoff * 1e6:.1f} us, launch {m.launch * 1e6:.1f} us")
    configs = [("4 towers 256-384-384-10", towers, 128)]
    batches = (1, 32, 512) if args.quick else (1, 32, 128, 512)
    for sizes in ((784, 256, 256, 10), (784, 1024, 1024, 10)):
        for n in batches:
            configs.append(("-".join(map(str, sizes)), lambda s=sizes: mlp(s), n))
    for load in ("idle", "one core busy"):
        busy = None
        if load != "idle":
            busy = multiprocessing.Process(target=_busy, daemon=True)
            busy.start()
            time.sleep(0.5)
        try:
            rows = [bench(name, *make(), n, reps) for name, make, n in configs]
        finally:
            if busy is not None:
                busy.terminate()
                busy.join()
        table(rows, f"{load} (load average {os.getloadavg()[0]:.2f} at the end)")


if __name__ == "__main__":
    main()
