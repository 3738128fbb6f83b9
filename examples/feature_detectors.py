"""Feature learning: each first-layer hidden unit of a digit classifier computes φ(wᵢᵀx), a feature
detector; reshaping wᵢ to the image grid shows what it responds to (feature_detectors.png).
Trained here on the bundled 8×8 digits with chainrule."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check, out_path
from chainrule.frontends.train.datasets import load_digits
from chainrule.frontends.train.plots import PlotUnavailable, plot_first_layer


def main(out_dir=None, epochs=30):
    X, labels = load_digits()
    X = X / 16.0
    T = np.eye(10, dtype=np.float32)[labels]
    n_train = 1400
    model = cr.nn.mlp([64, 16, 10], "sigmoid", seed=0)
    g = cr.GraphBuilder("digits")
    x, t = g.input("x", ("N", 64)), g.input("t", ("N", 10))
    logits = model(x)
    graph = g.build(cr.softmax_cross_entropy(logits, t), logits)
    exe = cr.compile(graph, "gradient")
    rng = np.random.default_rng(0)
    names = [p.name for p in graph.params]
    for _ in range(epochs):
        order = rng.permutation(n_train)
        for k in range(0, n_train, 50):
            idx = order[k:k + 50]
            out = exe.run({"x": X[idx], "t": T[idx]})
            for n in names:
                exe.params[n] -= 0.5 * out[f"grad_{n}"]
    test = exe.run({"x": X[n_train:], "t": T[n_train:]})[graph.outputs[1].name]
    acc = float(np.mean(test.argmax(1) == labels[n_train:]))
    print(f"  test accuracy after {epochs} epochs: {acc:.3f}")
    check(acc > 0.85, "the classifier learned the digits")
    W = exe.params["fc1.weight"]  # (16 hidden units, 64 pixels)
    images = W.reshape(16, 8, 8)
    check(images.shape == (16, 8, 8), "each hidden unit's weights wᵢ reshape to an 8×8 image")
    spread = np.abs(images - images.mean(axis=(1, 2), keepdims=True)).mean(axis=(1, 2))
    check(np.all(spread > 0.01), "every detector has structure (weights vary over the image)")
    try:  # the same picture chainrule train draws (frontends/train/plots.py)
        print("  wrote", plot_first_layer(W, out_path(out_dir, "feature_detectors.png"), image_shape=(8, 8)))
    except PlotUnavailable as err:
        print(f"  no picture: {err}")

if __name__ == "__main__":
    main()
