"""The numba backend trains as the NumPy one does: MLP and CNN steps, the on-disk cache, the errors.

Each model is built twice from one seed and trained for several steps, once per backend;
the losses and every parameter and optimizer state agree to 1e-6 relative to the array's
largest element. A second process compiling the same step loads numba's cache instead
of compiling. Needs numba (``pip install "chainrule[numba]"``).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir.errors import ChainruleError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cr.__file__)))  # the folder holding the package


def _close(a, b, what, tol=1e-6, like=None):
    """``a`` agrees with ``b`` to ``tol`` relative to the largest element of ``b`` (or of ``like``)."""
    scale = max(float(np.max(np.abs(b))), float(np.max(np.abs(like))) if like is not None else 0.0, 1e-30)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


def _mlp():
    return cr.nn.mlp([64, 32, 10], seed=0)


def _cnn():
    nn = cr.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=0), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.25, seed=2), nn.Linear(4 * 4 * 4, 10, seed=1))


def _train_both(make, shape, optimizer, steps=4, n=16, tol=1e-6):
    numba = pytest.importorskip("numba")  # noqa: F841
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, 10, n)) for _ in range(steps)]
    kw = {} if len(shape) == 1 else {"input_shape": ("N",) + shape}
    ref = cr.compile_train(make(), optimizer=optimizer(), **kw)
    got = cr.compile_train(make(), optimizer=optimizer(), backend="numba", **kw)
    for k, (x, y) in enumerate(batches):
        _close(got(x, y), ref(x, y), f"loss of step {k}")
        _close(got.last["accuracy"], ref.last["accuracy"], f"accuracy of step {k}")
    live = ref.graph.initializers
    for name, p in live.items():  # optimizer state (p.velocity) at the scale of its parameter: the velocity of
        # a conv bias before a batch norm is a sum of terms that cancel (its true gradient is 0)
        like = live.get(name.rsplit(".", 1)[0]) if p.dtype.kind == "f" else None
        _close(got.graph.initializers[name], p, f"{name} after {steps} steps", tol, like)
    x, y = batches[0]
    _close(got.predict(x), ref.predict(x), "predict")
    for key, v in ref.evaluate(x, y).items():
        _close(got.evaluate(x, y)[key], v, f"evaluate {key}")
    return got


def test_mlp_training_steps_match_numpy():
    step = _train_both(_mlp, (64,), lambda: cr.optim.SGD(lr=0.1, momentum=0.9))
    assert step.compile_times["segments"] == 1 and step._train.fallbacks == []  # one compiled function


def test_mlp_batch_of_one_matches_numpy():
    _train_both(_mlp, (64,), lambda: cr.optim.SGD(lr=0.1), steps=3, n=1)


def test_mlp_adam_steps_match_numpy():
    """Adam divides each step by √v̂: a gradient near 0 whose last bits differ gets a step that differs
    by more than that (the step is about lr·sign(g) at first), hence 1e-5 for the parameters."""
    _train_both(_mlp, (64,), lambda: cr.optim.Adam(lr=1e-2), steps=3, n=4, tol=1e-5)


def test_cnn_training_steps_match_numpy():
    step = _train_both(_cnn, (1, 8, 8), lambda: cr.optim.SGD(lr=0.05, momentum=0.9), steps=3)
    falls = {f.split("(")[-1].rstrip(")") for f in step._train.fallbacks}
    assert {"Conv", "MaxPool", "BatchNormTraining"} <= falls  # on their NumPy kernels, inside the step


def test_numba_inference_matches_numpy(rng):
    pytest.importorskip("numba")
    x = rng.standard_normal((7, 64)).astype(np.float32)
    model = _mlp()
    np.testing.assert_allclose(cr.compile(model, backend="numba")(x), cr.compile(model)(x), rtol=1e-5, atol=1e-6)


def test_one_compiled_step_serves_every_batch_size_and_any_layout(rng):
    pytest.importorskip("numba")
    model = _mlp()
    exe, ref = cr.compile(model, backend="numba"), cr.compile(model)
    for n in (7, 2, 7, 1):
        x = rng.standard_normal((n, 64)).astype(np.float32)
        np.testing.assert_allclose(exe(x), ref(x), rtol=1e-5, atol=1e-6)
    assert len(exe.runner.plans) == 3 and exe.compile_times["segments"] == 1  # one plan per N, one module
    wide = rng.standard_normal((3, 128)).astype(np.float32)[:, ::2]  # a strided view: copied first
    np.testing.assert_allclose(exe(wide), ref(wide), rtol=1e-5, atol=1e-6)
    assert "np.dot(" in exe.runner.module_source and "written in place" not in exe.runner.module_source


def test_updates_are_written_into_the_parameters():
    pytest.importorskip("numba")
    step = cr.compile_train(_mlp(), backend="numba")
    step(np.ones((2, 64), np.float32), np.array([1, 2]))
    src = step._train.module_source
    assert src.count("# written in place") == len(step.graph.updates)  # every update, in its array


def test_a_failing_kernel_is_an_execution_error_naming_the_node():
    pytest.importorskip("numba")
    b = cr.GraphBuilder("hot")
    k = b.input("k", (2,), dtype=cr.DType.i64)
    g = b.build(b.op("OneHot", k, depth=3))
    exe = cr.compile(g, backend="numba")
    assert exe.runner is not exe.interpreter
    with pytest.raises(cr.ChainruleError, match=r"node %onehot \(OneHot\).*class index 7 is outside 0..2"):
        exe(np.array([0, 7]))


def test_a_second_process_loads_the_compiled_step_from_the_cache(tmp_path):
    """numba's cache: the same graph in a new process is loaded, not compiled."""
    pytest.importorskip("numba")
    script = textwrap.dedent("""
        import numpy as np, chainrule as cr
        step = cr.compile_train(cr.nn.mlp([8, 4, 3], seed=0), backend="numba")
        step(np.ones((2, 8), np.float32), np.array([0, 2]))
        print(step.compile_times["cache"])
    """)
    env = dict(os.environ, CHAINRULE_CACHE=str(tmp_path), PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    assert [r.stdout.split()[-1] for r in runs] == ["miss", "hit"]
    modules = [f for f in os.listdir(tmp_path / "numba") if f.endswith(".py")]
    assert modules and all(f.startswith("step_") for f in modules)


def test_chainrule_train_with_the_numba_backend(tmp_path, capsys):
    pytest.importorskip("numba")
    import json
    from chainrule.frontends.cli.main import main
    runs = {}
    for backend in ("numpy", "numba"):
        out = tmp_path / backend
        assert main(["train", "--epochs", "1", "--backend", backend, "--out", str(out)]) == 0
        said = capsys.readouterr().out  # the compile, seconds long on a first run, is announced
        assert ("compiling the training step with numba" in said) == (backend == "numba")
        runs[backend] = json.loads((out / "summary.json").read_text())["final"]
    a, b = runs["numpy"], runs["numba"]
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-5 * max(1.0, abs(a[k])) for k in a)


def test_chainrule_imports_without_numba():
    """numba is imported only when the backend is used (and its set-up only once)."""
    code = "import sys, chainrule as cr; cr.compile(cr.nn.mlp([4, 3])); assert 'numba' not in sys.modules"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def test_without_numba_the_backend_says_how_to_install_it(monkeypatch):
    import builtins
    from chainrule.runtime import numba_backend
    real = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise ImportError("No module named 'numba'")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_numba)
    monkeypatch.setattr(numba_backend, "_STATE", {})
    with pytest.raises(ChainruleError, match=r'pip install "chainrule\[numba\]"'):
        cr.compile(cr.nn.mlp([4, 3]), backend="numba")


def test_backend_and_executor_conflicts_are_errors():
    with pytest.raises(ChainruleError, match="executor='dataflow' does not apply"):
        cr.compile(cr.nn.mlp([4, 3]), backend="numba", executor="dataflow")
    with pytest.raises(ChainruleError, match="unknown backend 'jax'"):
        cr.compile_train(cr.nn.mlp([4, 3]), backend="jax")
