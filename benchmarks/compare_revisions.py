"""Benchmark two git revisions of chainrule against each other, interleaved, in one process.

    python benchmarks/compare_revisions.py HEAD~5 HEAD [--reps 15]

Each revision is unpacked (``git archive``) into a temporary folder and imported
under its own package name; chainrule's imports are relative, so both live side
by side. The training steps of three MLPs (the ones ``bench_step.py`` uses)
then run in turns, 1 BLAS thread, and the medians and their ratio are printed.
Run in one process, the two see the same machine load, which separate runs of
``bench_step.py`` on a shared machine do not. Not a test.
"""
from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

CONFIGS = (((784, 256, 256, 10), 32, 30), ((64, 32, 10), 32, 200), ((2, 2, 2, 2), 1, 400))


def load_revision(rev: str, root: str, k: int):
    """The chainrule package of git revision ``rev``, imported as ``chainrule_rev<k>``."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = subprocess.run(["git", "-C", repo, "archive", "--format=tar", rev], check=True,
                          capture_output=True).stdout
    name = f"chainrule_rev{k}"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(os.path.join(root, name), filter="data")
    sys.path.insert(0, root)
    return importlib.import_module(name)


def training_step(cr, sizes, n):
    model = cr.nn.mlp(list(sizes), seed=0)
    b = cr.GraphBuilder("mlp")
    x, t = b.input("x", ("N", sizes[0])), b.input("t", ("N", sizes[-1]))
    step = cr.compile(b.build(cr.cross_entropy(cr.softmax(model(x)), t)), pipeline="training")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    T = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    return step, X, T


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old", help="git revision to compare from (e.g. HEAD~5)")
    p.add_argument("new", help="git revision to compare to (e.g. HEAD)")
    p.add_argument("--reps", type=int, default=15, help="interleaved rounds per configuration (default 15)")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits
    with tempfile.TemporaryDirectory() as root:
        mods = [load_revision(r, root, k) for k, r in enumerate((args.old, args.new))]
        print(f"load average before: {os.getloadavg()[0]:.2f}; 1 BLAS thread; medians of {args.reps} rounds")
        for sizes, n, calls in CONFIGS:
            steps = [training_step(cr, sizes, n) for cr in mods]
            times = [[], []]
            with threadpool_limits(1):
                for s, X, T in steps:
                    for _ in range(20):  # warm: plans, generated code, caches
                        s(X, T)
                for _ in range(args.reps):
                    for k, (s, X, T) in enumerate(steps):
                        t0 = time.perf_counter()
                        for _ in range(calls):
                            s(X, T)
                        times[k].append((time.perf_counter() - t0) / calls * 1e6)
            old, new = (statistics.median(t) for t in times)
            print(f"{'-'.join(map(str, sizes)):>16} batch {n:<3} {args.old}: {old:8.1f} us   "
                  f"{args.new}: {new:8.1f} us   new/old {new / old:.3f}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
