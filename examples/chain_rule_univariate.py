"""Univariate chain rule on logistic least squares: z = wx + b, y = σ(z), L = ½(y − t)².
Calculus class: ∂L/∂w = (σ(wx + b) − t)σ′(wx + b)x, ∂L/∂b = (σ(wx + b) − t)σ′(wx + b).
Structured: ȳ = y − t, z̄ = ȳσ′(z), w̄ = z̄x, b̄ = z̄ — what autodiff emits as IR."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check
from chainrule.frontends.inspect.explain import format_backprop


def main(out_dir=None):
    w0, b0, x, t = 0.7, -0.2, 1.3, 1.0
    g = cr.GraphBuilder("logistic_ls", dtype="f64")
    xv, tv = g.input("x", ()), g.input("t", ())
    w, b = g.param("w", np.float64(w0)), g.param("b", np.float64(b0))
    z = g.op("Add", g.op("Mul", w, xv), b, name="z")
    y = g.op("Sigmoid", z, name="y")
    graph = g.build(g.op("SquaredError", y, tv, name="L"))
    print(format_backprop(graph), end="")
    out = cr.compile(graph, "gradient").run({"x": np.float64(x), "t": np.float64(t)})
    s = 1 / (1 + np.exp(-(w0 * x + b0)))
    ds = s * (1 - s)
    check(np.isclose(out["grad_w"], (s - t) * ds * x), "∂L/∂w = (σ(wx + b) − t) σ′(wx + b) x")
    check(np.isclose(out["grad_b"], (s - t) * ds), "∂L/∂b = (σ(wx + b) − t) σ′(wx + b)")
    eps = 1e-6
    L = lambda ww: 0.5 * (1 / (1 + np.exp(-(ww * x + b0))) - t) ** 2  # noqa: E731
    check(np.isclose(out["grad_w"], (L(w0 + eps) - L(w0 - eps)) / (2 * eps)), "and finite differences agree")


if __name__ == "__main__":
    main()
