"""cr.gradcheck and float64 mode (the CastFloats pass)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.frontends.inspect.gradcheck import GradcheckError, gradcheck
from chainrule.ir import GradientError, OPS
from chainrule.passes.precision import cast_floats


def _model_graph():
    cr.nn.manual_seed(3)
    m = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.Sigmoid(), cr.nn.Linear(3, 2))
    b = cr.GraphBuilder("m")
    x, t = b.input("x", ("N", 4)), b.input("t", ("N", 2))
    return b.build(cr.softmax_cross_entropy(m(x), t))


def _data():
    rng = np.random.default_rng(0)
    return {"x": rng.random((5, 4), dtype=np.float32), "t": np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1]]}


def test_gradcheck_passes_on_a_correct_model():
    report = gradcheck(_model_graph(), _data())
    assert report.ok, str(report)
    assert {r.name for r in report.rows} == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert "gradients OK" in str(report)


def test_gradcheck_catches_a_wrong_rule(monkeypatch):
    sig = OPS["Sigmoid"]
    # a classic mistake: σ′(z) written as σ(z)
    monkeypatch.setattr(type(sig), "vjp", lambda self, e, node, gys: [e.Mul(gys[0], node.outputs[0])])
    report = gradcheck(_model_graph(), _data(), wrt=["fc1.weight"])
    assert not report.ok
    assert "MISMATCH" in str(report)
    with pytest.raises(GradcheckError, match="fc1.weight"):
        gradcheck(_model_graph(), _data(), wrt=["fc1.weight"], raise_on_failure=True)


def test_gradcheck_needs_a_scalar_loss():
    m = cr.nn.Sequential(cr.nn.Linear(4, 3))
    with pytest.raises(GradientError, match="scalar loss"):
        gradcheck(m.to_graph(), {"x": np.zeros((2, 4), np.float32)})


def test_gradcheck_wrt_an_input():
    report = gradcheck(_model_graph(), _data(), wrt=["x"])
    assert report.ok, str(report)


def test_cast_floats_makes_a_float64_copy():
    g = _model_graph()
    g64 = cast_floats(g)
    cr.verify(g64)
    assert all(v.type.dtype == cr.DType.f64 for v in g64.inputs + g64.params)
    assert all(a.dtype == np.float64 for a in g64.initializers.values())
    assert all(a.dtype == np.float32 for a in g.initializers.values())  # the original is untouched
    d = _data()
    y32 = cr.compile(g)(d["x"], d["t"])
    y64 = cr.compile(g64)(d["x"].astype(np.float64), d["t"].astype(np.float64))
    assert y64.dtype == np.float64
    assert float(y64) == pytest.approx(float(y32), rel=1e-5)
