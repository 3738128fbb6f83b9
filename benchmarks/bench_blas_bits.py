"""Measurement: does a product's bits follow the BLAS thread count, whole and ``summed``, and what summing costs.

    python benchmarks/bench_blas_bits.py [--quick]

For each shape (M rows, N columns, K terms; float32 and float64; each operand transposed or
not) the product is computed with one BLAS thread and with every core's, both whole
(``np.matmul``) and as ``chainrule.ir.ops.linalg.summed`` computes it; it prints how many
differ in any bit, and the same over a sweep of K (every multiple of 32 up to 4096, whole; K
from 257 in steps of 13, summed). Then the time of both at one thread and at every core's thread count, for
the first layer of an MLP with a 784-wide input (medians of interleaved blocks). Not a test:
tests check that ``summed`` keeps its bits (``tests/test_summed.py``).
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from chainrule.ir.ops.linalg import summed
from chainrule.runtime.threads import BlasSetter, available_cores


def bits(setter, n, quick):
    rng = np.random.default_rng(2)
    ms, ns, ks = ((2, 128), (10, 256), (456, 784, 1500)) if quick else \
        ((2, 32, 128, 513), (10, 256, 1000), (300, 456, 784, 1000, 1500, 2500))
    count = {}
    for dt, m, nn, k, layout in itertools.product((np.float32, np.float64), ms, ns, ks, ("nn", "nt", "tn")):
        a = rng.standard_normal((m, k) if layout[0] == "n" else (k, m)).astype(dt)
        b = rng.standard_normal((k, nn) if layout[1] == "n" else (nn, k)).astype(dt)
        a, b = (a if layout[0] == "n" else a.T), (b if layout[1] == "n" else b.T)
        out = {}
        for threads in (1, n):
            setter(threads)
            out[threads] = (np.matmul(a, b).tobytes(), summed(a, b).tobytes())
        c = count.setdefault(dt.__name__, [0, 0, 0])
        c[0] += 1
        c[1] += out[1][0] != out[n][0]
        c[2] += out[1][1] != out[n][1]
    for dt, (total, whole, split) in count.items():
        print(f"{dt}: {total} shapes; one thread against {n}: {whole} whole products differ, {split} summed")


def sweep(setter, n, quick):
    """Every multiple of 32 up to 4096 (whole products), and K from 257 in steps of 13 (summed)."""
    rng = np.random.default_rng(5)
    shapes = ((128, 256),) if quick else ((128, 256), (33, 1000), (512, 64))
    top = 1024 if quick else 4096
    for dt in (np.float32, np.float64):
        whole = summ = cases = 0
        for (m, nn), k in itertools.product(shapes, list(range(32, top + 1, 32)) + list(range(257, 1600, 13))):
            a, b = rng.standard_normal((m, k)).astype(dt), rng.standard_normal((k, nn)).astype(dt)
            out = {}
            for threads in (1, n):
                setter(threads)
                out[threads] = (np.matmul(a, b).tobytes(), summed(a, b).tobytes())
            cases += 1
            whole += k % 32 == 0 and out[1][0] != out[n][0]
            summ += out[1][1] != out[n][1]
        print(f"{dt.__name__}: {cases} products, K up to {top}: {whole} whole with K a multiple of 32 differ, "
              f"{summ} summed")


def cost(setter, n, quick):
    rng = np.random.default_rng(3)
    print(f"\n[M, 784] @ [784, N]ᵀ, microseconds (medians of {5 if quick else 9} interleaved blocks of 20 calls)")
    print(f"{'M':>4} {'N':>5} {'threads':>7} {'whole':>8} {'summed':>8}  ratio")
    for m, nn in ((1, 256), (32, 256), (128, 256), (512, 256), (128, 1024), (512, 1024)):
        x = rng.standard_normal((m, 784)).astype(np.float32)
        w = rng.standard_normal((nn, 784)).astype(np.float32)
        y = np.empty((m, nn), np.float32)
        for threads in (1, n):
            setter(threads)
            fns = {"whole": lambda: np.matmul(x, w.T, y), "summed": lambda: summed(x, w.T, y)}
            med = {k: [] for k in fns}
            for _ in range(5 if quick else 9):
                for k, f in fns.items():
                    f()
                    t = []
                    for _ in range(20):
                        t0 = time.perf_counter()
                        f()
                        t.append(time.perf_counter() - t0)
                    med[k].append(np.median(t))
            a, b = (float(np.median(med[k])) * 1e6 for k in ("whole", "summed"))
            print(f"{m:4d} {nn:5d} {threads:7d} {a:8.1f} {b:8.1f}  {b / a:.3f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer shapes and repetitions")
    args = ap.parse_args()
    setter, n = BlasSetter(), available_cores()
    if n < 2 or not setter.get():
        raise SystemExit("needs two cores or more and a BLAS library threadpoolctl can set "
                         "(pip install threadpoolctl)")
    prev = setter.get()
    try:
        bits(setter, n, args.quick)
        sweep(setter, n, args.quick)
        cost(setter, n, args.quick)
    finally:
        setter(prev)


if __name__ == "__main__":
    main()
