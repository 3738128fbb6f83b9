"""An MLP learns XOR by gradient descent (the hidden layer learns its own features)."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import XOR_T, XOR_X, check, fit


def main(out_dir=None):
    rng = np.random.default_rng(1)
    g = cr.GraphBuilder("xor_mlp", dtype="f64")
    x, t = g.input("x", ("N", 2)), g.input("t", ("N", 1))
    W1 = g.param("W1", rng.normal(size=(4, 2)))
    b1 = g.param("b1", np.zeros(4))
    W2 = g.param("W2", rng.normal(size=(1, 4)))
    b2 = g.param("b2", np.zeros(1))
    h = cr.tanh(g.op("Gemm", x, W1, b1, transB=1, name="z1"))
    y = cr.sigmoid(g.op("Gemm", h, W2, b2, transB=1, name="z2"))
    graph = g.build(cr.binary_cross_entropy(y, t), y)
    feeds = {"x": XOR_X, "t": XOR_T[:, None]}
    exe, losses = fit(graph, feeds, lr=0.5, steps=1500)
    yv = exe.run(feeds)[graph.outputs[1].name].ravel()
    print(f"MLP 2-4-1 after 1500 steps: loss {losses[0]:.3f} -> {losses[-1]:.4f}, y = {np.round(yv, 3)}")
    check(np.all((yv > 0.5) == XOR_T), "the MLP classifies all four XOR points")
    check(losses[-1] < 0.1, "and its loss goes to nearly zero")


if __name__ == "__main__":
    main()
