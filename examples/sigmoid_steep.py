"""Scaling up the weights, the logistic σ(kx) approaches the hard threshold 𝕀[x > 0]
(σ(x), σ(5x), …): a differentiable stand-in that gradient descent can train."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check


def main(out_dir=None):
    x = np.linspace(-3, 3, 601)
    x = x[np.abs(x) >= 0.5]  # away from the step itself
    g = cr.GraphBuilder("steep", dtype="f64")
    xv, k = g.input("x", ("N",)), g.input("k", ())
    graph = g.build(cr.sigmoid(xv * k), cr.hard_threshold(xv))
    exe = cr.compile(graph)
    errs = []
    for scale in (1, 5, 25):
        s, step = exe(x, np.float64(scale))
        errs.append(np.abs(s - step).max())
        print(f"  max |σ({scale}x) − 𝕀[x > 0]| for |x| ≥ 0.5: {errs[-1]:.2e}")
    check(errs[0] > errs[1] > errs[2], "the gap to the hard threshold shrinks as the scale grows")
    check(errs[1] < 0.1 and errs[2] < 1e-5, "σ(5x) is already close; σ(25x) is a threshold to 5 digits")


if __name__ == "__main__":
    main()
