"""The numba backend's section of bench_step.py (``--backend numba``): the MLP training step compiled
into one numba function, against the hand-written NumPy step, chainrule's NumPy backend and JAX jit.

For each configuration: the step time (interleaved runs, medians), its ratios, and the compile
times, each measured in a new process: *cold* compiles the step into an empty cache folder;
*warm* builds the same step again with that folder (numba loads the compiled code from disk).
Both count the lowering and numba's work (wall time, and *cpu*, the process's processor time,
which the machine's load does not inflate), not numba's once-per-process set-up (``init``, shown
apart: importing numba and SciPy's BLAS), nor chainrule's passes. JAX (``pip install jax``; never a dependency) runs one XLA thread
(``XLA_FLAGS``), with the batch already on its device and the parameters donated, its best case.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import chainrule as cr
from chainrule.passes.optimizer import SGDUpdate
from chainrule.passes.pipeline import training_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cr.__file__)))  # the folder holding the package


def jax_step(sizes, params, lr):
    """A jitted JAX step of the same MLP from the same parameters, or None without JAX."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    layers = len(sizes) - 1

    def loss(ps, x, t):
        h = x
        for i in range(layers):
            h = h @ ps[2 * i].T + ps[2 * i + 1]
            if i < layers - 1:
                h = jax.nn.relu(h)
        return -(t * jax.nn.log_softmax(h)).sum() / x.shape[0]

    def step(ps, x, t):
        value, grads = jax.value_and_grad(loss)(ps, x, t)
        return [p - lr * g for p, g in zip(ps, grads)], value
    fn = jax.jit(step, donate_argnums=0)
    state = {"ps": [jnp.asarray(params[f"fc{i + 1}.{k}"]) for i in range(layers) for k in ("weight", "bias")]}

    def run(x, t):
        state["ps"], value = fn(state["ps"], x, t)
        return value.block_until_ready()
    return run, jnp.asarray


WARM = """
import json, sys
sys.path.insert(0, {bench!r})
import chainrule as cr
from bench_step import train_graph, LR
from chainrule.passes.optimizer import SGDUpdate
from chainrule.passes.pipeline import training_pipeline
import numpy as np
g, _ = train_graph({sizes!r})
exe = cr.compile(g, pipeline=training_pipeline(optimizer=SGDUpdate(lr=LR)), backend="numba")
exe(np.ones(({n}, {d0}), np.float32), np.eye({dl}, dtype=np.float32)[np.zeros({n}, int)])
print(json.dumps(exe.compile_times))
"""


def child_compile(sizes, n, cache):
    """compile_times of a new process building the step with the cache folder ``cache``."""
    env = dict(os.environ, CHAINRULE_CACHE=cache, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", WARM.format(bench=HERE, sizes=tuple(sizes), n=n, d0=sizes[0], dl=sizes[-1])], env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise RuntimeError(f"compiling in a new process failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def numba_config(sizes, n, reps, rng, median_times, train_graph, NumpyMLP, same_step, lr, smoke=False):
    """Times and compile times of one configuration (a dict)."""
    cache = tempfile.mkdtemp(prefix="chainrule-bench-")
    try:
        return _numba_config(cache, sizes, n, reps, rng, median_times, train_graph, NumpyMLP, same_step, lr, smoke)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _numba_config(cache, sizes, n, reps, rng, median_times, train_graph, NumpyMLP, same_step, lr, smoke):
    cold = child_compile(sizes, n, cache)
    warm = child_compile(sizes, n, cache) if not smoke else cold
    old = os.environ.get("CHAINRULE_CACHE")
    os.environ["CHAINRULE_CACHE"] = cache
    try:
        g, _ = train_graph(sizes)
        nb = cr.compile(g, pipeline=training_pipeline(optimizer=SGDUpdate(lr=lr)), backend="numba")
        x = rng.standard_normal((n, sizes[0])).astype(np.float32)
        t = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
        hand = NumpyMLP({k: v.copy() for k, v in nb.params.items()}, sizes, n)
        same_step(nb, hand, x, t)  # one step of each from the same parameters must agree
    finally:
        if old is None:
            os.environ.pop("CHAINRULE_CACHE", None)
        else:
            os.environ["CHAINRULE_CACHE"] = old
    g2, _ = train_graph(sizes)
    np_exe = cr.compile(g2, pipeline=training_pipeline(optimizer=SGDUpdate(lr=lr)))
    fns = {"numba": lambda: nb(x, t), "numpy": lambda: hand.step(x, t), "chainrule": lambda: np_exe(x, t)}
    jx = jax_step(sizes, nb.params, lr)
    if jx is not None:
        run, to_device = jx
        xj, tj = to_device(x), to_device(t)
        fns["jax"] = lambda: run(xj, tj)
    for f in fns.values():
        f()
    inner = 200 if n == 1 else 50 if sizes[0] < 100 else 10
    m = median_times(fns, reps, 1 if smoke else inner)
    return {"times": m, "cold": cold, "warm": warm}


def numba_section(configs, reps, rng, median_times, train_graph, NumpyMLP, same_step, lr, smoke=False):
    """Print the numba backend's table (call it with the BLAS threads already set)."""
    print(f"\n{'config':<15}{'batch':>6}{'numba us':>10}{'numpy us':>10}{'ratio':>7}{'cr-np us':>10}{'ratio':>7}"
          f"{'jax us':>9}{'ratio':>7}{'cold s':>8}{'cpu s':>7}{'warm s':>8}{'init s':>8}")
    for sizes, n in configs:
        r = numba_config(sizes, n, reps, rng, median_times, train_graph, NumpyMLP, same_step, lr, smoke)
        m, cold, warm = r["times"], r["cold"], r["warm"]
        c = m["numba"]
        jax = f"{m['jax'] * 1e6:>9.1f}{c / m['jax']:>6.2f}x" if "jax" in m else f"{'n/a':>9}{'':>7}"
        print(f"{'-'.join(map(str, sizes)):<15}{n:>6}{c * 1e6:>10.1f}{m['numpy'] * 1e6:>10.1f}{c / m['numpy']:>6.2f}x"
              f"{m['chainrule'] * 1e6:>10.1f}{c / m['chainrule']:>6.2f}x{jax}"
              f"{cold['lower'] + cold['numba']:>8.2f}{cold['cpu']:>7.2f}"
              f"{warm['lower'] + warm['numba']:>8.3f}{warm['numba init']:>8.2f}")
    print("  ratio: numba step time / the other's; cold: compile into an empty cache (wall, and cpu: this "
          "process's processor time); warm: a new process loading it; init: numba's set-up, once per process")
