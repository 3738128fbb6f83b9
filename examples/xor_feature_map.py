"""XOR becomes linearly separable with the feature map ψ(x) = (x₁, x₂, x₁x₂)."""
import numpy as np

from chainrule.examples._common import XOR_T, XOR_X, check, fit
from chainrule.examples.xor_linear import logistic


def main(out_dir=None):
    psi = np.column_stack([XOR_X[:, 0], XOR_X[:, 1], XOR_X[:, 0] * XOR_X[:, 1]])
    print("x1 x2 | ψ1 ψ2 ψ3 | t")
    for x, p, t in zip(XOR_X, psi, XOR_T):
        print(f" {x[0]:.0f}  {x[1]:.0f} |  {p[0]:.0f}  {p[1]:.0f}  {p[2]:.0f} | {t:.0f}")
    graph = logistic(3)
    exe, losses = fit(graph, {"x": psi, "t": XOR_T[:, None]}, lr=2.0, steps=500)
    y = exe.run({"x": psi, "t": XOR_T[:, None]})[graph.outputs[1].name].ravel()
    print(f"after 500 steps: loss {losses[-1]:.4f}, y = {np.round(y, 3)}, w = {np.round(exe.params['w'], 2)}")
    check(np.all((y > 0.5) == XOR_T), "logistic regression on ψ(x) classifies XOR")
    w, b = exe.params["w"].ravel(), exe.params["b"][0]
    check(np.all(((psi @ w + b) > 0) == (XOR_T > 0)), "the learned (w, b) is a separating hyperplane in ψ-space")


if __name__ == "__main__":
    main()
