"""Dynamic-batch shape chains as torch.onnx writes them (``x.view(x.size(0), -1)``: Shape ->
Gather -> Unsqueeze -> Concat -> Reshape; ``x.shape[:1]``: Shape -> Slice): folded symbolically
at import, so the model imports, runs like onnxruntime, trains and re-exports."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.onnx.importer import OnnxImportError


def _session(m):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def _const(name, value):
    arr = np.asarray(value, np.int64)
    return helper.make_node("Constant", [], [f"{name}_output_0"], name=name,
                            value=numpy_helper.from_array(arr, f"{name}_value"))


def _model(nodes, x_shape, inits, out="logits", classes=3, opset=17):
    g = helper.make_graph(nodes, "main_graph", [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", classes])],
                          initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="pytorch",
                          producer_version="2.1.0")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def _head(rng, n_in, flat):
    """fc1 -> relu -> fc2, as torch writes nn.Linear (Gemm transB=1)."""
    inits = {"fc1.weight": (0.5 * rng.standard_normal((8, n_in))).astype(np.float32),
             "fc1.bias": np.zeros(8, np.float32),
             "fc2.weight": (0.5 * rng.standard_normal((3, 8))).astype(np.float32),
             "fc2.bias": np.zeros(3, np.float32)}
    nodes = [helper.make_node("Gemm", [flat, "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"], name="/fc1/Gemm",
                              alpha=1.0, beta=1.0, transB=1),
             helper.make_node("Relu", ["/fc1/Gemm_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
             helper.make_node("Gemm", ["/relu/Relu_output_0", "fc2.weight", "fc2.bias"], ["logits"], name="/fc2/Gemm",
                              alpha=1.0, beta=1.0, transB=1)]
    return nodes, inits


def view_batch_model(rng):
    """``x.view(x.size(0), -1)`` on a [batch, 1, 4, 4] image, then an MLP."""
    nodes = [helper.make_node("Shape", ["input"], ["/Shape_output_0"], name="/Shape"),
             _const("/Constant", 0),
             helper.make_node("Gather", ["/Shape_output_0", "/Constant_output_0"], ["/Gather_output_0"],
                              name="/Gather", axis=0),
             _const("/Constant_1", [0]),
             helper.make_node("Unsqueeze", ["/Gather_output_0", "/Constant_1_output_0"], ["/Unsqueeze_output_0"],
                              name="/Unsqueeze"),
             _const("/Constant_2", [-1]),
             helper.make_node("Concat", ["/Unsqueeze_output_0", "/Constant_2_output_0"], ["/Concat_output_0"],
                              name="/Concat", axis=0),
             helper.make_node("Reshape", ["input", "/Concat_output_0"], ["/Reshape_output_0"], name="/Reshape",
                              allowzero=0)]
    head, inits = _head(rng, 16, "/Reshape_output_0")
    return _model(nodes + head, ["batch", 1, 4, 4], inits)


def slice_batch_model(rng):
    """``x.reshape(x.shape[:1] + (4, 4)).sum(-1)``: Shape -> Slice -> Cast -> Concat -> Reshape."""
    nodes = [helper.make_node("Shape", ["input"], ["/Shape_output_0"], name="/Shape"),
             _const("/Constant", [0]), _const("/Constant_1", [1]), _const("/Constant_2", [0]),
             helper.make_node("Slice", ["/Shape_output_0", "/Constant_output_0", "/Constant_1_output_0",
                                        "/Constant_2_output_0"], ["/Slice_output_0"], name="/Slice"),
             helper.make_node("Cast", ["/Slice_output_0"], ["/Cast_output_0"], name="/Cast", to=TensorProto.INT64),
             _const("/Constant_3", [4, 4]),
             helper.make_node("Concat", ["/Cast_output_0", "/Constant_3_output_0"], ["/Concat_output_0"],
                              name="/Concat", axis=0),
             helper.make_node("Reshape", ["input", "/Concat_output_0"], ["/Reshape_output_0"], name="/Reshape"),
             _const("/Constant_4", [-1]),
             helper.make_node("ReduceSum", ["/Reshape_output_0", "/Constant_4_output_0"], ["/ReduceSum_output_0"],
                              name="/ReduceSum", keepdims=0)]
    head, inits = _head(rng, 4, "/ReduceSum_output_0")
    return _model(nodes + head, ["batch", 16], inits)


def dynamo_batch_model(rng):
    """``x.view(x.size(0), -1)`` as the dynamo exporter writes it: Shape(end=1) -> Squeeze gives the
    scalar batch size, Reshape makes it [N] again, Concat, Reshape with allowzero=1."""
    nodes = [helper.make_node("Shape", ["input"], ["val_0"], name="node_Shape_0", start=0, end=1),
             helper.make_node("Squeeze", ["val_0"], ["sym_size_int"], name="node_Squeeze_1"),
             _const("val_10", [-1]),
             helper.make_node("Reshape", ["sym_size_int", "val_10_output_0"], ["val_14"], name="node_Reshape_2"),
             _const("val_15", [16]),
             helper.make_node("Concat", ["val_14", "val_15_output_0"], ["val_16"], name="node_Concat_3", axis=0),
             helper.make_node("Reshape", ["input", "val_16"], ["view"], name="node_Reshape_4", allowzero=1)]
    head, inits = _head(rng, 16, "view")
    return _model(nodes + head, ["batch", 1, 4, 4], inits)


MODELS = {"view": view_batch_model, "slice": slice_batch_model, "dynamo": dynamo_batch_model}
X_SHAPE = {"view": (1, 4, 4), "slice": (16,), "dynamo": (1, 4, 4)}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_dynamic_batch_chain_imports_with_a_static_reshape(kind, rng):
    g = cr.import_onnx(MODELS[kind](rng))
    (rs,) = [n for n in g.nodes if n.op.name == "Reshape"]
    assert rs.attrs["shape"] == {"view": (0, -1), "slice": (0, 4, 4), "dynamo": (0, 16)}[kind]
    assert str(rs.outputs[0].type) == {"view": "f32[batch,16]", "slice": "f32[batch,4,4]",
                                       "dynamo": "f32[batch,16]"}[kind]
    assert not [n for n in g.nodes if n.op.name in ("Gather", "Concat", "Unsqueeze", "Slice")]  # all folded
    assert str(g.outputs[0].type) == "f32[batch,3]"


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_dynamic_batch_model_runs_like_onnxruntime_at_any_batch(kind, rng):
    m = MODELS[kind](rng)
    exe = cr.compile(cr.import_onnx(m))
    sess = _session(m)
    for n in (1, 5, 9):
        x = rng.standard_normal((n,) + X_SHAPE[kind]).astype(np.float32)
        np.testing.assert_allclose(exe(x), sess.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_dynamic_batch_model_trains_and_re_exports(kind, rng, tmp_path):
    g = cr.import_onnx(MODELS[kind](rng))
    w0 = np.array(g.initializers["fc1.weight"])
    step = cr.compile_train(g, loss="cross_entropy", optimizer=cr.optim.SGD(lr=0.1))
    x = rng.standard_normal((24,) + X_SHAPE[kind]).astype(np.float32)
    t = (x.reshape(24, -1).sum(axis=1) > 0).astype(np.int64)
    losses = [step(x, t) for _ in range(40)]
    assert losses[-1] < 0.7 * losses[0]
    assert not np.allclose(step.params["fc1.weight"], w0)
    # the trained model re-exports: checker, symbolic batch, onnxruntime equals chainrule
    path = str(tmp_path / "trained.onnx")
    g.initializers.update({k: np.array(v) for k, v in step.params.items() if k in g.initializers})
    m2 = cr.export_onnx(g, path)
    onnx.checker.check_model(path, full_check=True)
    assert m2.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x2 = rng.standard_normal((7,) + X_SHAPE[kind]).astype(np.float32)
    np.testing.assert_allclose(_session(m2).run(None, {"input": x2})[0], cr.compile(g)(x2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cr.compile(cr.import_onnx(path))(x2), cr.compile(g)(x2), rtol=1e-6)


def test_symbol_moved_to_another_position_becomes_minus_one(rng):
    """Reshape(x: [batch, 3], [3, batch]): the symbol is not at its input position, so it is -1."""
    nodes = [helper.make_node("Shape", ["input"], ["s"], name="sh", start=0, end=1),  # opset 15 start/end
             _const("c3", [3]),
             helper.make_node("Concat", ["c3_output_0", "s"], ["t"], name="cat", axis=0),
             helper.make_node("Reshape", ["input", "t"], ["y"], name="rs")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, "batch"])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    ir = cr.import_onnx(m)
    assert ir.nodes[-1].attrs["shape"] == (3, -1) and str(ir.outputs[0].type) == "f32[3,batch]"
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(cr.compile(ir)(x), _session(m).run(None, {"input": x})[0])


def test_reshape_to_a_symbolic_shape_it_cannot_express_is_a_clear_error():
    """[a, b] -> [b, a]: two symbols, neither at its input position, cannot both be -1."""
    nodes = [helper.make_node("Shape", ["input"], ["s"], name="sh"),
             _const("perm", [1, 0]),
             helper.make_node("Gather", ["s", "perm_output_0"], ["t"], name="g", axis=0),
             helper.make_node("Reshape", ["input", "t"], ["y"], name="rs")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["a", "b"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "a"])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(OnnxImportError, match=r"node 'rs' \(Reshape\).*symbolic shape \[b, a\]"):
        cr.import_onnx(m)


def test_slice_of_a_tensor_is_a_gather_with_a_gradient(rng):
    """Slice on data (not a shape) becomes Gather of constant indices: it runs and differentiates."""
    nodes = [_const("st", [1]), _const("en", [100]), _const("ax", [1]),
             helper.make_node("Slice", ["input", "st_output_0", "en_output_0", "ax_output_0"], ["y"], name="sl")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    ir = cr.import_onnx(m)
    assert [n.op.name for n in ir.nodes] == ["Constant", "Gather"]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(cr.compile(ir)(x), _session(m).run(None, {"input": x})[0])
