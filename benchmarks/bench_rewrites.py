"""Benchmark: simplify, cse and fold-constants alone on chains of 10,000 and 100,000 nodes.

    python benchmarks/bench_rewrites.py [SIZE ...] [simplify|cse|fold-constants ...]

Each graph is built with the IR API (no other pass runs) so that every node is one rewrite:

- simplify: ``h = Tanh(Mul(h, one))``, one shared Constant, so ``x·1 → x`` fires at every Mul and
  the constant loses one use per rewrite (it had n/2 of them);
- cse: ``h = Add(Tanh(h), Tanh(h))``, the second Tanh of each step merges into the first;
- fold-constants: ``c = Neg(c)`` from a Constant, n times, then ``Add(x, c)``: every Neg folds, each
  new Constant inserted before the node it replaces.

One process, the cyclic garbage collector paused while a pass runs (as the pass manager does).
Not a test: ``tests/test_scale.py`` counts the work of the same graphs instead of timing them.
"""
from __future__ import annotations

import gc
import os
import sys
import time

import numpy as np

from chainrule.ir import DType, Emitter, Graph, TensorType
from chainrule.passes.cse import cse
from chainrule.passes.fold import fold_constants
from chainrule.passes.simplify import simplify

T = TensorType((4,), DType.f32)


def simplify_chain(n: int) -> Graph:
    """About ``n`` nodes: ``(n - 1) / 2`` steps of ``h = Tanh(Mul(h, one))`` on one shared Constant."""
    g = Graph("simplify_chain")
    e = Emitter(g)
    h = g.add_input("x", T)
    one = e.const(np.ones(4, np.float32), name="one")
    for _ in range((n - 1) // 2):
        h = e.Tanh(e.Mul(h, one))
    g.set_outputs([h])
    return g


def cse_chain(n: int) -> Graph:
    """About ``n`` nodes: ``n / 3`` steps of ``h = Add(Tanh(h), Tanh(h))``."""
    g = Graph("cse_chain")
    e = Emitter(g)
    h = g.add_input("x", T)
    for _ in range(n // 3):
        h = e.Add(e.Tanh(h), e.Tanh(h))
    g.set_outputs([h])
    return g


def fold_chain(n: int) -> Graph:
    """``n`` nodes: a Constant, ``n - 2`` steps of ``c = Neg(c)``, then ``Add(x, c)``."""
    g = Graph("fold_chain")
    e = Emitter(g)
    x = g.add_input("x", T)
    c = e.const(np.ones(4, np.float32), name="c")
    for _ in range(n - 2):
        c = e.Neg(c)
    g.set_outputs([e.Add(x, c)])
    return g


CASES = {"simplify": (simplify_chain, simplify), "cse": (cse_chain, cse),
         "fold-constants": (fold_chain, fold_constants)}


def main(argv):
    only = [a for a in argv if not a.isdigit()]
    sizes = [int(a) for a in argv if a.isdigit()] or [10_000, 100_000]
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, (make, p) in CASES.items():
        if only and name not in only:
            continue
        for n in sizes:
            g = make(n)
            before = len(g.nodes)
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            p(g)
            dt = time.perf_counter() - t0
            gc.enable()
            print(f"{name:15s} {before:7d} nodes -> {len(g.nodes):6d}: {dt:8.3f} s  "
                  f"({dt / before * 1e6:5.1f} us per node)", flush=True)
    print(f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main(sys.argv[1:])
