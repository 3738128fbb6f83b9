"""The L2-regularised logistic least squares backward pass, line by line, as chainrule explains it:
L̄_reg = 1, R̄ = L̄_reg λ, L̄ = L̄_reg, ȳ = L̄(y − t), z̄ = ȳσ′(z), w̄ = z̄x + R̄w, b̄ = z̄."""
import unicodedata

import numpy as np

import chainrule as cr
from chainrule.examples._common import check
from chainrule.examples.models import logistic_l2
from chainrule.frontends.inspect.explain import backprop_lines, bar, format_backprop

LECTURE = ["L̄_reg = 1", "R̄ = L̄_reg λ", "L̄ = L̄_reg", "ȳ = L̄(y − t)", "z̄ = ȳσ′(z)", "w̄ = z̄x + R̄w", "b̄ = z̄"]


def _norm(s):
    return unicodedata.normalize("NFC", s).replace(" ", "")


def main(out_dir=None):
    w, b, lam, x, t = 0.5, 0.1, 0.1, 1.5, 1.0
    graph = logistic_l2(w, b, lam)
    print(format_backprop(graph), end="")
    got = [f"{bar(v.name)} = {inst}" for v, _, inst in backprop_lines(graph)]
    check([_norm(s) for s in got] == [_norm(s) for s in LECTURE], "each line is the lecture's backward pass")
    out = cr.compile(graph, "gradient").run({"x": np.float64(x), "t": np.float64(t)})
    y = 1 / (1 + np.exp(-(w * x + b)))
    z_bar = (y - t) * y * (1 - y)
    check(np.isclose(out["grad_w"], z_bar * x + lam * w), "w̄ = z̄x + R̄w with R̄ = λ, numerically")
    check(np.isclose(out["grad_b"], z_bar), "b̄ = z̄, numerically")


if __name__ == "__main__":
    main()
