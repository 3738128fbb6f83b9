"""Helpers for the fusion/memory/executor tests: an MLP training step built by hand.

forward + softmax cross-entropy loss, ``backward`` for the gradients, then SGD
update nodes ``w - lr * w̄`` recorded with ``graph.add_update``.
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.ir import Emitter
from chainrule.passes import backward


def mlp_loss_graph(sizes=(8, 6, 4), activation="relu", seed=0, fused_loss=False, batch="N", dtype="f32"):
    """Forward + mean cross-entropy of softmax (unfused unless ``fused_loss``)."""
    model = cr.nn.mlp(list(sizes), activation, seed=seed)
    b = cr.GraphBuilder("mlp", dtype=dtype)
    x = b.input("x", (batch, sizes[0]))
    t = b.input("t", (batch, sizes[-1]))
    z = model(x)
    loss = cr.softmax_cross_entropy(z, t) if fused_loss else cr.cross_entropy(cr.softmax(z), t)
    g = b.build(loss)
    if dtype == "f64":
        for k, a in g.initializers.items():
            g.initializers[k] = a.astype(np.float64)
    return g


def add_sgd(graph, lr=0.1):
    """Append autodiff and ``p ← p − lr·p̄`` for every trainable parameter."""
    params = [p for p in graph.params if p.kind == "param"]
    grads = backward(graph, graph.outputs[:1], params)
    e = Emitter(graph, created_by="sgd", phase="update")
    for p, gp in zip(params, grads):
        new = e.Sub(p, e.Mul(e.const(lr, p.dtype, name="lr"), gp), name=f"{p.name}.new")
        graph.add_update(p, new)
    return graph


def batch(sizes=(8, 6, 4), n=5, seed=1, dtype=np.float32):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, sizes[0])).astype(dtype)
    t = np.eye(sizes[-1], dtype=dtype)[r.integers(0, sizes[-1], n)]
    return x, t
