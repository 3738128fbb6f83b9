"""Convolutions and pools of 1 and 3 spatial axes, which import as chainrule's 2-D ops
(``frontends/onnx/ops/conv.py`` and ``pool.py``): a 1-D op is the 2-D one of an image of
height 1, a 3-D convolution reads depth with one-hot weights, a 3-D pool is two 2-D pools.

Each model is checked against onnxruntime on the same file, its gradients by float64 central
differences, and its export (2-D ops, Reshapes and Transposes) by onnx.checker and onnxruntime.
Also here: ConvTranspose's auto_pad and output_shape, MaxPool's Indices output and integer
MaxPool.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr

ort = pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
R = np.random.default_rng(3)


def _model(op, x_shape, w_shape=None, bias=False, loss=False, outputs=1, dtype=TensorProto.FLOAT, **attrs):
    """``y = op(x, w[, b])`` with the weight and bias as initializers (parameters); ``loss``: a
    second node makes the scalar Σ y² the first output."""
    np_dt = {TensorProto.FLOAT: np.float32, TensorProto.UINT8: np.uint8}[dtype]
    inits, ins = [], ["x"]
    if w_shape is not None:
        inits.append(numpy_helper.from_array(R.standard_normal(w_shape).astype(np_dt), "w"))
        ins.append("w")
    if bias:
        channels = w_shape[0] if op == "Conv" else w_shape[1] * attrs.get("group", 1)
        inits.append(numpy_helper.from_array(R.standard_normal(channels).astype(np_dt), "b"))
        ins.append("b")
    names = ["y", "i"][:outputs]
    nodes = [helper.make_node(op, ins, names, name="n", **attrs)]
    outs = [helper.make_tensor_value_info("y", dtype, None)]
    if outputs == 2:
        outs.append(helper.make_tensor_value_info("i", TensorProto.INT64, None))
    if loss:
        nodes += [helper.make_node("Mul", ["y", "y"], ["sq"]), helper.make_node("ReduceSum", ["sq"], ["loss"], keepdims=0)]
        outs = [helper.make_tensor_value_info("loss", dtype, [])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", dtype, list(x_shape))], outs, initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def _ort(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _check(m, x, rtol=1e-5, atol=1e-5):
    """chainrule's import equals onnxruntime on ``m``, and so does onnxruntime on chainrule's export."""
    g = cr.import_onnx(m)
    got = cr.compile(g).run({"x": x})
    want = _ort(m, {"x": x})
    for name, w in zip([o.name for o in m.graph.output], want):
        assert got[name].dtype == w.dtype and got[name].shape == w.shape, name
        np.testing.assert_allclose(got[name], w, rtol=rtol, atol=atol, err_msg=name)
    exported = cr.export_onnx(g)
    onnx.checker.check_model(exported, full_check=True)
    for a, w in zip(_ort(exported, {"x": x}), want):
        np.testing.assert_allclose(a, w, rtol=rtol, atol=atol)
    return g


CONVS = [  # (op, x shape, w shape, attributes)
    ("Conv", (2, 4, 11), (6, 2, 3), dict(strides=[2], pads=[1, 2], dilations=[2], group=2)),
    ("Conv", (1, 3, 9), (2, 3, 4), dict(auto_pad="SAME_UPPER")),
    ("Conv", (2, 2, 5, 6, 7), (4, 2, 2, 3, 2), dict(strides=[2, 1, 2], pads=[1, 0, 1, 0, 1, 1], dilations=[1, 2, 1])),
    ("Conv", (1, 4, 4, 5, 3), (2, 2, 3, 1, 2), dict(group=2, pads=[1, 1, 0, 1, 0, 1])),
    ("ConvTranspose", (2, 4, 6), (4, 3, 3), dict(strides=[2], pads=[1, 0], output_padding=[1], group=2)),
    ("ConvTranspose", (1, 2, 3, 4, 5), (2, 3, 3, 2, 2), dict(strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1],
                                                          dilations=[1, 2, 1])),
    ("ConvTranspose", (1, 4, 3, 3, 2), (4, 1, 2, 2, 3), dict(group=2, strides=[3, 2, 1], output_padding=[2, 1, 0])),
]


@pytest.mark.parametrize("k", range(len(CONVS)))
def test_1d_and_3d_convolutions_import_as_2d_ops_equal_to_onnxruntime(k):
    op, xs, ws, attrs = CONVS[k]
    g = _check(_model(op, xs, ws, bias=True, **attrs), R.standard_normal(xs).astype(np.float32), rtol=1e-4)
    assert {n.op.name for n in g.nodes if n.op.name in ("Conv", "ConvTranspose")} == {op}
    assert all(v.type.rank == 4 for n in g.nodes if n.op.name == op for v in n.inputs[:2])  # 2-D ops only


@pytest.mark.parametrize("k", [0, 2, 4, 5])
def test_their_gradients_match_central_differences(k):
    op, xs, ws, attrs = CONVS[k]
    g = cr.import_onnx(_model(op, xs, ws, bias=True, loss=True, **attrs))
    report = cr.gradcheck(g, {"x": R.standard_normal(xs)})
    assert report.ok, report


POOLS = [  # (op, x shape, attributes)
    ("MaxPool", (2, 3, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ("AveragePool", (2, 3, 10), dict(kernel_shape=[3], strides=[2], pads=[1, 0], count_include_pad=1, ceil_mode=1)),
    ("MaxPool", (1, 2, 6, 7, 5), dict(kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[1, 0, 1, 0, 1, 0], ceil_mode=1)),
    ("MaxPool", (1, 1, 7, 7, 7), dict(kernel_shape=[2, 2, 2], dilations=[2, 1, 2])),
    ("AveragePool", (1, 2, 7, 6, 5), dict(kernel_shape=[3, 2, 2], strides=[2, 2, 1], pads=[1, 1, 0, 1, 0, 1])),
    ("AveragePool", (1, 2, 7, 6, 5), dict(kernel_shape=[3, 2, 2], strides=[2, 2, 2], pads=[1, 1, 0, 1, 0, 1],
                                           count_include_pad=1, ceil_mode=1)),
]


@pytest.mark.parametrize("k", range(len(POOLS)))
def test_1d_and_3d_pools_import_as_2d_pools_equal_to_onnxruntime(k):
    op, xs, attrs = POOLS[k]
    g = _check(_model(op, xs, **attrs), R.standard_normal(xs).astype(np.float32))
    assert all(n.inputs[0].type.rank == 4 for n in g.nodes if n.op.name == op)


def test_a_3d_pool_gradient_matches_central_differences():
    """A 3-D pool between a Conv (a parameter to check) and the loss."""
    w = numpy_helper.from_array(R.standard_normal((2, 1, 1, 1, 1)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("AveragePool", ["c"], ["p"], kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[1] * 6),
             helper.make_node("MaxPool", ["p"], ["y"], kernel_shape=[2, 2, 1]),
             helper.make_node("Mul", ["y", "y"], ["sq"]), helper.make_node("ReduceSum", ["sq"], ["loss"], keepdims=0)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 6, 5])],
                          [helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])], initializer=[w])
    report = cr.gradcheck(cr.import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])),
                          {"x": R.standard_normal((1, 1, 5, 6, 5))})
    assert report.ok, report


@pytest.mark.parametrize("attrs", [
    dict(auto_pad="SAME_UPPER", strides=[2, 2]), dict(auto_pad="SAME_LOWER", strides=[2, 3]),
    dict(output_shape=[10, 8], strides=[3, 2]), dict(output_shape=[10, 8], strides=[3, 2], output_padding=[1, 1]),
    dict(output_shape=[9, 7], strides=[3, 2]),  # the full output
    dict(auto_pad="SAME_UPPER", output_shape=[8, 7], strides=[3, 2], dilations=[1, 2]),
])
def test_conv_transpose_auto_pad_and_output_shape_give_onnxs_pads(attrs):
    _check(_model("ConvTranspose", (1, 1, 3, 3), (1, 2, 3, 3), bias=True, **attrs),
           R.standard_normal((1, 1, 3, 3)).astype(np.float32))


@pytest.mark.parametrize("attrs, words", [
    (dict(output_shape=[7, 6], strides=[2, 2]), "smaller than the full output"),
    (dict(output_shape=[9, 9], pads=[1, 1, 1, 1], strides=[3, 3]), "both pads and output_shape"),
    (dict(auto_pad="SAME_UPPER", strides=[5, 5]), "negative begin pad"),
    (dict(output_shape=[1, 2, 10, 8], strides=[3, 2]), r"output_shape \[1, 2, 10, 8\] does not give the 2 spatial sizes"),
])
def test_conv_transpose_output_shapes_onnx_leaves_ambiguous_are_refused(attrs, words):
    with pytest.raises(cr.ChainruleError, match=words) as info:
        cr.import_onnx(_model("ConvTranspose", (1, 1, 3, 3), (1, 2, 3, 3), **attrs))
    assert "node 'n' (ConvTranspose)" in str(info.value)


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[2, 2], strides=[2, 2]), dict(kernel_shape=[3, 2], pads=[1, 1, 1, 0], storage_order=1),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, dilations=[1, 2]),
])
def test_maxpool_indices_equal_onnxruntimes(attrs):
    x = np.round(R.standard_normal((2, 3, 7, 8)) * 2).astype(np.float32)  # ties: the first maximum wins
    g = _check(_model("MaxPool", (2, 3, 7, 8), outputs=2, **attrs), x, rtol=0, atol=0)
    assert [n.op.name for n in g.nodes] == ["MaxPool", "MaxPoolIndices"]
    assert str(cr.import_onnx(cr.export_onnx(g))) == str(g)  # the Indices node comes back as itself


@pytest.mark.parametrize("order", [0, 1])
def test_1d_maxpool_indices_equal_onnxruntimes(order):
    x = np.round(R.standard_normal((2, 3, 11)) * 2).astype(np.float32)
    _check(_model("MaxPool", (2, 3, 11), outputs=2, kernel_shape=[3], strides=[2], pads=[1, 1], storage_order=order),
           x, rtol=0, atol=0)


def test_maxpool_of_uint8_equals_onnxruntime():
    x = R.integers(0, 256, (1, 2, 6, 6)).astype(np.uint8)
    _check(_model("MaxPool", (1, 2, 6, 6), dtype=TensorProto.UINT8, kernel_shape=[3, 3], pads=[1, 1, 1, 1]), x,
           rtol=0, atol=0)


def test_a_3d_pool_indices_output_is_refused_naming_it():
    with pytest.raises(cr.ChainruleError, match=r"node 'n' \(MaxPool\).*Indices output of a 3-D pool"):
        cr.import_onnx(_model("MaxPool", (1, 1, 4, 4, 4), outputs=2, kernel_shape=[2, 2, 2]))
