"""scikit-learn models exported by skl2onnx (the ``ai.onnx.ml`` domain) import and run equal to
scikit-learn's own ``predict`` / ``predict_proba`` and to onnxruntime, with and without ZipMap.
The tests build the models themselves; they need ``pip install scikit-learn skl2onnx``."""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.frontends.cli.main import main  # noqa: E402
from chainrule.frontends.onnx.ops.ml import decode_labels  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.standard_normal((80, 4)).astype(np.float32) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -2.0, 0.5]
X = X.astype(np.float32)
BINARY = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
MULTI = np.argmax(((X - X.mean(0)) / X.std(0))[:, :3], axis=1)
assert np.bincount(MULTI).min() > 10
NAMES = np.array(["cat", "dog", "emu"])[MULTI]


def _mlp():
    return MLPClassifier((6,), max_iter=400, random_state=0)


MODELS = {
    "logistic-binary": (LogisticRegression, BINARY),
    "logistic-multiclass": (LogisticRegression, MULTI),
    "logistic-strings": (LogisticRegression, NAMES),
    "mlp-binary": (_mlp, BINARY),
    "mlp-multiclass": (_mlp, MULTI),
    "mlp-strings": (_mlp, NAMES),
    "scaler+mlp": (lambda: make_pipeline(StandardScaler(), _mlp()), MULTI),
}


def _fit(name):
    make, y = MODELS[name]
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model


def _export(model, zipmap):
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    return skl2onnx.to_onnx(model, X[:1], options=None if zipmap else {id(last): {"zipmap": False}})


def _ort(m, x):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})


@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "no-zipmap"])
@pytest.mark.parametrize("name", list(MODELS))
def test_sklearn_export_runs_equal_to_sklearn_and_onnxruntime(name, zipmap):
    model = _fit(name)
    m = _export(model, zipmap)
    g = cr.import_onnx(m)
    assert [v.name for v in g.outputs] == [o.name for o in m.graph.output]
    label, prob = [v.name for v in g.outputs]
    outs = decode_labels(g, cr.compile(g).run({"X": X}))
    classes = list(model.classes_)
    assert len(classes) == (2 if "binary" in name else 3)
    assert np.array_equal(outs[label], model.predict(X))
    assert np.allclose(outs[prob], model.predict_proba(X), atol=1e-5)
    want_label, want_prob = _ort(m, X)
    assert np.array_equal(outs[label], want_label)
    if zipmap:  # onnxruntime gives a list of {class: probability}; chainrule the (N, K) matrix
        want_prob = np.array([[row[c] for c in classes] for row in want_prob])
        assert g.meta[f"classes.{prob}"] == [c.item() if hasattr(c, "item") else c for c in classes]
    assert np.allclose(outs[prob], want_prob, atol=1e-6)
    strings = isinstance(classes[0], str)
    assert (f"labels.{label}" in g.meta) == strings  # string classes are kept as indices
    # the IR text (with its metadata) parses back to itself
    assert cr.print_graph(cr.parse_graph(str(g))) == str(g)


def test_string_classes_export_back_as_indices_with_the_labels_in_the_metadata():
    model = _fit("logistic-strings")
    g = cr.import_onnx(_export(model, True))
    back = cr.export_onnx(g)
    label_idx, prob = _ort(back, X)
    assert np.array_equal(np.array(g.meta["labels.output_label"])[label_idx], model.predict(X))
    assert np.allclose(prob, model.predict_proba(X), atol=1e-5)
    assert cr.import_onnx(back).meta == g.meta


def test_chainrule_run_writes_the_probability_matrix_and_the_string_labels(tmp_path, capsys):
    model = _fit("mlp-strings")
    path = str(tmp_path / "mlp.onnx")
    with open(path, "wb") as f:
        f.write(_export(model, True).SerializeToString())
    np.savez(tmp_path / "in.npz", X=X[:7])
    assert main(["run", path, "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz")]) == 0
    said = capsys.readouterr().out
    assert "output_probability float32[7, 3] (columns: cat, dog, emu)" in said
    assert "output_label <U3[7] (labels: cat, dog, emu)" in said
    out = np.load(tmp_path / "out.npz")  # no pickles: a unicode array and a float matrix
    assert list(out["output_label"]) == list(model.predict(X[:7]))
    assert np.allclose(out["output_probability"], model.predict_proba(X[:7]), atol=1e-5)
    assert main(["inspect", path]) == 0
    said = capsys.readouterr().out
    assert "outputs (2): output_label: i64[N] (labels: cat, dog, emu), output_probability: f32[N,3] " \
           "(columns: cat, dog, emu)" in said
    assert "meta labels.output_label = [\"cat\", \"dog\", \"emu\"]" in said
