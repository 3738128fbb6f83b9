"""Multivariate chain rule: f(x, y) = y + e^{xy}, x(t) = cos t, y(t) = t².
df/dt = ∂f/∂x dx/dt + ∂f/∂y dy/dt = (y e^{xy})(−sin t) + (1 + x e^{xy}) 2t,
in backprop notation t̄ = x̄ dx/dt + ȳ dy/dt: autodiff emits a Sum node for the fan-out of t."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check


def main(out_dir=None):
    t0 = 0.8
    g = cr.GraphBuilder("multivariate", dtype="f64")
    t = g.param("t", np.float64(t0))
    x = g.op("Cos", t, name="x")
    y = g.op("Square", t, name="y")
    graph = g.build(g.op("Add", y, cr.exp(x * y), name="f"))
    exe = cr.compile(graph, "gradient")
    got = float(exe.run({})["grad_t"])
    xv, yv = np.cos(t0), t0 ** 2
    want = yv * np.exp(xv * yv) * (-np.sin(t0)) + (1 + xv * np.exp(xv * yv)) * 2 * t0
    print(f"df/dt at t = {t0}: autodiff {got:.10f}, formula {want:.10f}")
    check(np.isclose(got, want, rtol=1e-12), "df/dt = (y e^{xy})(−sin t) + (1 + x e^{xy}) 2t")
    sums = [n for n in exe.graph.nodes if n.op.name == "Sum" and n.prov.grad_of == "t"]
    check(len(sums) == 1 and len(sums[0].inputs) == 2, "t fans out to x and y, so t̄ = x̄ dx/dt + ȳ dy/dt is a Sum of 2")


if __name__ == "__main__":
    main()
