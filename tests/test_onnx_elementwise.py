"""The elementwise ops and activations ONNX models use, exported: each one-node graph passes
onnx.checker, runs in onnxruntime with chainrule's results, and imports back as the same IR
text; their gradient graphs export and run too; and the import-side conventions (Clip's bounds
by opset, Mean as Sum / n, CastLike as Cast) hold."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.ir import DType, Emitter, Graph, TensorType

R = np.random.default_rng(0)
X = (3 * R.standard_normal((3, 4))).astype(np.float32)
Y = (3 * R.standard_normal((3, 4))).astype(np.float32)
INTS = np.array([-7, 7, -3, 3, 0, 9], np.int64)
DIVS = np.array([3, -3, -2, 2, 5, -4], np.int64)
HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.2, -0.7], np.float32)

#: op -> list of (inputs, attrs)
CASES = {
    "Erf": [((X,), {})], "Abs": [((X,), {}), ((INTS,), {})], "Reciprocal": [((X,), {})],
    "Elu": [((X,), {"alpha": 0.5})], "Selu": [((X,), {})], "Celu": [((X,), {"alpha": 2.0})],
    "Gelu": [((X,), {}), ((X,), {"approximate": "tanh"})], "Mish": [((X,), {})],
    "HardSigmoid": [((X,), {}), ((X,), {"alpha": 0.5, "beta": 0.25})], "HardSwish": [((X,), {})],
    "Softsign": [((X,), {})], "PRelu": [((X, Y[0]), {})],
    "Max": [((X, Y, Y[:, :1]), {}), ((INTS, DIVS), {})], "Min": [((X, Y[0]), {})],
    "Clip": [((X, np.array(-1, np.float32), np.array(2, np.float32)), {}),
             ((INTS, np.array(-3, np.int64), np.array(5, np.int64)), {})],
    "Less": [((X, Y), {})], "LessOrEqual": [((INTS, DIVS), {})], "GreaterOrEqual": [((X, Y[0]), {})],
    "And": [((X > 0, Y > 0), {})], "Or": [((X > 0, Y[0] > 0), {})], "Xor": [((X > 0, Y > 0), {})],
    "Not": [((X > 0,), {})],
    "Floor": [((HALVES,), {})], "Ceil": [((HALVES,), {})], "Round": [((HALVES,), {})],
    "Sign": [((HALVES,), {}), ((INTS,), {})],
    "Mod": [((INTS, DIVS), {}), ((INTS, DIVS), {"fmod": 1}), ((X, Y), {"fmod": 1}), ((X, Y), {}),
            ((X.astype(np.float64), Y[0].astype(np.float64)), {})],
}


def _session(m):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def _one_node(opname, arrays, attrs):
    g = Graph(f"one_{opname.lower()}")
    xs = [g.add_input(f"x{i}", TensorType(a.shape, DType.of(a.dtype))) for i, a in enumerate(arrays)]
    g.set_outputs([Emitter(g)(opname, *xs, name="y", **attrs)])
    return g


IDS = [(op, k) for op in CASES for k in range(len(CASES[op]))]


@pytest.mark.parametrize("opname,k", IDS, ids=[f"{op}-{k}" for op, k in IDS])
def test_export_runs_in_onnxruntime_and_imports_back(opname, k):
    arrays, attrs = CASES[opname][k]
    g = _one_node(opname, arrays, attrs)
    m = cr.export_onnx(g)
    onnx.checker.check_model(m, full_check=True)
    got = _session(m).run(None, {f"x{i}": a for i, a in enumerate(arrays)})[0]
    want = cr.compile(g)(*arrays)
    assert got.dtype == want.dtype and got.shape == want.shape
    if opname == "Mod" or not want.dtype.kind == "f":  # exact: integers, bools, the Mod sub-graph's bits
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert str(cr.import_onnx(m)) == str(g)


def test_gradient_graphs_of_the_new_ops_export_and_run_in_onnxruntime():
    """One SGD step through Gelu (both modes), Elu, Mish, PRelu, Max, Clip, Mod and Softsign, with
    the vjps' masks (Less, Equal, And, Not, Where) in the exported backward pass."""
    b = cr.GraphBuilder("zoo_step")
    x = b.input("x", ("N", 4))
    w = b.param("w", (0.5 * R.standard_normal((4, 4))).astype(np.float32))
    s = b.param("slope", np.full(4, 0.2, np.float32))
    lo, hi = b.param("lo", np.array(-1.0, np.float32)), b.param("hi", np.array(1.5, np.float32))
    h = x @ w
    parts = [b.op("Gelu", h), b.op("Gelu", h, approximate="tanh"), b.op("Elu", h), b.op("Mish", h),
             b.op("PRelu", h, s), b.op("Softsign", h)]
    y = b.op("Clip", b.op("Max", *parts), lo, hi)
    loss = cr.reduce_mean(y * y + b.op("Mod", h, b.constant(np.array(1.5, np.float32)), fmod=1))
    g = b.build(loss)
    params = [g.param(n) for n in ("w", "slope", "lo", "hi")]
    grads = cr.backward(g, [g.outputs[0]], params)
    e = cr.Emitter(g, phase="update")
    for p, gp in zip(params, grads):
        g.add_update(p, e.Sub(p, e.Mul(e.const(0.1), gp)))
    xv = (2 * R.standard_normal((6, 4))).astype(np.float32)
    ref = cr.compile(g)
    g2 = g.clone()
    g2.initializers = {k: v.copy() for k, v in g.initializers.items()}
    ort_exe = cr.compile(g2, backend="onnxruntime")
    for _ in range(3):
        np.testing.assert_allclose(ort_exe(xv), ref(xv), rtol=1e-5)
    for name in ("w", "slope", "lo", "hi"):
        np.testing.assert_allclose(ort_exe.params[name], ref.params[name], rtol=1e-5, atol=1e-6)


# -- import conventions ----------------------------------------------------------------------------
def _model(nodes, inputs, outputs, opset, inits=()):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                          initializer=[numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


F, I64 = TensorProto.FLOAT, TensorProto.INT64


@pytest.mark.parametrize("opset,node,inits,want", [
    (10, helper.make_node("Clip", ["x"], ["y"], min=-1.0), (), np.clip(X, -1, None)),
    (10, helper.make_node("Clip", ["x"], ["y"]), (), X),  # ∓FLT_MAX: nothing clipped
    (13, helper.make_node("Clip", ["x", "", "hi"], ["y"]), (("hi", np.array(0.5, np.float32)),), np.minimum(X, 0.5)),
    (13, helper.make_node("Clip", ["x", "lo"], ["y"]), (("lo", np.array(0.5, np.float32)),), np.maximum(X, 0.5)),
    (13, helper.make_node("Clip", ["x"], ["y"]), (), X),
])
def test_clip_bounds_by_opset(opset, node, inits, want):
    m = _model([node], [("x", F, [3, 4])], [("y", F, [3, 4])], opset, inits)
    got = cr.compile(cr.import_onnx(m))(X)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, _session(m).run(None, {"x": X})[0])


def test_clip_of_integers_without_bounds_clips_nothing():
    m = _model([helper.make_node("Clip", ["x"], ["y"])], [("x", I64, [6])], [("y", I64, [6])], 13)
    big = np.array([np.iinfo(np.int64).min, -1, 0, 1, np.iinfo(np.int64).max, 7], np.int64)
    np.testing.assert_array_equal(cr.compile(cr.import_onnx(m))(big), big)


def test_clip_bound_in_the_wrong_form_for_the_opset_is_an_error():
    m = _model([helper.make_node("Clip", ["x"], ["y"], min=0.0)], [("x", F, [3, 4])], [("y", F, [3, 4])], 13)
    with pytest.raises(cr.ChainruleError, match="Clip's min and max are inputs from opset 11 on"):
        cr.import_onnx(m)


def test_mean_imports_as_sum_over_n_and_castlike_as_cast():
    nodes = [helper.make_node("Mean", ["a", "b", "c"], ["m"]), helper.make_node("CastLike", ["m", "like"], ["y"])]
    m = _model(nodes, [("a", F, [3, 4]), ("b", F, [4]), ("c", F, [3, 1]), ("like", I64, [1])], [("y", I64, [3, 4])], 15)
    g = cr.import_onnx(m)
    assert [n.op.name for n in g.nodes if n.op.name != "Constant"] == ["Sum", "Div", "Cast"]
    a, b, c = X, Y[0], Y[:, :1]
    np.testing.assert_array_equal(cr.compile(g)(a, b, c, np.zeros(1, np.int64)),
                                  _session(m).run(None, {"a": a, "b": b, "c": c, "like": np.zeros(1, np.int64)})[0])


def test_castlike_of_a_float_initializer_does_not_make_it_a_parameter():
    m = _model([helper.make_node("CastLike", ["x", "like"], ["y"])], [("x", I64, [3])], [("y", F, [3])], 15,
               (("like", np.zeros(2, np.float32)),))
    g = cr.import_onnx(m)
    assert not g.params
    np.testing.assert_array_equal(cr.compile(g)(np.array([1, 2, 3])), [1.0, 2.0, 3.0])


def test_max_gradient_goes_to_the_first_operand_that_ties():
    b = cr.GraphBuilder("ties")
    p, q = b.param("p", np.array([1.0, 2.0, 3.0], np.float32)), b.param("q", np.array([1.0, 5.0, 3.0], np.float32))
    g = b.build(b.op("Max", p, q, p).sum())
    gp, gq = cr.backward(g, [g.outputs[0]], [g.param("p"), g.param("q")])
    g.set_outputs([g.outputs[0], gp, gq])
    _, dp, dq = cr.compile(g)()
    np.testing.assert_array_equal(dp, [1, 0, 1])  # ties at 0 and 2: p, the first, takes them
    np.testing.assert_array_equal(dq, [0, 1, 0])
    assert (dp + dq == 1).all()  # the gradients add up to ȳ


def test_clip_bounds_in_initializers_are_constants_not_parameters():
    """PyTorch's dynamo exporter writes ReLU6's bounds as float initializers; training must not move them."""
    m = _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [("x", F, [3, 4])], [("y", F, [3, 4])], 18,
               (("lo", np.array(0, np.float32)), ("hi", np.array(6, np.float32))))
    g = cr.import_onnx(m)
    assert not g.params
    np.testing.assert_array_equal(cr.compile(g)(X), np.clip(X, 0, 6))
