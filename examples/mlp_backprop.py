"""Backprop on the two-layer MLP (z = W⁽¹⁾x + b⁽¹⁾, h = σ(z), y = W⁽²⁾h + b⁽²⁾, L = ½‖y − t‖²)
in the lecture's scalar form (loops over units) and vectorised form, against chainrule's autodiff.

Scalar: ȳ_k = y_k − t_k, w̄⁽²⁾_ki = ȳ_k h_i, b̄⁽²⁾_k = ȳ_k, h̄_i = Σ_k ȳ_k w⁽²⁾_ki, z̄_i = h̄_i σ′(z_i),
w̄⁽¹⁾_ij = z̄_i x_j, b̄⁽¹⁾_i = z̄_i.  Vectorised: W̄⁽²⁾ = ȳhᵀ, h̄ = W⁽²⁾ᵀȳ, z̄ = h̄ ∘ σ′(z), W̄⁽¹⁾ = z̄xᵀ."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check
from chainrule.examples.models import two_layer_mse
from chainrule.frontends.inspect.explain import format_backprop


def scalar_backprop(W1, b1, W2, b2, x, t):
    H, D = W1.shape
    K = W2.shape[0]
    z = [sum(W1[i, j] * x[j] for j in range(D)) + b1[i] for i in range(H)]
    h = [1 / (1 + np.exp(-zi)) for zi in z]
    y = [sum(W2[k, i] * h[i] for i in range(H)) + b2[k] for k in range(K)]
    yb = [y[k] - t[k] for k in range(K)]
    W2b = [[yb[k] * h[i] for i in range(H)] for k in range(K)]
    hb = [sum(yb[k] * W2[k, i] for k in range(K)) for i in range(H)]
    zb = [hb[i] * h[i] * (1 - h[i]) for i in range(H)]
    W1b = [[zb[i] * x[j] for j in range(D)] for i in range(H)]
    return np.array(W1b), np.array(zb), np.array(W2b), np.array(yb)


def main(out_dir=None):
    graph = two_layer_mse()
    print(format_backprop(graph), end="")
    p = {k: v.copy() for k, v in graph.initializers.items()}
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=3), rng.normal(size=2)
    out = cr.compile(graph, "gradient").run({"x": x[None], "t": t[None]})
    W1b, b1b, W2b, b2b = scalar_backprop(p["W1"], p["b1"], p["W2"], p["b2"], x, t)
    check(np.allclose(out["grad_W1"], W1b) and np.allclose(out["grad_b1"], b1b), "scalar form: w̄⁽¹⁾_ij = z̄_i x_j, b̄⁽¹⁾_i = z̄_i")
    check(np.allclose(out["grad_W2"], W2b) and np.allclose(out["grad_b2"], b2b), "scalar form: w̄⁽²⁾_ki = ȳ_k h_i, b̄⁽²⁾_k = ȳ_k")
    z = p["W1"] @ x + p["b1"]
    h = 1 / (1 + np.exp(-z))
    y = p["W2"] @ h + p["b2"]
    yb = y - t
    hb = p["W2"].T @ yb
    zb = hb * h * (1 - h)
    check(np.allclose(out["grad_W2"], np.outer(yb, h)), "vectorised: W̄⁽²⁾ = ȳhᵀ")
    check(np.allclose(out["grad_W1"], np.outer(zb, x)), "vectorised: h̄ = W⁽²⁾ᵀȳ, z̄ = h̄ ∘ σ′(z), W̄⁽¹⁾ = z̄xᵀ")


if __name__ == "__main__":
    main()
