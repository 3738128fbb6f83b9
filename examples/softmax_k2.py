"""Exercise: with K = 2, softmax(z₁, z₂)₁ = e^{z₁}/(e^{z₁} + e^{z₂}) = σ(z₁ − z₂), the logistic function."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check, forward


def main(out_dir=None):
    z = np.random.default_rng(0).normal(scale=3, size=(50, 2))
    g = cr.GraphBuilder("k2", dtype="f64")
    zv = g.input("z", ("N", 2))
    graph = g.build(cr.softmax(zv))
    y = forward(graph, {"z": z})[graph.outputs[0].name]
    g2 = cr.GraphBuilder("logistic", dtype="f64")
    d = g2.input("d", ("N",))
    graph2 = g2.build(cr.sigmoid(d))
    s = forward(graph2, {"d": z[:, 0] - z[:, 1]})[graph2.outputs[0].name]
    print("first rows: softmax(z)₁ =", np.round(y[:3, 0], 6), " σ(z₁ − z₂) =", np.round(s[:3], 6))
    check(np.allclose(y[:, 0], s, atol=1e-12), "softmax(z)₁ = σ(z₁ − z₂) for K = 2")
    check(np.allclose(y[:, 1], 1 - s, atol=1e-12), "softmax(z)₂ = 1 − σ(z₁ − z₂) = σ(z₂ − z₁)")


if __name__ == "__main__":
    main()
