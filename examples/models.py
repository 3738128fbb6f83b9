"""Small models of the lecture, as graphs, for ``chainrule dump``/``explain``/``cost`` by name.

Each builder returns a fresh ``Graph`` whose first output is a scalar loss,
so it can go through the inference and the gradient/training pipelines.
"""
from __future__ import annotations

import numpy as np

import chainrule as cr


def logistic_l2(w=0.5, b=0.1, lam=0.1, dtype="f64") -> cr.Graph:
    """The lecture's L2-regularised logistic least squares:
    z = wx + b, y = σ(z), L = ½(y − t)², R = ½w², L_reg = L + λR."""
    g = cr.GraphBuilder("logistic_l2", dtype=dtype)
    x, t = g.input("x", ()), g.input("t", ())
    wv = g.param("w", np.asarray(w, dtype=g.dtype.numpy))
    bv = g.param("b", np.asarray(b, dtype=g.dtype.numpy))
    z = g.op("Add", g.op("Mul", wv, x), bv, name="z")
    y = g.op("Sigmoid", z, name="y")
    L = g.op("SquaredError", y, t, name="L")
    R = g.op("Mul", g.constant(np.asarray(0.5, g.dtype.numpy)), g.op("Square", wv), name="R")
    lam_v = g.constant(np.asarray(lam, g.dtype.numpy), name="lam")
    return g.build(g.op("Add", L, g.op("Mul", lam_v, R), name="L_reg"))


def mlp(sizes=(4, 8, 3), activation="sigmoid", seed=0) -> cr.Graph:
    """A small MLP with a softmax-cross-entropy loss on one-hot targets %t."""
    model = cr.nn.mlp(list(sizes), activation, seed=seed)
    g = cr.GraphBuilder("mlp")
    x = g.input("x", ("N", sizes[0]))
    t = g.input("t", ("N", sizes[-1]))
    return g.build(g.op("SoftmaxCrossEntropy", model(x), t, name="loss"))


def towers(k=4, sizes=(256, 384, 384, 10), activation="relu") -> cr.Graph:
    """``k`` independent MLPs on one input, their losses summed: work that can run side by side, the
    graph the dataflow executor's tasks are for (``benchmarks/bench_dataflow.py``)."""
    b = cr.GraphBuilder("towers")
    x, t = b.input("x", ("N", sizes[0])), b.input("t", ("N", sizes[-1]))
    total = None
    for j in range(k):
        m = cr.nn.mlp(list(sizes), activation, seed=10 * j)
        for i, layer in enumerate(m_ for m_ in m.modules if isinstance(m_, cr.nn.Linear)):
            layer.name = f"t{j}.fc{i + 1}"
        loss = cr.cross_entropy(cr.softmax(m(x)), t)
        total = loss if total is None else total + loss
    return b.build(total)


def two_layer_mse(d_in=3, d_hidden=4, d_out=2, seed=0) -> cr.Graph:
    """The lecture's two-layer MLP: z = W⁽¹⁾x + b⁽¹⁾, h = σ(z), y = W⁽²⁾h + b⁽²⁾, L = ½‖y − t‖²."""
    rng = np.random.default_rng(seed)
    g = cr.GraphBuilder("two_layer", dtype="f64")
    x, t = g.input("x", ("N", d_in)), g.input("t", ("N", d_out))
    W1 = g.param("W1", rng.normal(size=(d_hidden, d_in)))
    b1 = g.param("b1", np.zeros(d_hidden))
    W2 = g.param("W2", rng.normal(size=(d_out, d_hidden)))
    b2 = g.param("b2", np.zeros(d_out))
    z = g.op("Gemm", x, W1, b1, transB=1, name="z")
    h = g.op("Sigmoid", z, name="h")
    y = g.op("Gemm", h, W2, b2, transB=1, name="y")
    return g.build(g.op("SquaredError", y, t, reduction="sum", name="L"))


def xor_threshold() -> cr.Graph:
    """The lecture's hand-set XOR network: h₁ = 𝕀[x₁ + x₂ − 0.5 > 0] (OR), h₂ = 𝕀[x₁ + x₂ − 1.5 > 0] (AND),
    y = 𝕀[h₁ − h₂ − 0.5 > 0]."""
    g = cr.GraphBuilder("xor")
    x = g.input("x", ("N", 2))
    W1 = g.param("W1", np.array([[1, 1], [1, 1]], np.float32))
    b1 = g.param("b1", np.array([-0.5, -1.5], np.float32))
    W2 = g.param("W2", np.array([[1, -1]], np.float32))
    b2 = g.param("b2", np.array([-0.5], np.float32))
    h = g.op("HardThreshold", g.op("Gemm", x, W1, b1, transB=1, name="z1"), name="h")
    return g.build(g.op("HardThreshold", g.op("Gemm", h, W2, b2, transB=1, name="z2"), name="y"))


def cnn(seed=0) -> cr.Graph:
    """A small CNN on 1×8×8 digits: conv3 (4 filters) → ReLU → 2×2 max-pool → linear, softmax cross-entropy."""
    nn = cr.nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 10, seed=seed + 1))
    g = cr.GraphBuilder("cnn")
    x, t = g.input("x", ("N", 1, 8, 8)), g.input("t", ("N", 10))
    return g.build(g.op("SoftmaxCrossEntropy", model(x), t, name="loss"))


#: name -> (builder, one-line description)
MODELS = {
    "logistic_l2": (logistic_l2, "L2-regularised logistic least squares (the lecture's backprop example)"),
    "mlp": (mlp, "MLP 4-8-3 with sigmoid units and softmax cross-entropy"),
    "two_layer": (two_layer_mse, "the lecture's two-layer MLP with squared error"),
    "towers": (towers, "four independent ReLU MLPs 256-384-384-10 on one input, losses summed (side-by-side work)"),
    "cnn": (cnn, "a small CNN (conv3, ReLU, max-pool, linear) on 1x8x8 images with softmax cross-entropy"),
    "xor": (xor_threshold, "the hand-set hard-threshold XOR network (inference only)"),
}


def sample_batch(graph: cr.Graph, n: int = 4, seed: int = 0) -> dict:
    """Deterministic sample inputs: normal features, one-hot targets for an input named t."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph.inputs:
        shape = tuple(n if isinstance(d, str) else d for d in v.type.shape)
        if v.name == "t" and len(shape) == 2:
            a = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
        elif v.name == "t":
            a = rng.uniform(size=shape)
        else:
            a = rng.normal(size=shape)
        feeds[v.name] = np.asarray(a, dtype=v.type.dtype.numpy)
    return feeds
