"""XOR is not linearly separable: logistic regression y = σ(wᵀx + b) cannot classify all four points.

The lecture's proof: the two positive points (0,1), (1,0) lie in the positive half-space, so the
segment between them does; the negatives (0,0), (1,1) likewise in the negative one; but the two
segments cross at (½, ½), which cannot lie in both. Here: training fails, and no line does it."""
import itertools

import numpy as np

import chainrule as cr
from chainrule.examples._common import XOR_T, XOR_X, check, fit


def logistic(D):
    g = cr.GraphBuilder("logistic", dtype="f64")
    x, t = g.input("x", ("N", D)), g.input("t", ("N", 1))
    w = g.param("w", np.zeros((1, D)))
    b = g.param("b", np.zeros(1))
    y = cr.sigmoid(g.op("Gemm", x, w, b, transB=1, name="z"))
    return g.build(cr.binary_cross_entropy(y, t), y)


def main(out_dir=None):
    graph = logistic(2)
    exe, losses = fit(graph, {"x": XOR_X, "t": XOR_T[:, None]}, lr=1.0, steps=300)
    y = exe.run({"x": XOR_X, "t": XOR_T[:, None]})[graph.outputs[1].name].ravel()
    acc = np.mean((y > 0.5) == XOR_T)
    print(f"logistic regression on XOR after 300 steps: loss {losses[-1]:.4f}, accuracy {acc:.2f}, y = {np.round(y, 3)}")
    check(acc < 1.0, "logistic regression does not classify XOR")
    check(losses[-1] > 0.6, "its loss stays near log 2 = 0.693 (it predicts ½ everywhere)")
    # no line on a fine grid of (w1, w2, b) separates the points either
    grid = np.linspace(-3, 3, 25)
    separable = any(np.all(((XOR_X @ np.array([a, c]) + d) > 0) == (XOR_T > 0))
                    for a, c, d in itertools.product(grid, grid, grid))
    check(not separable, "no (w, b) on a 25³ grid puts both positives on one side and both negatives on the other")
    mid = (XOR_X[1] + XOR_X[2]) / 2
    check(np.allclose(mid, (XOR_X[0] + XOR_X[3]) / 2), "the positive and the negative segments cross at (½, ½)")


if __name__ == "__main__":
    main()
