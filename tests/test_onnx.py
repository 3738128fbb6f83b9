"""ONNX export and import: checker, onnxruntime equality, round trips, exporter-style models, training."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.onnx.exporter import export_model

ACTS = ["ReLU", "Sigmoid", "Tanh", "Softplus", "HardThreshold", "Identity"]


def _session(m):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def _mlp(act="ReLU", seed=0):
    cr.nn.manual_seed(seed)
    return cr.nn.Sequential(cr.nn.Linear(5, 7), getattr(cr.nn, act)(), cr.nn.Linear(7, 3))


@pytest.mark.parametrize("act", ACTS)
def test_export_mlp_matches_onnxruntime(act, rng, tmp_path):
    exe = cr.compile(_mlp(act))
    path = tmp_path / "m.onnx"
    m = cr.export_onnx(exe, str(path))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert m.opset_import[0].domain == "" and m.opset_import[0].version >= 18
    x = rng.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(_session(m).run(None, {"x": x})[0], exe(x), rtol=1e-5, atol=1e-6)


def test_export_keeps_names_symbolic_batch_and_initializers():
    m = export_model(cr.compile(_mlp()))
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert [t.name for t in m.graph.initializer] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n.name for n in m.graph.node] == ["fc1", "relu", "fc2"]
    assert m.graph.output[0].name == "fc2"


LOSSES = ["CrossEntropy", "SquaredError", "BinaryCrossEntropy", "SoftmaxCrossEntropy"]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_export_losses_match_onnxruntime(loss, reduction, rng):
    b = cr.GraphBuilder("loss")
    y = b.input("y", ("N", 4))
    t = b.input("t", ("N", 4))
    b.build(b.op(loss, y, t, reduction=reduction))
    g = b.graph
    yv = rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32)
    tv = np.eye(4, dtype=np.float32)[[0, 2, 3]]
    tv[1] = [0.0, 0.5, 0.5, 0.0] if loss != "SoftmaxCrossEntropy" else tv[1]
    m = export_model(g)
    onnx.checker.check_model(m, full_check=True)
    want = cr.compile(g)(yv, tv)
    np.testing.assert_allclose(_session(m).run(None, {"y": yv, "t": tv})[0], want, rtol=1e-5, atol=1e-6)


def test_fused_softmax_cross_entropy_on_one_hot_of_labels_is_the_onnx_op(rng):
    b = cr.GraphBuilder("sce")
    z = b.input("z", ("N", 3))
    lab = b.input("labels", ("N",), cr.DType.i64)
    b.build(cr.softmax_cross_entropy(z, cr.one_hot(lab, 3)))
    m = export_model(b.graph)
    assert "SoftmaxCrossEntropyLoss" in [n.op_type for n in m.graph.node]
    zv, lv = rng.standard_normal((5, 3)).astype(np.float32), np.array([0, 2, 1, 1, 0])
    np.testing.assert_allclose(_session(m).run(None, {"z": zv, "labels": lv})[0], cr.compile(b.graph)(zv, lv),
                               rtol=1e-5)
    assert str(cr.import_onnx(m)) == str(b.graph)


def test_round_trip_mlp_gives_the_same_ir_text():
    g = cr.compile(_mlp()).graph
    assert str(cr.import_onnx(export_model(g))) == str(g)


def _train_step(seed=0, optimizer=None):
    return cr.compile_train(_mlp("Tanh", seed), optimizer=optimizer or cr.optim.Adam(lr=0.01))


def test_round_trip_training_step_gives_the_same_ir_text():
    step = _train_step()
    g2 = cr.import_onnx(export_model(step))
    assert str(g2) == str(step.graph)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_training_step_in_onnxruntime_equals_chainrule(opt, rng):
    optimizer = cr.optim.SGD(lr=0.1, momentum=0.9) if opt == "sgd" else cr.optim.Adam(lr=0.01)
    step = _train_step(optimizer=optimizer)
    m = export_model(step)
    onnx.checker.check_model(m, full_check=True)
    names = [o.name for o in m.graph.output]
    updated = [p.name for p, _ in step.graph.updates]  # every param and state but %lr (no schedule)
    assert all(p.name + ".next" in names for p in step.graph.params if p.name != "lr") and "lr.next" not in names
    sess = _session(m)
    state = {p.name: np.array(step.graph.initializers[p.name]) for p in step.graph.params}
    for k in range(5):
        x = rng.standard_normal((8, 5)).astype(np.float32)
        t = rng.integers(0, 3, 8)
        outs = dict(zip(names, sess.run(None, {"x": x, "t": t, **state})))
        loss = step(x, t)
        np.testing.assert_allclose(outs["loss"], loss, rtol=1e-5)
        state.update({p: outs[p + ".next"] for p in updated})
    for p, v in state.items():
        np.testing.assert_allclose(v, step.graph.initializers[p], rtol=1e-5, atol=1e-7)


# -- models in the shapes other exporters write ---------------------------------------------------
def _torch_style(tmp_path, external=False, unset_batch=False, shadow=False, rng=None):
    """A 2-layer MLP as torch.onnx writes it: Gemm(transB=1), Relu, MatMul + Add, Flatten, Identity."""
    rng = rng or np.random.default_rng(0)
    w1 = rng.standard_normal((6, 4)).astype(np.float32)
    b1 = rng.standard_normal(6).astype(np.float32)
    w2 = rng.standard_normal((6, 3)).astype(np.float32)
    b2 = rng.standard_normal(3).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "l1.weight"), (b1, "l1.bias"), (w2, "l2.w"), (b2, "l2.b"))]
    inits[1] = helper.make_tensor("l1.bias", TensorProto.FLOAT, [6], b1.tolist())  # typed, not raw
    if external:
        data = w1.tobytes() + w2.tobytes()
        (tmp_path / "weights.bin").write_bytes(data)
        for t, off, arr in ((inits[0], 0, w1), (inits[2], w1.nbytes, w2)):
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", "weights.bin"), ("offset", str(off)), ("length", str(arr.nbytes))):
                e = t.external_data.add()
                e.key, e.value = k, v
    batch = None if unset_batch else "batch_size"
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 2, 2])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3])
    nodes = [helper.make_node("Flatten", ["input"], ["/Flatten_output_0"], name="/Flatten", axis=1),
             helper.make_node("Gemm", ["/Flatten_output_0", "l1.weight", "l1.bias"], ["/l1/Gemm_output_0"],
                              name="/l1/Gemm", alpha=1.0, beta=1.0, transB=1),
             helper.make_node("Relu", ["/l1/Gemm_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
             helper.make_node("Dropout", ["/relu/Relu_output_0"], ["/drop/Dropout_output_0"], name="/drop/Dropout"),
             helper.make_node("MatMul", ["/drop/Dropout_output_0", "l2.w"], ["/l2/MatMul_output_0"], name="/l2/MatMul"),
             helper.make_node("Add", ["/l2/MatMul_output_0", "l2.b"], ["output"], name="/l2/Add")]
    inputs = [x] + ([helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits]
                    if shadow else [])
    g = helper.make_graph(nodes, "torch_jit", inputs, [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch", ir_version=8)
    path = tmp_path / "model.onnx"
    path.write_bytes(m.SerializeToString())
    return str(path), (w1, b1, w2, b2)


@pytest.mark.parametrize("variant", [{}, {"external": True}, {"unset_batch": True}, {"shadow": True}])
def test_torch_style_model_imports_runs_and_matches_onnxruntime(variant, tmp_path, rng):
    path, _ = _torch_style(tmp_path, **variant)
    g = cr.import_onnx(path)
    assert g.inputs[0].type.shape[0] in ("batch_size", "N")
    x = rng.standard_normal((5, 2, 2)).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(cr.compile(g)(x), want, rtol=1e-5, atol=1e-6)
    # ... and re-exports to a model onnxruntime runs with the same outputs
    m2 = export_model(g)
    onnx.checker.check_model(m2, full_check=True)
    np.testing.assert_allclose(_session(m2).run(None, {"input": x})[0], want, rtol=1e-5, atol=1e-6)


def test_imported_model_trains(tmp_path, rng):
    path, _ = _torch_style(tmp_path, external=True, unset_batch=True)
    g = cr.import_onnx(path)
    w0 = np.array(g.initializers["l1.weight"])
    step = cr.compile_train(g, loss="cross_entropy", optimizer=cr.optim.SGD(lr=0.1))
    x = rng.standard_normal((16, 2, 2)).astype(np.float32)
    t = rng.integers(0, 3, 16)
    losses = [step(x, t) for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0]
    assert not np.allclose(step.params["l1.weight"], w0)  # the imported weights were trained


def test_sklearn_style_model_imports(rng):
    """skl2onnx's MLPClassifier shape: MatMul + Add, Relu, Softmax, ArgMax; weights as typed floats."""
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["X", "coef"], ["mm"]), helper.make_node("Add", ["mm", "intercept"], ["z"]),
             helper.make_node("Softmax", ["z"], ["probabilities"], axis=1),
             helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0)]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
                          [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                           helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
                          initializer=[helper.make_tensor("coef", TensorProto.FLOAT, [4, 3], w.ravel().tolist()),
                                       helper.make_tensor("intercept", TensorProto.FLOAT, [3], b.tolist())])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)], ir_version=4)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    want = _session(m).run(None, {"X": x})
    got = cr.compile(cr.import_onnx(m))(x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)


def test_old_opset_softmax_coerces_to_2d(rng):
    node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    g = helper.make_graph([node], "s", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)], ir_version=6)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    want = np.exp(x.reshape(2, 12)) / np.exp(x.reshape(2, 12)).sum(1, keepdims=True)
    np.testing.assert_allclose(cr.compile(cr.import_onnx(m))(x), want.reshape(2, 3, 4), rtol=1e-5)


def test_onnxruntime_backend_runs_the_compiled_graph(rng):
    model = _mlp("Sigmoid")
    x = rng.standard_normal((6, 5)).astype(np.float32)
    exe = cr.compile(model, backend="onnxruntime")
    np.testing.assert_allclose(exe(x), cr.compile(model)(x), rtol=1e-5, atol=1e-6)
    assert set(exe.run({"x": x})) == {"fc2"}
    with pytest.raises(cr.ChainruleError, match="unknown backend"):
        cr.compile(model, backend="tpu")


def test_onnxruntime_backend_runs_a_training_graph_with_updates(rng):
    b = cr.GraphBuilder("sgd")
    x = b.input("x", ("N", 3))
    w = b.param("w", np.ones((1, 3), np.float32))
    y = x @ w.T
    loss = cr.reduce_mean(y * y)
    g = b.build(loss)
    gw, = cr.backward(g, [g.outputs[0]], [g.param("w")])
    e = cr.Emitter(g, phase="update")
    g.add_update(g.param("w"), e.Sub(g.param("w"), e.Mul(e.const(0.1), gw)))
    xv = rng.standard_normal((4, 3)).astype(np.float32)
    ref = cr.compile(g)
    g2 = g.clone()
    g2.initializers = {k: v.copy() for k, v in g.initializers.items()}  # clones share arrays
    ort_exe = cr.compile(g2, backend="onnxruntime")
    for _ in range(3):
        np.testing.assert_allclose(ort_exe(xv), ref(xv), rtol=1e-5)
    np.testing.assert_allclose(ort_exe.params["w"], ref.params["w"], rtol=1e-5)


def test_readme_op_list_is_generated_from_the_registry():
    from chainrule.frontends.onnx.exporter import supported_text
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md"),
                  encoding="utf-8").read()
    start = readme.index("<!-- onnx-ops -->\n") + len("<!-- onnx-ops -->\n")
    assert readme[start:readme.index("<!-- /onnx-ops -->")] == supported_text()
