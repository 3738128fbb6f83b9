"""Determinism: the same model gives the same IR text, names and numbers in two separate
Python processes (with different hash seeds, so any iteration over a set would show)."""
import hashlib
import os
import subprocess
import sys

SCRIPT = r"""
import hashlib, numpy as np, chainrule as cr
cr.nn.manual_seed(0)
model = cr.nn.Sequential(cr.nn.Linear(20, 16), cr.nn.Sigmoid(), cr.nn.Linear(16, 16), cr.nn.ReLU(),
                         cr.nn.Linear(16, 4))
b = cr.GraphBuilder("det")
x, t = b.input("x", ("N", 20)), b.input("t", ("N", 4))
loss = cr.softmax_cross_entropy(model(x), t)
exe = cr.compile(b.build(loss), pipeline="gradient")
rng = np.random.default_rng(1)
outs = exe(rng.random((8, 20), dtype=np.float32), np.eye(4, dtype=np.float32)[rng.integers(0, 4, 8)])
print(cr.print_graph(exe.graph))
print(hashlib.sha256(b"".join(np.ascontiguousarray(o).tobytes() for o in outs)).hexdigest())
"""


def _run(hashseed):
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_same_ir_text_and_numbers_in_two_processes():
    a, b = _run(1), _run(2)
    assert "grad_fc1.weight" in a and "phase=backward" in a
    assert a == b, "IR text or results differ between two processes:\n" + "\n".join(
        f"- {x}\n+ {y}" for x, y in zip(a.splitlines(), b.splitlines()) if x != y)
    assert hashlib.sha256(a.encode()).hexdigest() == hashlib.sha256(b.encode()).hexdigest()
