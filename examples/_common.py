"""Helpers shared by the lecture examples: checks, plain gradient descent, output paths."""
from __future__ import annotations

import os
import tempfile

import numpy as np

import chainrule as cr


def check(cond, what: str) -> None:
    """Raise if a claim of the lecture does not hold; print it when it does."""
    if not cond:
        raise AssertionError(f"the lecture's claim does not hold: {what}")
    print(f"  ✓ {what}")


def fit(graph: cr.Graph, feeds: dict, lr: float, steps: int):
    """Full-batch gradient descent on the graph's first output (its loss); returns (exe, losses)."""
    exe = cr.compile(graph, "gradient")
    names = [p.name for p in graph.params if p.kind == "param"]
    losses = []
    for _ in range(steps):
        out = exe.run(feeds)
        losses.append(float(out[graph.outputs[0].name]))
        for n in names:
            exe.params[n] -= lr * out[f"grad_{n}"]
    return exe, losses


def forward(graph: cr.Graph, feeds: dict, params=None):
    """Run the inference pipeline once; {output name: array}."""
    exe = cr.compile(graph)
    if params:
        for k, v in params.items():
            exe.params[k][...] = v
    return exe.run(feeds)


def out_path(out_dir, name: str) -> str:
    out_dir = out_dir or os.path.join(tempfile.gettempdir(), "chainrule-examples")
    os.makedirs(out_dir, exist_ok=True)
    return os.path.join(out_dir, name)


def pyplot():
    """matplotlib.pyplot with a file backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print("  (matplotlib is not installed: no picture; pip install matplotlib)")
        return None


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
XOR_T = np.array([0, 1, 1, 0], np.float64)
