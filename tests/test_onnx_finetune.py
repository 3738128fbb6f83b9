"""Fine-tuning imported models: scikit-learn's LogisticRegression (exported by skl2onnx, its
weights ``ai.onnx.ml`` attributes) and a PyTorch MLP (TorchScript exporter, opset 17) import with
their weights as parameters, train a few steps in chainrule with the loss going down, and export
again; onnxruntime runs the result equal to chainrule. Needs ``pip install scikit-learn skl2onnx``
and ``pip install torch==2.13.0``; each part is skipped without its packages."""
import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import chainrule as cr  # noqa: E402
from chainrule.frontends.train.objectives import CrossEntropyObjective  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 4)).astype(np.float32)
Y = np.argmax(X[:, :3], axis=1)
SHIFTED = (Y + 1) % 3  # new targets to fine-tune towards: the loss starts high and must fall


def _ort(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _fine_tune(g, output, loss, steps=25, lr=0.5):
    step = cr.compile_train(g, loss=loss, optimizer=cr.optim.SGD(lr=lr), output=output, metrics=[])
    losses = [step(X, SHIFTED) for _ in range(steps)]
    g.initializers.update({k: np.array(v) for k, v in step.params.items() if k in g.initializers})
    return losses


def test_a_sklearn_logistic_regression_fine_tunes_and_exports_again():
    pytest.importorskip("sklearn")
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression().fit(X, Y)
    m = skl2onnx.to_onnx(model, X[:1], options={id(model): {"zipmap": False}})
    g = cr.import_onnx(m)
    assert [p.name for p in g.params] == ["LinearClassifier.coefficients", "LinearClassifier.intercepts"]
    before = g.initializers["LinearClassifier.coefficients"].copy()
    assert np.allclose(before, model.coef_, atol=1e-6)
    # the loss is on the probabilities output (the classifier's softmax), not on the labels
    losses = _fine_tune(g, "probabilities", CrossEntropyObjective(from_logits=False))
    assert losses[-1] < 0.7 * losses[0]
    assert not np.allclose(g.initializers["LinearClassifier.coefficients"], before)
    back = cr.export_onnx(g)
    onnx.checker.check_model(back, full_check=True)
    ours = cr.compile(g).run({"X": X})
    theirs = dict(zip([o.name for o in back.graph.output], _ort(back, {"X": X})))
    assert np.array_equal(ours["label"], theirs["label"])
    assert np.allclose(ours["probabilities"], theirs["probabilities"], atol=1e-6)
    assert np.mean(ours["label"] == SHIFTED) > np.mean(model.predict(X) == SHIFTED)  # it learnt the new labels


def test_a_compile_train_output_that_does_not_exist_names_the_outputs():
    g = cr.parse_graph("graph two {\n  input %x: f32[N,2]\n  %a: f32[N,2] = Relu(%x)\n  %b: f32[N,2] = Neg(%x)\n"
                       "  return %a, %b\n}\n")
    with pytest.raises(cr.ChainruleError, match="output 'c': graph two has no such output .its outputs: a, b."):
        cr.compile_train(g, output="c")


def test_a_pytorch_mlp_fine_tunes_and_exports_again():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated in favour of dynamo
        torch.onnx.export(net, (torch.from_numpy(X[:2]),), f, dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    g = cr.import_onnx(f.getvalue())
    assert sorted(p.name for p in g.params) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    with torch.no_grad():
        want = net(torch.from_numpy(X)).numpy()
    assert np.allclose(cr.compile(g)(X), want, atol=1e-5)
    losses = _fine_tune(g, None, "cross_entropy", steps=40)
    assert losses[-1] < 0.7 * losses[0]
    back = cr.export_onnx(g)
    onnx.checker.check_model(back, full_check=True)
    assert np.allclose(_ort(back, {"x": X})[0], cr.compile(g)(X), atol=1e-5)
    assert not np.allclose(_ort(back, {"x": X})[0], want, atol=1e-3)  # the weights did change


def test_an_initializer_no_output_depends_on_differentiably_imports_as_a_constant():
    """The dynamo exporter writes Softplus(x) as Where(x·β > threshold, x, softplus): the threshold is
    a float initializer that only a Greater reads. Training could never move it, so it is a
    Constant, and fine-tuning the model does not stop at "the loss does not depend on it"."""
    from onnx import TensorProto, helper, numpy_helper
    w = RNG.standard_normal((4, 3)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["z"]),
             helper.make_node("Greater", ["z", "threshold"], ["big"]),
             helper.make_node("Softplus", ["z"], ["soft"]),
             helper.make_node("Where", ["big", "z", "soft"], ["logits"])]
    graph = helper.make_graph(nodes, "softplus", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
                              [numpy_helper.from_array(w, "w"),
                               numpy_helper.from_array(np.array(20.0, np.float32), "threshold")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = cr.import_onnx(m)
    assert [p.name for p in g.params] == ["w"]
    assert "%threshold: f32[] = Constant" in cr.print_graph(g)
    losses = _fine_tune(g, None, "cross_entropy", steps=20)
    assert losses[-1] < losses[0]
    back = cr.export_onnx(g)
    assert np.allclose(_ort(back, {"x": X})[0], cr.compile(g)(X), atol=1e-5)


def test_a_dynamo_exported_softplus_mlp_fine_tunes():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript", reason="the dynamo exporter needs pip install onnxscript")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Softplus(), torch.nn.ReLU6(), torch.nn.Linear(8, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(net, (torch.from_numpy(X[:2]),), dynamo=True, verbose=False,
                                 dynamic_shapes=({0: torch.export.Dim("batch")},))
    g = cr.import_onnx(prog.model_proto.SerializeToString())
    assert {p.name for p in g.params} == {"0.weight", "0.bias", "3.weight", "3.bias"}
    losses = _fine_tune(g, None, "cross_entropy", steps=40)
    assert losses[-1] < 0.8 * losses[0]
