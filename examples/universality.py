"""Universality for binary inputs: with 2^D hard-threshold hidden units, one per input configuration,
and a linear output, one hidden layer reproduces any truth table on x ∈ {−1, 1}^D."""
import itertools

import numpy as np

import chainrule as cr
from chainrule.examples._common import check


def network(D, table):
    """Hidden unit j fires only on configuration c_j: 𝕀[c_jᵀx − (D − 0.5) > 0]; output y = Σ_j t_j h_j."""
    configs = np.array(list(itertools.product([-1, 1], repeat=D)), np.float64)
    g = cr.GraphBuilder("universal", dtype="f64")
    x = g.input("x", ("N", D))
    W = g.param("W", configs)
    b = g.param("b", np.full(2 ** D, -(D - 0.5)))
    v = g.param("v", np.array([[table[tuple(c)] for c in configs]], np.float64))
    h = cr.hard_threshold(g.op("Gemm", x, W, b, transB=1, name="z"))
    return g.build(g.op("Gemm", h, v, transB=1, name="y")), configs


def main(out_dir=None):
    D = 3
    rng = np.random.default_rng(0)
    configs = list(itertools.product([-1, 1], repeat=D))
    for trial in range(3):
        table = {c: float(rng.choice([-1, 1])) for c in configs}
        graph, X = network(D, table)
        y = cr.compile(graph)(X).ravel()
        t = np.array([table[tuple(c)] for c in X])
        print(f"truth table {trial}: t = {t.astype(int).tolist()}, y = {y.astype(int).tolist()}")
        check(np.array_equal(y, t), f"2^{D} = {2 ** D} hidden units reproduce random truth table {trial}")
    check(len(graph.params[0].type.shape) == 2 and graph.params[0].type.shape[0] == 2 ** D,
          "the hidden layer is one layer, 2^D units wide")


if __name__ == "__main__":
    main()
