"""The six activation functions of the lecture and their derivatives (plotted to activations.png):
identity y = z, ReLU max(0, z), soft ReLU log(1 + eᶻ), hard threshold 𝕀[z > 0], logistic 1/(1 + e⁻ᶻ),
tanh. Each derivative comes from chainrule's autodiff and is checked against the closed form."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check, out_path, pyplot

SIX = {  # name -> (function, closed-form derivative)
    "identity": (cr.identity, lambda z: np.ones_like(z)),
    "relu": (cr.relu, lambda z: (z > 0).astype(float)),
    "softplus": (cr.softplus, lambda z: 1 / (1 + np.exp(-z))),
    "hard_threshold": (cr.hard_threshold, lambda z: np.zeros_like(z)),
    "sigmoid": (cr.sigmoid, lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "tanh": (cr.tanh, lambda z: 1 - np.tanh(z) ** 2),
}
FORMULAS = {"identity": lambda z: z, "relu": lambda z: np.maximum(0, z), "softplus": lambda z: np.log1p(np.exp(z)),
            "hard_threshold": lambda z: (z > 0).astype(float), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "tanh": np.tanh}


def value_and_derivative(fn, z):
    import warnings
    g = cr.GraphBuilder("act", dtype="f64")
    zv = g.input("z", ("N",))
    y = fn(zv)
    graph = g.build(y.sum(), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the hard threshold warns that its gradient is zero
        exe = cr.compile(graph, cr.passes.gradient_pipeline(wrt=["z"], allow_unused=True))
    out = exe.run({"z": z})
    return out[graph.outputs[1].name], out["grad_z"]


def main(out_dir=None):
    z = np.linspace(-4, 4, 161)
    z = z[np.abs(z) > 1e-9]  # the kinks at 0 have no derivative
    curves = {}
    for name, (fn, dfn) in SIX.items():
        y, dy = value_and_derivative(fn, z)
        curves[name] = (y, dy)
        check(np.allclose(y, FORMULAS[name](z)) and np.allclose(dy, dfn(z)),
              f"{name}: autodiff's derivative matches the closed form")
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(2, 3, figsize=(10, 5.5))
        for ax, (name, (y, dy)) in zip(axes.ravel(), curves.items()):
            ax.plot(z, y, label="y")
            ax.plot(z, dy, "--", label="dy/dz")
            ax.set_title(name)
            ax.axhline(0, color="#bbb", lw=0.5)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_path(out_dir, "activations.png")
        fig.savefig(path, dpi=80)
        plt.close(fig)
        print("  wrote", path)


if __name__ == "__main__":
    main()
