"""XOR by a hand-set network of hard-threshold units:
h₁ = 𝕀[x₁ + x₂ − 0.5 > 0] (x₁ OR x₂), h₂ = 𝕀[x₁ + x₂ − 1.5 > 0] (x₁ AND x₂),
y = 𝕀[h₁ − h₂ − 0.5 > 0] (h₁ AND NOT h₂ = x₁ XOR x₂)."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import XOR_T, XOR_X, check
from chainrule.examples.models import xor_threshold


def main(out_dir=None):
    graph = xor_threshold()
    graph.outputs = [graph.value("h"), graph.value("y")]
    h, y = cr.compile(graph)(XOR_X.astype(np.float32))
    print("x1 x2 | h1 h2 | y")
    for x, hh, yy in zip(XOR_X, h, y):
        print(f" {x[0]:.0f}  {x[1]:.0f} |  {hh[0]:.0f}  {hh[1]:.0f} | {yy[0]:.0f}")
    check(np.array_equal(h[:, 0], np.logical_or(XOR_X[:, 0], XOR_X[:, 1])), "h₁ computes x₁ OR x₂")
    check(np.array_equal(h[:, 1], np.logical_and(XOR_X[:, 0], XOR_X[:, 1])), "h₂ computes x₁ AND x₂")
    check(np.array_equal(y[:, 0], XOR_T), "y = h₁ AND NOT h₂ = x₁ XOR x₂")


if __name__ == "__main__":
    main()
