"""Benchmark: compiled training step and inference vs hand-written NumPy, PyTorch eager and onnxruntime;
and the LeNet-5 training step (``bench_lenet.py``) against NumPy im2col and PyTorch eager.

    python benchmarks/bench_step.py [--quick] [--threads 1 2] [--backend numba]

One process, interleaved runs, medians. The NumPy baseline is preallocated and
uses the fused softmax-CE gradient (y − t)/N (and an outer product for the
weight gradients at batch 1, as a careful person would). PyTorch and
onnxruntime run when installed, limited to the same number of threads. ``--backend numba``
prints instead the numba backend's table (``bench_numba.py``: the step compiled into one
function, against hand NumPy, chainrule's NumPy backend and JAX jit, with cold and warm compile
times). Not a test: tests check correctness only.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import chainrule as cr
from chainrule.passes.optimizer import SGDUpdate
from chainrule.passes.pipeline import training_pipeline
from chainrule.runtime.threads import blas_threads

from bench_lenet import lenet_section

LR = 0.1
# OpenMP threads (PyTorch's) sleep when idle instead of spinning: with interleaved runs, spinning
# threads of one contender would steal the cores of the next one. Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def train_graph(sizes):
    model = cr.nn.mlp(list(sizes), seed=0)
    b = cr.GraphBuilder("mlp")
    x, t = b.input("x", ("N", sizes[0])), b.input("t", ("N", sizes[-1]))
    return b.build(cr.cross_entropy(cr.softmax(model(x)), t)), model


class NumpyMLP:
    """Hand-written ReLU MLP step with preallocated buffers (what a careful person writes)."""

    def __init__(self, params, sizes, n):
        self.W = [params[f"fc{i + 1}.weight"] for i in range(len(sizes) - 1)]
        self.b = [params[f"fc{i + 1}.bias"] for i in range(len(sizes) - 1)]
        self.z = [np.empty((n, s), np.float32) for s in sizes[1:]]
        self.gz = [np.empty((n, s), np.float32) for s in sizes[1:]]
        self.gW = [np.empty_like(w) for w in self.W]

    def forward(self, x):
        h = x
        for i, (w, b, z) in enumerate(zip(self.W, self.b, self.z)):
            np.matmul(h, w.T, out=z)
            z += b
            if i < len(self.W) - 1:
                np.maximum(z, 0, out=z)
            h = z
        return h

    def step(self, x, t):
        y = self.forward(x)
        n = x.shape[0]
        g = self.gz[-1]
        np.subtract(y, y.max(1, keepdims=True), out=g)
        np.exp(g, out=g)
        g /= g.sum(1, keepdims=True)
        loss = -np.sum(t * np.log(np.maximum(g, 1e-30))) / n
        g -= t
        g *= np.float32(1.0 / n)
        for i in range(len(self.W) - 1, -1, -1):
            h = x if i == 0 else self.z[i - 1]
            if n == 1:  # an outer product: BLAS gemm with k = 1 is slow
                np.multiply(g.T, h, out=self.gW[i])
            else:
                np.matmul(g.T, h, out=self.gW[i])
            gb = g.sum(0)
            if i > 0:
                gp = self.gz[i - 1]
                np.matmul(g, self.W[i], out=gp)
                gp *= h > 0
            self.gW[i] *= np.float32(LR)
            self.W[i] -= self.gW[i]
            gb *= np.float32(LR)
            self.b[i] -= gb
            if i > 0:
                g = self.gz[i - 1]
        return loss


def torch_step(sizes, params, threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    Ws = [torch.tensor(params[f"fc{i + 1}.weight"], requires_grad=True) for i in range(len(sizes) - 1)]
    bs = [torch.tensor(params[f"fc{i + 1}.bias"], requires_grad=True) for i in range(len(sizes) - 1)]

    def step(x, t):
        h = torch.from_numpy(x)
        for i, (w, b) in enumerate(zip(Ws, bs)):
            h = torch.nn.functional.linear(h, w, b)
            if i < len(Ws) - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, torch.from_numpy(t))
        loss.backward()
        with torch.no_grad():
            for p in Ws + bs:
                p -= LR * p.grad
                p.grad = None
        return loss
    return step


def ort_step(graph_step, threads):
    """The same compiled training step run by onnxruntime (updates copied back), ``threads`` intra-op."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    ort.set_default_logger_severity(3)  # parameters are graph inputs (they change every step): no warning
    exe = cr.compile(graph_step, pipeline=training_pipeline(optimizer=SGDUpdate(lr=LR)), backend="onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads would steal the
    # other contenders' cores on a 2-core machine (interleaved runs)
    exe.session = ort.InferenceSession(exe.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return exe


def median_times(fns, reps, inner):
    """Interleaved: each round runs every function ``inner`` times; returns median seconds per call."""
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            times[k].append((time.perf_counter() - t0) / inner)
    return {k: float(np.median(v)) for k, v in times.items()}


def bench_config(sizes, n, reps, rng, threads):
    g, model = train_graph(sizes)
    t0 = time.perf_counter()
    exe = cr.compile(g, pipeline=training_pipeline(optimizer=SGDUpdate(lr=LR)), executor="sequential")
    compile_s = time.perf_counter() - t0
    inf = cr.compile(model, executor="sequential")
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    t = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    hand = NumpyMLP({k: v.copy() for k, v in exe.params.items()}, sizes, n)
    same_step(exe, hand, x, t)
    fns = {"chainrule": lambda: exe(x, t), "numpy": lambda: hand.step(x, t),
           "chainrule_inf": lambda: inf(x), "numpy_inf": lambda: hand.forward(x)}
    ts = torch_step(sizes, exe.params, threads)
    if ts is not None:
        fns["torch"] = lambda: ts(x, t)
    ox = ort_step(g, threads)
    if ox is not None:
        fns["ort"] = lambda: ox(x, t)
    flops = 3 * 2 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    inner = max(1, int(2e-3 / max(1e-6, flops / 20e9)))
    for f in fns.values():
        f()
    return median_times(fns, reps, min(inner, 200)), compile_s, len(exe.graph.nodes), flops


def same_step(exe, hand, x, t):
    """Before timing anything: one step of each from the same parameters gives the same loss and
    the same updated parameters, so the two implementations compute the same thing."""
    lc, lh = float(exe(x, t)), float(hand.step(x, t))
    if not np.isclose(lc, lh, rtol=1e-4, atol=1e-6):
        raise AssertionError(f"chainrule's loss {lc} differs from the hand-written step's {lh}")
    for i, (w, b) in enumerate(zip(hand.W, hand.b), 1):
        for name, mine in ((f"fc{i}.weight", w), (f"fc{i}.bias", b)):
            if not np.allclose(exe.params[name], mine, rtol=1e-4, atol=1e-6):
                raise AssertionError(f"after one step, {name} differs between chainrule and the hand-written step")


def gemm_peak(reps=5):
    a = np.ones((512, 784), np.float32)
    b = np.ones((784, 256), np.float32)
    c = np.empty((512, 256), np.float32)
    best = min(_timed(lambda: np.matmul(a, b, out=c), 20) for _ in range(reps))
    return 2 * 512 * 784 * 256 / best


def _timed(f, k):
    t0 = time.perf_counter()
    for _ in range(k):
        f()
    return (time.perf_counter() - t0) / k


def dispatch_overhead(k=200, reps=7):
    """Per-node cost of the executor: a chain of ``k`` nodes (MatMul, Relu alternating, so nothing
    fuses or folds) on 1x1 arrays against the same NumPy calls written by hand into preallocated buffers."""
    b = cr.GraphBuilder("chain")
    y = b.input("x", (1, 1))
    w = b.param("w", np.ones((1, 1), np.float32))
    for _ in range(k // 2):
        y = cr.relu(b.op("MatMul", y, w))
    exe = cr.compile(b.build(y), executor="sequential")
    assert len(exe.graph.nodes) == k, len(exe.graph.nodes)
    x, wa = np.ones((1, 1), np.float32), np.ones((1, 1), np.float32)
    bufs = [np.empty((1, 1), np.float32) for _ in range(k)]

    def hand():
        h = x
        for i in range(0, k, 2):
            h = np.maximum(np.matmul(h, wa, out=bufs[i]), 0, out=bufs[i + 1])
        return h
    m = median_times({"exe": lambda: exe(x), "hand": hand}, reps, 50)
    return (m["exe"] - m["hand"]) / k, m["exe"] / k, m["hand"] / k


def compile_scaling(sizes=(1000, 6666, 10000)):
    out = []
    for n in sizes:
        b = cr.GraphBuilder("chain")
        x = b.input("x", (4,))
        y = x
        for i in range(n // 2):
            y = cr.tanh(y * 1.0001)
        g = b.build(y.sum())
        t0 = time.perf_counter()
        cr.compile(g, executor="sequential")
        out.append((len(g.nodes), time.perf_counter() - t0))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and configurations")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--backend", choices=["numpy", "numba"], default="numpy",
                    help="numba: the numba backend's table (bench_numba.py) instead of the NumPy one")
    ap.add_argument("--smoke", action="store_true",
                    help="one tiny configuration, one repetition: checks the script runs (the test suite uses it)")
    args = ap.parse_args()
    reps = 5 if args.quick else 11
    configs = [((784, 256, 256, 10), 1), ((784, 256, 256, 10), 32), ((784, 256, 256, 10), 128),
               ((784, 256, 256, 10), 512), ((64, 32, 10), 32), ((2, 2, 2, 2), 1)]
    if args.quick:
        configs = [configs[1], configs[4], configs[5]]
    if args.smoke:
        configs, reps, args.threads = [((8, 4, 3), 4), ((2, 2, 2, 2), 1)], 1, [1]
    try:
        from threadpoolctl import threadpool_info
        kern = "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info())
    except ImportError:
        kern = "threadpoolctl not installed"
    print(f"machine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}, "
          f"numpy {np.__version__}; BLAS: {kern}")
    rng = np.random.default_rng(0)
    if args.backend == "numba":
        return numba_main(args, reps, rng)
    for th in args.threads:
        with blas_threads(th):
            peak = gemm_peak()
            print(f"\n== {th} BLAS thread(s); measured GEMM peak {peak / 1e9:.1f} GFLOP/s ==")
            print(f"{'config':<15}{'batch':>6}{'step us':>9}{'numpy us':>9}{'ratio':>7}{'torch us':>9}{'ratio':>7}"
                  f"{'ort us':>8}{'ratio':>7}{'inf ratio':>10}{'%peak':>7}{'compile ms':>11}")
            for sizes, n in configs:
                m, cs, nodes, flops = bench_config(sizes, n, reps, rng, th)
                c = m["chainrule"]
                other = "".join(f"{m[k] * 1e6:>{w}.1f}{c / m[k]:>6.2f}x" if k in m else f"{'n/a':>{w}}{'':>7}"
                                for k, w in (("torch", 9), ("ort", 8)))
                print(f"{'-'.join(map(str, sizes)):<15}{n:>6}{c * 1e6:>9.1f}{m['numpy'] * 1e6:>9.1f}"
                      f"{c / m['numpy']:>6.2f}x{other}{m['chainrule_inf'] / m['numpy_inf']:>9.2f}x"
                      f"{100 * flops / c / peak:>6.1f}%{cs * 1e3:>11.1f}")
                if sizes == (2, 2, 2, 2):
                    print(f"  fixed per-step overhead (2-2-2-2): {c * 1e6:.1f} us for {nodes} nodes "
                          f"= {c / nodes * 1e9:.0f} ns per node")
            lenet_section((2,) if args.smoke else (16, 64), reps, th, peak, median_times)
            over, per, raw = dispatch_overhead()
            print(f"  per-node dispatch overhead (200 MatMul/Relu 1x1 nodes): {over * 1e9:.0f} ns per node "
                  f"({per * 1e9:.0f} ns per node vs {raw * 1e9:.0f} ns for the bare np.matmul call)")
    for nodes, s in compile_scaling((300,) if args.smoke else (1000, 6666, 10000)):
        print(f"compile (inference pipeline) of a {nodes}-node graph: {s * 1e3:.0f} ms")


def numba_main(args, reps, rng):
    from bench_numba import numba_section
    from chainrule.runtime.numba_backend import load_numba
    load_numba()  # before any thread limit: numba loads SciPy's OpenBLAS, which the limit must see
    configs = [((2, 2, 2, 2), 1), ((64, 32, 10), 32), ((784, 256, 256, 10), 32)]
    if not args.quick and not args.smoke:
        configs += [((784, 256, 256, 10), 1), ((784, 256, 256, 10), 128)]
    if args.smoke:
        configs = [((8, 4, 3), 4)]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for th in args.threads:
        with blas_threads(th):
            print(f"\n== {th} BLAS thread(s) ==")
            # twice the rounds: a step of a few microseconds is easily disturbed by the machine's other jobs
            numba_section(configs, 1 if args.smoke else 2 * reps, rng, median_times, train_graph, NumpyMLP, same_step,
                          LR, smoke=args.smoke)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
