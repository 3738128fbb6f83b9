"""The shape, reduction and normalisation ops of ONNX breadth: LayerNormalization, the Reduce
family, Split, Tile, Pad's copying modes, Range, ConstantOfShape, Trilu (and Size, Shape at import).

Each op exports to a model that passes onnx.checker and that onnxruntime runs equal to chainrule,
and imports back as the same IR text, its gradients included; the gradient rules that have a
subtle case (a product with zeros, log-sum-exp at ±1000) are checked at those points; and
``cr.nn.LayerNorm`` is PyTorch's (compared with it when torch is installed).
"""
import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.onnx.importer import OnnxImportError
from chainrule.ir import DType, Emitter, Graph, TensorType
from chainrule.passes import backward

F32 = DType.f32


def _session(m):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def _graph(build, *shapes, grad=False, dtype=F32):
    """A graph of ``build(e, *inputs)``'s results on inputs of ``shapes``; with ``grad``, also the
    gradients of Σ ⟨result, c⟩ with respect to every input."""
    g = Graph("ops")
    xs = [g.add_input(f"x{i}", TensorType(s, DType.of(dtype))) for i, s in enumerate(shapes)]
    e = Emitter(g)
    ys = build(e, *xs)
    ys = list(ys) if isinstance(ys, (tuple, list)) else [ys]
    if grad:
        terms = [e.ReduceSum(e.Mul(y, e.const(np.linspace(-1, 1, max(y.type.numel(), 1)).reshape(y.type.shape))),
                             axes=None, keepdims=0) for y in ys if y.dtype.is_float]
        loss = terms[0] if len(terms) == 1 else e.Sum(*terms)
        ys = [loss] + backward(g, [loss], xs)
    g.set_outputs(ys)
    return g


#: name -> (build, input shapes); each graph is built, and again with its gradients
GRAPHS = {
    "reduce_min": (lambda e, x: e.ReduceMin(x, axes=(1,), keepdims=0), [(3, 4)]),
    "reduce_prod": (lambda e, x: e.ReduceProd(x, axes=(0, 2)), [(2, 3, 4)]),
    "reduce_l1": (lambda e, x: e.ReduceL1(x), [(3, 4)]),
    "reduce_l2": (lambda e, x: e.ReduceL2(x, axes=(-1,), keepdims=0), [(2, 3, 4)]),
    "reduce_sum_square": (lambda e, x: e.ReduceSumSquare(x, axes=(1,)), [(3, 4)]),
    "reduce_log_sum_exp": (lambda e, x: e.ReduceLogSumExp(x, axes=(0,), keepdims=0), [(3, 4)]),
    "layer_norm": (lambda e, x, w, b: e.LayerNormalization(x, w, b, axis=1), [(2, 3, 4), (3, 4), (4,)]),
    "layer_norm_no_bias": (lambda e, x, w: e.LayerNormalization(x, w, epsilon=0.25)[0], [(5, 4), (4,)]),
    "split": (lambda e, x: e.Split(x, axis=1, split=(1, 3, 2)), [(2, 6)]),
    "tile": (lambda e, x: e.Tile(x, repeats=(2, 1, 3)), [(2, 3, 2)]),
    "trilu": (lambda e, x: (e.Trilu(x), e.Trilu(x, upper=0, k=-1)), [(2, 3, 4)]),
    "pad_edge": (lambda e, x: e.Pad(x, pads=(1, 0, 2, 3), mode="edge"), [(3, 4)]),
    "pad_reflect": (lambda e, x: e.Pad(x, pads=(0, 2, -1, 0, 1, 2), mode="reflect"), [(2, 4, 5)]),
    "pad_wrap": (lambda e, x: e.Pad(x, pads=(2, -1, 0, 4), mode="wrap"), [(3, 4)]),
    "constant_of_shape": (lambda e, x: e.Mul(x, e.ConstantOfShape(shape=(2, 3), value=2.5)), [(2, 3)]),
    "range": (lambda e, x: e.Add(x, e.Range(start=1.0, limit=2.0, delta=0.25, dtype=F32)), [(3, 4)]),
}


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "gradient"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_op_exports_runs_in_onnxruntime_and_imports_back(name, grad):
    build, shapes = GRAPHS[name]
    g = _graph(build, *shapes, grad=grad)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    want = cr.Interpreter(g).run_list(xs)
    m = cr.export_onnx(g)
    onnx.checker.check_model(m, full_check=True)
    got = _session(m).run(None, {f"x{i}": x for i, x in enumerate(xs)})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
    assert str(cr.import_onnx(m)) == str(g)


def test_pad_gradient_of_the_copying_modes_is_pad_grad_and_its_gradient_is_pad():
    g = _graph(lambda e, x: e.Pad(x, pads=(1, 2), mode="reflect"), (4,), grad=True)
    (grad_node,) = [n for n in g.nodes if n.op.name == "PadGrad"]
    assert grad_node.attrs["mode"] == "reflect" and "PadGrad(ȳ)" in cr.OPS["Pad"].rule
    assert cr.OPS["PadGrad"].rule.startswith("ḡ = Pad(x̄)")


def test_reduce_prod_gradient_is_the_product_of_the_others_also_at_zeros():
    """y/x would be 0/0 at a zero: with one zero only that entry gets the product of the others,
    with two zeros every entry gets 0."""
    g = _graph(lambda e, x: e.ReduceProd(x, axes=(1,), keepdims=0), (3, 3))
    y = g.outputs[0]
    (gx,) = backward(g, [Emitter(g).ReduceSum(y, axes=None, keepdims=0)], [g.inputs[0]])
    g.set_outputs([y, gx])
    x = np.array([[0, 2, 3], [0, 0, 4], [1, 2, 3]], np.float32)
    prod, grad = cr.Interpreter(g).run_list([x])
    np.testing.assert_array_equal(prod, [0, 0, 6])
    np.testing.assert_array_equal(grad, [[6, 0, 0], [0, 0, 0], [6, 3, 2]])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_reduce_log_sum_exp_is_stable_at_logits_of_1000(dt):
    g = _graph(lambda e, x: e.ReduceLogSumExp(x, axes=(1,), keepdims=0), (3, 2), dtype=dt)
    y = g.outputs[0]
    (gx,) = backward(g, [Emitter(g).ReduceSum(y, axes=None, keepdims=0)], [g.inputs[0]])
    g.set_outputs([y, gx])
    x = np.array([[1000.0, 1000.0], [-1000.0, 0.0], [-np.inf, -np.inf]], dt)
    with np.errstate(over="raise", invalid="ignore"):
        lse, grad = cr.Interpreter(g).run_list([x])
    np.testing.assert_allclose(lse, [1000 + np.log(2), 0.0, -np.inf], rtol=1e-6)
    np.testing.assert_allclose(grad[:2], [[0.5, 0.5], [0.0, 1.0]], atol=1e-6)  # the softmax of each row


@pytest.mark.parametrize("op,want", [("ReduceMax", -np.inf), ("ReduceMin", np.inf), ("ReduceProd", 1.0),
                                     ("ReduceL1", 0.0), ("ReduceL2", 0.0), ("ReduceLogSumExp", -np.inf)])
def test_a_reduction_over_no_elements_is_its_identity_in_every_executor(op, want):
    g = _graph(lambda e, x: e(op, x, axes=(1,), keepdims=0), (2, 0, 3))
    x = np.zeros((2, 0, 3), np.float32)
    for run in (cr.Interpreter(g).run_list, lambda xs: [cr.compile(g)(*xs)]):
        np.testing.assert_array_equal(run([x])[0], np.full((2, 3), want, np.float32))


def test_layer_norm_of_float16_keeps_its_statistics_in_float32():
    g = _graph(lambda e, x, w: e.LayerNormalization(x, w), (3, 5), (5,), dtype=DType.f16)
    y, mean, inv = g.outputs
    assert (y.dtype, mean.dtype, inv.dtype) == (DType.f16, F32, F32)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 5)).astype(np.float16), rng.standard_normal(5).astype(np.float16)
    got = cr.Interpreter(g).run_list([x, w])
    x64 = x.astype(np.float64)
    mu, var = x64.mean(axis=1, keepdims=True), x64.var(axis=1, keepdims=True)
    np.testing.assert_allclose(got[1], mu, rtol=1e-6)
    np.testing.assert_allclose(got[2], 1 / np.sqrt(var + 1e-5), rtol=1e-6)
    np.testing.assert_allclose(got[0], (x64 - mu) / np.sqrt(var + 1e-5) * w, rtol=1e-2, atol=1e-2)
    e = Emitter(g)
    loss = e.Sum(*[e.ReduceSum(v, axes=None, keepdims=0) for v in (e.Cast(mean, to=DType.f16), y)])
    gx, = backward(g, [loss], [g.inputs[0]])  # the statistics' cotangents are cast to x's type
    assert gx.type == g.inputs[0].type


@pytest.mark.parametrize("dt", [DType.f16, DType.f64])
def test_layer_norm_statistics_are_float32_in_onnx_whatever_x_is(dt):
    """ONNX's Mean and InvStdDev are float32; chainrule's of a float64 x are float64, so its export
    casts them (tagged: the import rebuilds the one node) and an untagged import casts them back."""
    g = _graph(lambda e, x, w: e.LayerNormalization(x, w), (2, 3), (3,), dtype=dt)
    m = cr.export_onnx(g)
    onnx.checker.check_model(m, full_check=True)
    xs = [np.random.default_rng(0).standard_normal(s).astype(dt.numpy) for s in ((2, 3), (3,))]
    for a, b in zip(_session(m).run(None, {"x0": xs[0], "x1": xs[1]}), cr.Interpreter(g).run_list(xs)):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    assert str(cr.import_onnx(m)) == str(g)
    for node in m.graph.node:
        node.ClearField("metadata_props")
    g2 = cr.import_onnx(m)  # untagged, as another tool's file: through ONNX's float32 statistics
    assert [v.type for v in g2.outputs] == [v.type for v in g.outputs]
    for a, b in zip(cr.Interpreter(g2).run_list(xs), cr.Interpreter(g).run_list(xs)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# -- import: operands that set shapes, num_outputs, bombs are in test_onnx_bombs.py ------------------
def _model(nodes, inputs, outputs, inits=(), opset=18):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs], initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def _ints(name, values):
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


@pytest.mark.parametrize("op,operand,ins", [("Tile", "repeats", ["x", "r"]), ("Trilu", "k", ["x", "r"]),
                                            ("ConstantOfShape", "shape", ["r"]), ("Split", "split", ["x", "r"])])
def test_a_shape_operand_fed_as_a_graph_input_is_an_error_naming_the_node_and_operand(op, operand, ins):
    m = _model([helper.make_node(op, ins, ["y"], name="n")],
               [("x", TensorProto.FLOAT, [2, 2]), ("r", TensorProto.INT64, [1 if op in ("Trilu", "Split") else 2])],
               [("y", TensorProto.FLOAT, None)])
    with pytest.raises(OnnxImportError, match=fr"node 'n' \({op}\): input '{operand}' \('r'\) must be a constant "
                                              fr"known at import time"):
        cr.import_onnx(m)
    values = {"Tile": [2, 1], "Trilu": [0], "ConstantOfShape": [2, 2], "Split": [2]}[op]
    g = cr.import_onnx(m, static_inputs={"r": np.asarray(values, np.int64)})  # fixed: it imports
    assert g.outputs[0].type.rank == 2


def test_split_sizes_as_an_attribute_before_opset_13_and_num_outputs_from_18():
    x = ("x", TensorProto.FLOAT, [7, 2])
    outs = [(n, TensorProto.FLOAT, None) for n in "abc"]
    old = cr.import_onnx(_model([helper.make_node("Split", ["x"], list("abc"), split=[1, 2, 4])], [x], outs, opset=11))
    assert [v.type.shape for v in old.outputs] == [(1, 2), (2, 2), (4, 2)]
    new = cr.import_onnx(_model([helper.make_node("Split", ["x"], list("abc"), num_outputs=3)], [x], outs))
    assert [v.type.shape for v in new.outputs] == [(3, 2), (3, 2), (1, 2)]  # ⌈7/3⌉, the last what is left
    with pytest.raises(OnnxImportError, match="num_outputs is 2 but the node has 3 outputs"):
        cr.import_onnx(_model([helper.make_node("Split", ["x"], list("abc"), num_outputs=2)], [x], outs))


def test_range_and_constant_of_shape_fold_at_import_so_shape_arithmetic_can_use_them():
    """Reshape(x, Concat(Range(2, 4, 1), ConstantOfShape([1], 1))): the target is known at import."""
    nodes = [helper.make_node("Range", ["a", "b", "d"], ["r"]),
             helper.make_node("ConstantOfShape", ["one"], ["c"], value=numpy_helper.from_array(np.array([2], np.int64))),
             helper.make_node("Concat", ["r", "c"], ["s"], axis=0), helper.make_node("Reshape", ["x", "s"], ["y"])]
    inits = [_ints("a", 2), _ints("b", 4), _ints("d", 1), _ints("one", [1])]
    g = cr.import_onnx(_model(nodes, [("x", TensorProto.FLOAT, [12])], [("y", TensorProto.FLOAT, None)], inits))
    assert g.outputs[0].type.shape == (2, 3, 2)


def test_size_is_a_constant_and_shape_takes_start_and_end():
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=1, end=-1), helper.make_node("Size", ["x"], ["n"])]
    g = cr.import_onnx(_model(nodes, [("x", TensorProto.FLOAT, [2, 3, 4, 5])],
                              [("s", TensorProto.INT64, None), ("n", TensorProto.INT64, None)]))
    s, n = cr.Interpreter(g).run_list([np.zeros((2, 3, 4, 5), np.float32)])
    assert s.tolist() == [3, 4] and n == 120 and n.dtype == np.int64
    m = _model([helper.make_node("Size", ["x"], ["n"], name="size")], [("x", TensorProto.FLOAT, ["B", 3])],
               [("n", TensorProto.INT64, None)])
    with pytest.raises(OnnxImportError, match=r"node 'size' \(Size\): unsupported: Size of f32\[B,3\]"):
        cr.import_onnx(m)


# -- cr.nn.LayerNorm -----------------------------------------------------------------------------
def test_layer_norm_module_has_pytorch_names_and_initial_values():
    ln = cr.nn.LayerNorm((3, 4))
    assert [n for n, _ in ln.named_parameters()] == ["ln.weight", "ln.bias"]
    assert np.all(ln.weight == 1) and np.all(ln.bias == 0) and ln.weight.shape == (3, 4) and ln.eps == 1e-5
    assert [n for n, _ in cr.nn.LayerNorm(4, bias=False).named_parameters()] == ["ln.weight"]
    assert cr.nn.LayerNorm(4, elementwise_affine=False).named_parameters() == []
    m = cr.nn.Sequential(cr.nn.Linear(4, 6), cr.nn.LayerNorm(6), cr.nn.ReLU(), cr.nn.Linear(6, 2))
    assert "%ln1: f32[N,6], %ln1.mean: f32[N,1], %ln1.inv_std: f32[N,1] = LayerNormalization(" in str(m.to_graph())


def test_a_model_with_layer_norm_trains_and_exports():
    rng = np.random.default_rng(0)
    m = cr.nn.Sequential(cr.nn.Linear(4, 8, seed=0), cr.nn.LayerNorm(8), cr.nn.ReLU(), cr.nn.Linear(8, 3, seed=1))
    step = cr.compile_train(m, loss="cross_entropy", optimizer=cr.optim.SGD(lr=0.1))
    x, t = rng.standard_normal((16, 4)).astype(np.float32), rng.integers(0, 3, 16)
    losses = [float(step(x, t)) for _ in range(20)]
    assert losses[-1] < losses[0]
    assert not np.all(m.modules[1].weight == 1)  # γ trained, in the module's own array
    onnx_model = cr.export_onnx(m)
    np.testing.assert_allclose(_session(onnx_model).run(None, {"x": x})[0], cr.compile(m)(x), rtol=1e-5, atol=1e-6)


try:
    import torch  # noqa: F811
except ImportError:  # pragma: no cover
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch==2.13.0)")


@needs_torch
@pytest.mark.parametrize("shape,normalized,affine,bias", [((4, 6), 6, True, True), ((2, 3, 4), (3, 4), True, True),
                                                          ((3, 5), 5, True, False), ((3, 5), 5, False, True)])
def test_layer_norm_and_its_gradients_equal_pytorch(shape, normalized, affine, bias):
    rng = np.random.default_rng(0)
    ln = cr.nn.LayerNorm(normalized, eps=1e-3, elementwise_affine=affine, bias=bias, dtype=DType.f64)
    tl = torch.nn.LayerNorm(normalized, eps=1e-3, elementwise_affine=affine, bias=bias).double()
    for (name, arr), tp in zip(ln.named_parameters(), tl.parameters()):
        arr[...] = rng.standard_normal(arr.shape)
        tp.data = torch.tensor(arr.copy())
    g = ln.to_graph(shape, dtype=DType.f64)
    c = rng.standard_normal(shape)
    e = Emitter(g)
    loss = e.ReduceSum(e.Mul(g.outputs[0], e.const(c, DType.f64)), axes=None, keepdims=0)
    wrt = [g.inputs[0]] + [p for p in g.params]
    grads = backward(g, [loss], wrt)
    g.set_outputs([g.outputs[0]] + grads)
    x = rng.standard_normal(shape)
    outs = cr.Interpreter(g).run_list([x])
    xt = torch.tensor(x, requires_grad=True)
    yt = tl(xt)
    (yt * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(outs[0], yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for got, want in zip(outs[1:], [xt.grad] + [p.grad for p in tl.parameters()]):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
def test_torch_exported_layer_norm_imports_as_one_node_equal_to_torch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.LayerNorm(8), torch.nn.Tanh()).eval()
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 2)
        net[1].bias.uniform_(-1, 1)
    x = torch.randn(3, 5)
    f = io.BytesIO()
    torch.onnx.export(net, (x,), f, opset_version=17, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    g = cr.import_onnx(f.getvalue())
    assert [n.op.name for n in g.nodes].count("LayerNormalization") == 1
    with torch.no_grad():
        np.testing.assert_allclose(cr.compile(g)(x.numpy()), net(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("executor", ["sequential", "dataflow"])
def test_the_planned_executors_agree_with_the_interpreter_on_every_new_op(executor):
    """The new ops (several results, no operands, views) through the optimising pipeline and the
    memory-planned executors, their gradients included."""
    rng = np.random.default_rng(3)
    for name, (build, shapes) in sorted(GRAPHS.items()):
        g = _graph(build, *shapes, grad=True)
        xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        want = cr.Interpreter(g).run_list(xs)
        got = cr.compile(g, executor=executor)(*xs)
        got = got if isinstance(got, (tuple, list)) else [got]
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{name} ({executor})")
