"""Softmax regression: z = Wx + b, y = softmax(z), L_CE = −tᵀ log y, and its gradient
∂L_CE/∂w_k = (y_k − t_k) x (so W̄ = (y − t) xᵀ, b̄ = y − t)."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check


def main(out_dir=None):
    rng = np.random.default_rng(0)
    D, K = 3, 4
    x = rng.normal(size=(1, D))
    t = np.eye(K)[[2]]
    g = cr.GraphBuilder("softmax_regression", dtype="f64")
    xv, tv = g.input("x", (1, D)), g.input("t", (1, K))
    W = g.param("W", rng.normal(size=(K, D)))
    b = g.param("b", np.zeros(K))
    y = cr.softmax(g.op("Gemm", xv, W, b, transB=1, name="z"))
    graph = g.build(cr.cross_entropy(y, tv, reduction="sum"), y)
    exe = cr.compile(graph, "gradient")
    out = exe.run({"x": x, "t": t})
    yv = out[graph.outputs[1].name]
    print("y =", np.round(yv, 4), f" sum = {yv.sum():.6f}")
    check(np.all(yv > 0) and abs(yv.sum() - 1) < 1e-12, "softmax outputs are positive and sum to 1")
    check(np.allclose(out["grad_W"], (yv - t).T @ x), "∂L_CE/∂w_k = (y_k − t_k) x for every row k")
    check(np.allclose(out["grad_b"], (yv - t).ravel()), "∂L_CE/∂b_k = y_k − t_k")
    big = np.array([[1.0, 9.0, 2.0, 0.5]])
    s = np.exp(big - big.max()) / np.exp(big - big.max()).sum()
    check(s[0, 1] > 0.99, "if one z_k is much larger than the others, softmax(z)_k ≈ 1 (like argmax)")


if __name__ == "__main__":
    main()
