"""From Python to IR: the tracer's operators, cr.nn modules, cr.compile, a 784-256-10 MLP
against NumPy, and the numbered ``dump_dir`` series for it."""
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import IRTypeError, parse_graph
from chainrule.passes import inference_pipeline


def test_784_256_10_mlp_forward_matches_numpy():
    cr.nn.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(784, 256), cr.nn.ReLU(), cr.nn.Linear(256, 10))
    exe = cr.compile(model)
    x = np.random.default_rng(0).random((32, 784), dtype=np.float32)
    got = exe(x)
    W1, b1 = model.modules[0].weight, model.modules[0].bias
    W2, b2 = model.modules[2].weight, model.modules[2].bias
    assert got.dtype == np.float32 and got.shape == (32, 10)
    # the same float32 expression in NumPy: equal to 1e-6
    np.testing.assert_allclose(got, np.maximum(x @ W1.T + b1, 0) @ W2.T + b2, rtol=1e-6, atol=1e-6)
    # the exact (float64) network: float32 rounding of 784-term dot products of O(1) logits
    # is O(1e-6), so 1e-5 is the honest tolerance against exact arithmetic
    f64 = [a.astype(np.float64) for a in (x, W1, b1, W2, b2)]
    ref = np.maximum(f64[0] @ f64[1].T + f64[2], 0) @ f64[3].T + f64[4]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert [p.name for p in exe.graph.params] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert exe.graph.inputs[0].type == cr.TensorType(("N", 784), "f32")


def test_dump_dir_numbered_series_parses_back(tmp_path):
    model = cr.nn.Sequential(cr.nn.Linear(784, 256, seed=0), cr.nn.ReLU(), cr.nn.Linear(256, 10, seed=1))
    exe = cr.compile(model, dump_dir=str(tmp_path))
    names = [p.name for p in inference_pipeline()]
    want = ["00-input.ir"] + [f"{i:02d}-{n}.ir" for i, n in enumerate(names, 1)]
    assert sorted(os.listdir(tmp_path)) == [".chainrule-dump"] + want  # the marker: a dump folder
    assert want[:2] == ["00-input.ir", "01-infer-shapes.ir"]
    for i, f in enumerate(want):
        text = (tmp_path / f).read_text()
        header = text.splitlines()[0]
        assert header.startswith(f"// {i:02d}: ")
        if i:
            assert f"after pass {names[i - 1]}" in header and ("(changed)" in header or "(unchanged)" in header)
        g = parse_graph(text)
        assert "%fc1: f32[N,256] = Gemm(%x, %fc1.weight, %fc1.bias) {transB=1}" in text
        assert [v.name for v in g.outputs] == ["fc2"]
    assert (tmp_path / want[-1]).read_text().split("\n", 1)[1] == cr.print_graph(exe.graph)


def test_tracer_operators_match_numpy():
    b = cr.GraphBuilder("ops", dtype="f64")
    x = b.input("x", (2, 3))
    y = b.input("y", (3,))
    w = b.param("w", np.arange(12.0).reshape(3, 4) / 10)
    outs = [x @ w, x + y, x - y, x * y, x / (y * y + 1), -x, 2 - x, 1 / (x * x + 1), 3 * x, x ** 2,
            x.T, x.sum(), x.mean(axis=0), x.max(axis=1, keepdims=True), x.reshape(3, 2), x + 1.5,
            cr.relu(x), cr.softmax(x), cr.exp(x), cr.tanh(x), cr.sigmoid(x)]
    g = b.build(*outs)
    X = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    Y = np.array([0.5, 1.0, -2.0])
    W = np.arange(12.0).reshape(3, 4) / 10
    e = np.exp(X - X.max(1, keepdims=True))
    want = [X @ W, X + Y, X - Y, X * Y, X / (Y * Y + 1), -X, 2 - X, 1 / (X * X + 1), 3 * X, X ** 2,
            X.T, X.sum(), X.mean(axis=0), X.max(axis=1, keepdims=True), X.reshape(3, 2), X + 1.5,
            np.maximum(X, 0), e / e.sum(1, keepdims=True), np.exp(X), np.tanh(X), 1 / (1 + np.exp(-X))]
    got = cr.compile(g)(X, Y)
    assert len(got) == len(want)
    for k, (a, r) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, r, rtol=1e-12, err_msg=f"output {k}")


def test_numpy_scalar_on_the_left_defers_to_the_tensor():
    b = cr.GraphBuilder("np")
    x = b.input("x", (2,))
    y = np.float32(2.0) * x
    assert isinstance(y, cr.Tensor)
    np.testing.assert_allclose(cr.compile(b.build(y))(np.ones(2, np.float32)), [2.0, 2.0])


def test_shape_error_points_at_the_users_line():
    b = cr.GraphBuilder("bad")
    x = b.input("x", ("N", 3))
    w = b.param("w", np.ones((4, 2), np.float32))
    with pytest.raises(IRTypeError) as info:
        x @ w  # noqa: B018  (the line the error must name)
    msg = str(info.value)
    assert f"test_frontend.py:{test_shape_error_points_at_the_users_line.__code__.co_firstlineno + 5}" in msg
    assert "f32[N,3]" in msg and "f32[4,2]" in msg


def test_traced_tensor_has_no_truth_value():
    b = cr.GraphBuilder("t")
    x = b.input("x", (2,))
    with pytest.raises(TypeError, match="no truth value"):
        bool(x)


def test_tensors_of_two_graphs_do_not_mix():
    a = cr.GraphBuilder("a").input("x", (2,))
    c = cr.GraphBuilder("c").input("x", (2,))
    with pytest.raises(IRTypeError, match="different graphs"):
        a + c


def test_linear_checks_feature_count():
    b = cr.GraphBuilder("lin")
    x = b.input("x", ("N", 5))
    with pytest.raises(IRTypeError, match="expects 4 input features"):
        cr.nn.Linear(4, 2)(x)


def test_sequential_names_and_activation_modules():
    model = cr.nn.Sequential(cr.nn.Linear(4, 3, seed=0), cr.nn.Sigmoid(), cr.nn.Linear(3, 3, seed=1),
                             cr.nn.Tanh(), cr.nn.Linear(3, 2, seed=2), cr.nn.Softmax())
    text = cr.print_graph(model.to_graph())
    for line in ["%fc1: f32[N,3] = Gemm(%x, %fc1.weight, %fc1.bias) {transB=1}", "= Sigmoid(%fc1)",
                 "%fc3: f32[N,2] = Gemm(", "= Softmax(%fc3)", "param %fc2.weight: f32[3,3]"]:
        assert line in text
    out = cr.compile(model)(np.ones((5, 4), np.float32))
    np.testing.assert_allclose(out.sum(axis=1), np.ones(5), rtol=1e-6)


def test_initialisation_is_seeded():
    cr.nn.manual_seed(7)
    a = cr.nn.Linear(3, 2).weight
    cr.nn.manual_seed(7)
    b = cr.nn.Linear(3, 2).weight
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cr.nn.mlp([3, 2], seed=5).modules[0].weight,
                                  cr.nn.mlp([3, 2], seed=5).modules[0].weight)
    assert np.all(np.abs(a) <= 1 / np.sqrt(3))


def test_compile_run_by_name_and_several_outputs():
    b = cr.GraphBuilder("two")
    x = b.input("x", ("N", 2))
    g = b.build(cr.exp(x), cr.sin(x))
    exe = cr.compile(g)
    e, s = exe(np.zeros((1, 2), np.float32))
    np.testing.assert_array_equal(e, np.ones((1, 2)))
    assert list(exe.run({"x": np.zeros((3, 2), np.float32)})) == ["exp", "sin"]
    assert g.nodes and cr.print_graph(g) == cr.print_graph(b.graph)  # compile copied, not mutated


def test_compile_rejects_what_it_cannot_compile():
    with pytest.raises(IRTypeError, match="cannot compile a str"):
        cr.compile("model")
    with pytest.raises(cr.ir.ArgumentError, match="unknown pipeline 'fast'"):
        cr.compile(cr.nn.Sequential(cr.nn.Linear(2, 2)), pipeline="fast")
    with pytest.raises(IRTypeError, match="cannot infer its input shape"):
        cr.compile(cr.nn.Sequential(cr.nn.ReLU()))


def test_trace_a_function():
    g = cr.trace(lambda x, w: cr.sigmoid(x @ w), {"x": ("N", 2)}, params={"w": np.ones((2, 1), np.float32)})
    assert g.name == "<lambda>"
    np.testing.assert_allclose(cr.compile(g)(np.zeros((3, 2), np.float32)), np.full((3, 1), 0.5))


def test_param_from_a_python_list_takes_the_builder_dtype():
    """Regression: a list became a float64 parameter in an f32 graph, so x * w failed."""
    b = cr.GraphBuilder("lst")
    x = b.input("x", (2,))
    w = b.param("w", [1.0, 2.0])
    assert w.dtype == cr.DType.f32
    np.testing.assert_allclose(cr.compile(b.build(x * w))(np.ones(2, np.float32)), [1.0, 2.0])
    assert b.param("k", np.arange(2)).dtype == cr.DType.i64  # an array keeps its own dtype
