"""The ``ai.onnx.ml`` ops, one hand-built model per case, against onnxruntime: each imports as
chainrule IR ops (no ml op survives), runs equal to onnxruntime, differentiates (float64 central
differences) and exports back as default-domain ONNX that onnxruntime runs equal again."""
import inspect

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.ir import Emitter  # noqa: E402
from chainrule.frontends.onnx.ops import DOMAIN_IMPORTS  # noqa: E402

ML = "ai.onnx.ml"
RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 4)).astype(np.float32)
X[5] = 0.0  # a row of zeros: Normalizer keeps it, SOFTMAX_ZERO leaves its entries out of the sum


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "ml", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                          initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)])


def _one(op, x_shape=("N", 4), out_type=TensorProto.FLOAT, out_shape=None, x_type=TensorProto.FLOAT, **attrs):
    return _model([helper.make_node(op, ["X"], ["Y"], domain=ML, **attrs)], [("X", x_type, list(x_shape))],
                  [("Y", out_type, out_shape)])


def _ort(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _check(m, feeds, atol=1e-6, grad=True):
    """Import, compare with onnxruntime, check no ml op is left, re-export and compare again; then
    check the gradient of a weighted sum of the first float output with respect to the weights
    (on the rows without a zero, where SOFTMAX_ZERO's threshold would break finite differences)."""
    g = cr.import_onnx(m)
    assert all(n.op.name in cr.OPS for n in g.nodes)
    want = _ort(m, feeds)
    got = cr.compile(g).run(feeds)
    for o, w in zip(g.outputs, want):
        assert np.allclose(got[o.name], w, atol=atol, equal_nan=True), (o.name, got[o.name], w)
    back = cr.export_onnx(g)
    onnx.checker.check_model(back, full_check=True)
    assert all(n.domain in ("", "ai.onnx") for n in back.graph.node)
    for o, w in zip(g.outputs, _ort(back, feeds)):
        assert np.allclose(got[o.name], w, atol=atol, equal_nan=True)
    if grad and g.params:
        # the first float output, summed, is differentiable in the weights (finite differences, float64)
        f = next(o for o in g.outputs if o.dtype == cr.DType.f32)
        h = g.clone()
        e = Emitter(h)
        w = e.Constant(value=np.linspace(-1.0, 2.0, f.type.shape[-1], dtype=np.float32))
        h.set_outputs([e.ReduceSum(e.Mul(h.value(f.name), w), axes=None, keepdims=0)])
        rows = {k: (v[:5] if v.ndim == 2 else v).astype(np.float64) for k, v in feeds.items()}
        report = cr.gradcheck(h, rows)
        assert report.ok, report
    return g, got


COEF = RNG.standard_normal(12).round(2).tolist()  # 3 classes x 4 features


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"])
@pytest.mark.parametrize("labels", [dict(classlabels_ints=[4, 7, 9]), dict(classlabels_strings=["a", "b", "c"])])
def test_linear_classifier_multiclass(post, labels):
    strings = "classlabels_strings" in labels
    m = _model([helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML, coefficients=COEF,
                                 intercepts=[0.1, -0.2, 0.0], post_transform=post, multi_class=1, **labels)],
               [("X", TensorProto.FLOAT, ["N", 4])],
               [("label", TensorProto.STRING if strings else TensorProto.INT64, ["N"]),
                ("scores", TensorProto.FLOAT, ["N", 3])])
    feeds = {"X": X}
    g, got = _check(m, feeds) if not strings else _check_strings(m, feeds)
    if strings:
        assert g.meta == {"labels.label": ["a", "b", "c"]}


def _check_strings(m, feeds):
    """As ``_check``, for a model whose first output is string labels: chainrule gives indices."""
    g = cr.import_onnx(m)
    want = _ort(m, feeds)
    got = cr.compile(g).run(feeds)
    labels = np.array(g.meta[f"labels.{g.outputs[0].name}"])
    assert list(labels[got[g.outputs[0].name]]) == list(want[0])
    assert np.allclose(got[g.outputs[1].name], want[1], atol=1e-6)
    return g, got


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC"])
def test_linear_classifier_one_row_is_binary(post):
    m = _model([helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML, coefficients=COEF[:4],
                                 intercepts=[0.3], post_transform=post, classlabels_ints=[-1, 1])],
               [("X", TensorProto.FLOAT, ["N", 4])],
               [("label", TensorProto.INT64, ["N"]), ("scores", TensorProto.FLOAT, ["N", 2])])
    _, got = _check(m, {"X": X})
    assert set(got["label"]) <= {-1, 1}


def test_linear_classifier_probit_vector_input_and_int_input():
    p = np.array([[0.1, 0.45, 0.97], [0.02, 0.3, 0.7]], np.float32)  # probit: on (0, 1), not at 0.5 (√0)
    m = _model([helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML,
                                 coefficients=[1.0, 0, 0, 0, 1, 0, 0, 0, 1], post_transform="PROBIT",
                                 intercepts=[0.0, 0, 0], classlabels_ints=[0, 1, 2])],
               [("X", TensorProto.FLOAT, ["N", 3])],
               [("label", TensorProto.INT64, ["N"]), ("scores", TensorProto.FLOAT, ["N", 3])])
    _check(m, {"X": p}, atol=1e-5)
    vec = _model([helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML, coefficients=COEF,
                                   intercepts=[0.1, -0.2, 0.0], classlabels_ints=[0, 1, 2])],
                 [("X", TensorProto.FLOAT, [4])], [("label", TensorProto.INT64, [1]),
                                                   ("scores", TensorProto.FLOAT, [1, 3])])
    _check(vec, {"X": X[0]})
    ints = _model([helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML, coefficients=COEF,
                                    intercepts=[0.1, -0.2, 0.0], classlabels_ints=[0, 1, 2])],
                  [("X", TensorProto.INT64, ["N", 4])], [("label", TensorProto.INT64, ["N"]),
                                                         ("scores", TensorProto.FLOAT, ["N", 3])])
    _check(ints, {"X": (10 * X).astype(np.int64)}, atol=1e-4, grad=False)


def test_linear_classifier_weights_become_named_parameters():
    m = _model([helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML, coefficients=COEF,
                                 intercepts=[0.1, -0.2, 0.0], classlabels_ints=[0, 1, 2], name="clf")],
               [("X", TensorProto.FLOAT, ["N", 4])],
               [("label", TensorProto.INT64, ["N"]), ("scores", TensorProto.FLOAT, ["N", 3])])
    g = cr.import_onnx(m)
    assert [(p.name, p.kind, str(p.type)) for p in g.params] == [
        ("clf.coefficients", "param", "f32[3,4]"), ("clf.intercepts", "param", "f32[3]")]
    assert np.allclose(g.initializers["clf.coefficients"].reshape(-1), COEF)


@pytest.mark.parametrize("post, targets", [("NONE", 1), ("PROBIT", 1), ("NONE", 3), ("LOGISTIC", 3),
                                           ("SOFTMAX", 3), ("SOFTMAX_ZERO", 3)])
def test_linear_regressor(post, targets):
    coef = COEF[:4 * targets] if post != "PROBIT" else [0.1] * 4 * targets
    x = X if post != "PROBIT" else RNG.uniform(0, 2, (3, 4)).astype(np.float32)  # scores in (0, 1)
    m = _one("LinearRegressor", out_shape=["N", targets], coefficients=coef, intercepts=[0.01] * targets,
             targets=targets, post_transform=post)
    _check(m, {"X": x}, atol=1e-5)


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer(norm):
    _check(_one("Normalizer", out_shape=["N", 4], norm=norm), {"X": X})
    _check(_one("Normalizer", x_shape=[4], out_shape=[4], norm=norm), {"X": X[1]})


def test_scaler_per_feature_and_broadcast():
    _check(_one("Scaler", out_shape=["N", 4], offset=[0.5, -1.0, 0.0, 2.0], scale=[2.0, 0.5, 1.0, -1.0]), {"X": X})
    _check(_one("Scaler", out_shape=["N", 4], offset=[0.5], scale=[3.0]), {"X": X})
    _check(_one("Scaler", out_shape=["N", 4], x_type=TensorProto.DOUBLE, offset=[0.5], scale=[3.0]),
           {"X": X.astype(np.float64)}, grad=False)


def test_binarizer():
    _check(_one("Binarizer", out_shape=["N", 4], threshold=0.25), {"X": X})
    # threshold left out: the spec's default 0.0 (onnxruntime uses 1.0), checked with ONNX's reference
    from onnx.reference import ReferenceEvaluator
    m = _one("Binarizer", out_shape=["N", 4])
    want = ReferenceEvaluator(m).run(None, {"X": X})[0]
    assert np.array_equal(cr.compile(cr.import_onnx(m))(X), want)


def test_array_feature_extractor_of_a_matrix_a_vector_and_strings():
    idx = numpy_helper.from_array(np.array([[2], [0]], np.int64), "I")
    m = _model([helper.make_node("ArrayFeatureExtractor", ["X", "I"], ["Y"], domain=ML)],
               [("X", TensorProto.FLOAT, ["N", 4])], [("Y", TensorProto.FLOAT, ["N", 2])], [idx])
    _check(m, {"X": X})
    m = _model([helper.make_node("ArrayFeatureExtractor", ["X", "I"], ["Y"], domain=ML)],
               [("X", TensorProto.FLOAT, [4]), ("I", TensorProto.INT64, ["M", 1])], [("Y", TensorProto.FLOAT, [1, "M"])])
    _check(m, {"X": X[0], "I": np.array([[3], [1], [1]], np.int64)})
    names = helper.make_tensor("names", TensorProto.STRING, [3], [b"x", b"y", b"z"])
    m = _model([helper.make_node("ArrayFeatureExtractor", ["names", "I"], ["Z"], domain=ML),
                helper.make_node("Reshape", ["Z", "flat"], ["Y"])],
               [("I", TensorProto.INT64, ["M", 1])], [("Y", TensorProto.STRING, ["M"])],
               [names, numpy_helper.from_array(np.array([-1], np.int64), "flat")])
    g = cr.import_onnx(m)
    idx = np.array([[2], [0], [2]], np.int64)
    assert g.meta == {"labels.Y": ["x", "y", "z"]}
    assert [g.meta["labels.Y"][i] for i in cr.compile(g)(idx)] == list(_ort(m, {"I": idx})[0])


def test_zipmap_is_the_probability_matrix_with_its_classes_in_the_ir():
    m = _model([helper.make_node("Softmax", ["X"], ["P"], axis=1),
                helper.make_node("ZipMap", ["P"], ["Z"], domain=ML, classlabels_int64s=[10, 20, 30, 40])],
               [("X", TensorProto.FLOAT, ["N", 4])],
               [("Z", TensorProto.FLOAT, None)])
    maps = helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))
    m.graph.output[0].CopyFrom(helper.make_value_info("Z", helper.make_sequence_type_proto(maps)))  # ZipMap's output
    g = cr.import_onnx(m)
    text = str(g)
    assert "meta classes.Z = [10, 20, 30, 40]" in text and str(cr.parse_graph(text)) == text
    got = cr.compile(g)(X)
    want = _ort(m, {"X": X})[0]  # a list of {label: probability} maps
    assert np.allclose(got, [[row[k] for k in (10, 20, 30, 40)] for row in want], atol=1e-6)
    back = cr.import_onnx(cr.export_onnx(g))
    assert back.meta == {"classes.Z": [10, 20, 30, 40]}  # the metadata survives export and import


def test_the_ml_import_functions_fit_their_schemas():
    table = DOMAIN_IMPORTS[ML]
    assert sorted(table) == ["ArrayFeatureExtractor", "Binarizer", "LinearClassifier", "LinearRegressor",
                             "Normalizer", "Scaler", "ZipMap"]
    for name, fn in table.items():
        schema = onnx.defs.get_schema(name, domain=ML)
        kw = {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.kind == p.KEYWORD_ONLY}
        assert set(kw) == set(schema.attributes), name
        for k, a in schema.attributes.items():  # the spec's defaults
            if a.default_value.name:
                d = helper.get_attribute_value(a.default_value)
                assert kw[k] == (d.decode() if isinstance(d, bytes) else d), (name, k)


@pytest.mark.parametrize("node, words", [
    (dict(op="LinearClassifier", coefficients=COEF, intercepts=[0.0, 0.0, 0.0]), ["exactly one of classlabels_ints"]),
    (dict(op="LinearClassifier", coefficients=COEF, intercepts=[0.0, 0.0, 0.0], classlabels_ints=[0, 1]),
     ["3 rows of coefficients (classes) but 2 class labels"]),
    (dict(op="LinearClassifier", coefficients=COEF[:5], classlabels_ints=[0, 1]), ["coefficients has 5 values"]),
    (dict(op="LinearClassifier", coefficients=COEF[:4], intercepts=[0.0], classlabels_ints=[0, 1],
          post_transform="SOFTMAX"), ["unsupported: post_transform SOFTMAX of a one-row binary classifier"]),
    (dict(op="LinearClassifier", coefficients=COEF, intercepts=[0.0, 0.0, 0.0], classlabels_ints=[0, 1, 2],
          post_transform="SQUASH"), ["post_transform 'SQUASH' is not one of"]),
    (dict(op="LinearRegressor", coefficients=COEF[:4], post_transform="LOGISTIC"), ["LOGISTIC with one target"]),
    (dict(op="Normalizer", norm="L3"), ["norm 'L3' is not one of MAX, L1, L2"]),
    (dict(op="Scaler", offset=[1.0, 2.0]), ["offset has 2 values; it needs 1 or one per feature (4)"]),
    (dict(op="ZipMap", classlabels_int64s=[1, 2]), ["4 columns but there are 2 class labels"]),
])
def test_bad_ml_nodes_are_clear_import_errors(node, words):
    op = node.pop("op")
    m = _model([helper.make_node(op, ["X"], ["Y", "Z"][:2 if op == "LinearClassifier" else 1], domain=ML,
                                 name="bad", **node)],
               [("X", TensorProto.FLOAT, ["N", 4])], [("Y", TensorProto.FLOAT, None)])
    with pytest.raises(cr.ChainruleError) as info:
        cr.import_onnx(m)
    msg = str(info.value)
    assert f"node 'bad' ({op})" in msg
    for w in words:
        assert w in msg


def test_string_labels_may_only_be_moved():
    m = _model([helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML, coefficients=COEF,
                                 intercepts=[0.0, 0.0, 0.0], classlabels_strings=["a", "b", "c"]),
                helper.make_node("Add", ["label", "label"], ["twice"], name="sum")],
               [("X", TensorProto.FLOAT, ["N", 4])], [("twice", TensorProto.STRING, ["N"])])
    with pytest.raises(cr.ChainruleError, match=r"node 'sum' \(Add\): input 'label' holds string class labels"):
        cr.import_onnx(m)


def test_an_unknown_domain_and_an_unknown_ml_op_name_the_supported_ones():
    m = _model([helper.make_node("TreeEnsembleClassifier", ["X"], ["Y"], domain=ML, name="trees")],
               [("X", TensorProto.FLOAT, ["N", 4])], [("Y", TensorProto.FLOAT, None)])
    with pytest.raises(cr.ChainruleError, match="op TreeEnsembleClassifier is not supported; supported ONNX ops "
                                                "of domain ai.onnx.ml: ArrayFeatureExtractor, Binarizer"):
        cr.import_onnx(m)


def test_onnx_node_tests_of_the_ml_ops_pass():
    """ONNX's own node tests of the claimed ai.onnx.ml ops, inputs fed as inputs (as
    onnx.backend.test runs them), ONNX's tolerances, exact dtype and shape; onnxruntime too."""
    import warnings
    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [c for c in load_model_tests(kind="node") if c.model is not None
                 and all(n.domain == ML and n.op_type in DOMAIN_IMPORTS[ML] for n in c.model.graph.node)]
    assert sorted(c.name for c in cases) == ["test_ai_onnx_ml_array_feature_extractor", "test_ai_onnx_ml_binarizer"]
    for c in cases:
        g = cr.import_onnx(c.model)
        names = [vi.name for vi in c.model.graph.input]
        for ins, outs in c.data_sets:
            feeds = {n: numpy_helper.to_array(a) if hasattr(a, "HasField") else np.asarray(a) for n, a in zip(names, ins)}
            want = [numpy_helper.to_array(b) if hasattr(b, "HasField") else np.asarray(b) for b in outs]
            for got in (cr.Interpreter(g).run_list([feeds[n] for n in names]), _ort(c.model, feeds)):
                for a, b in zip(got, want):
                    assert (a.dtype, a.shape) == (b.dtype, b.shape), c.name
                    np.testing.assert_allclose(a, b, rtol=c.rtol, atol=c.atol, err_msg=c.name)
