"""Behaviour of the autodiff pass (issue 3): what is differentiated, how it is named and
recorded, and the clear failures: unused parameters, non-differentiable paths, the step."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import GradientError, verify
from chainrule.passes import Autodiff, GradientWarning, PassManager, backward, infer_shapes, toposort
from chainrule.runtime import Interpreter


def _fd_grad(f, x, eps=1e-6):
    """Central-difference gradient of scalar f at x (float64), entry by entry."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def test_gradient_with_respect_to_an_input():
    b = cr.GraphBuilder("inp", dtype="f64")
    x = b.input("x", (2, 3))
    w = b.param("w", np.arange(6.0).reshape(3, 2) / 6)
    L = cr.tanh(x @ w).sum()
    g = b.build(L)
    (gx,) = backward(g, [L.value], [g.value("x")])
    g.set_outputs([L.value, gx])
    verify(g)
    x0 = np.random.default_rng(0).standard_normal((2, 3))
    run = Interpreter(g).run_list
    got = run([x0])[1]
    want = _fd_grad(lambda a: run([a])[0], x0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    assert gx.name == "grad_x"


def test_x_times_x_is_two_uses_and_one_sum():
    """x * x: the Mul's two operands are two uses of %x, so x̄ = Σ of two contributions = 2x."""
    b = cr.GraphBuilder("sq", dtype="f64")
    x = b.input("x", (3,))
    L = (x * x).sum()
    g = b.build(L)
    (gx,) = backward(g, [L.value], [g.value("x")])
    assert gx.producer.op.name == "Sum" and len(gx.producer.inputs) == 2
    g.set_outputs([gx])
    np.testing.assert_allclose(Interpreter(g).run_list([np.array([1.0, -2.0, 3.0])])[0], [2.0, -4.0, 6.0])


def test_several_losses_are_summed():
    b = cr.GraphBuilder("two", dtype="f64")
    x = b.input("x", (3,))
    L1 = cr.sin(x).sum()
    L2 = (x * x).mean()
    g = b.build(L1, L2)
    (gx,) = backward(g, [L1.value, L2.value], [g.value("x")])
    g.set_outputs([gx])
    x0 = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(Interpreter(g).run_list([x0])[0], np.cos(x0) + 2 * x0 / 3, rtol=1e-12)


def test_gradient_of_an_intermediate_value_is_emitted_once():
    """Regression: asking for z̄ of a fanned-out z (and for x̄ behind it) made the Σ node twice."""
    b = cr.GraphBuilder("mid", dtype="f64")
    x = b.input("x", (3,))
    z = cr.sin(x)
    L = (z * z + z).sum()
    g = b.build(L)
    gz, gx = backward(g, [L.value], [z.value, g.value("x")])
    sums = [n for n in g.nodes if n.op.name == "Sum"]
    assert len(sums) == 1 and gz is sums[0].outputs[0] and gz.name == "grad_sin"
    assert not [n for n in g.nodes if n.op.name == "Identity"]
    g.set_outputs([gz, gx])
    verify(g)
    x0 = np.array([0.1, 0.7, -1.2])
    gzv, gxv = Interpreter(g).run_list([x0])
    np.testing.assert_allclose(gzv, 2 * np.sin(x0) + 1)
    np.testing.assert_allclose(gxv, (2 * np.sin(x0) + 1) * np.cos(x0))


def test_unused_parameter_is_a_clear_error_or_an_explicit_zero():
    b = cr.GraphBuilder("unused", dtype="f64")
    x = b.input("x", (2,))
    b.param("w", np.ones(2))
    b.param("v", np.ones((2, 2)))
    L = (x * x).sum()
    g = b.build(L)
    c = g.clone()
    with pytest.raises(GradientError, match=r"does not depend.*%v.*allow_unused=True"):
        backward(c, [c.outputs[0]], [c.param("v")])
    with pytest.raises(GradientError, match="not a value of graph"):
        backward(c, [g.outputs[0]], [c.param("v")])
    (gv,) = backward(g, [g.outputs[0]], [g.param("v")], allow_unused=True)
    assert gv.name == "grad_v" and gv.type == g.param("v").type
    assert "the loss does not depend on it" in gv.producer.prov.rule
    g.set_outputs([gv])
    out = Interpreter(g).run_list([np.ones(2)])[0]
    assert out.shape == (2, 2) and not out.any()


def test_hard_threshold_warns_naming_the_node():
    b = cr.GraphBuilder("step", dtype="f64")
    x = b.input("x", (3,))
    w = b.param("w", np.ones(3))
    L = cr.hard_threshold(x * w).sum() + (w * w).sum()
    g = b.build(L)
    with pytest.warns(GradientWarning, match=r"%hardthreshold \(HardThreshold\).*zero almost everywhere"):
        (gw,) = backward(g, [L.value], [g.param("w")])
    g.set_outputs([gw])
    # only the w·w term contributes: the step passes no gradient
    np.testing.assert_allclose(Interpreter(g).run_list([np.ones(3)])[0], 2 * np.ones(3))


def test_hard_threshold_only_path_is_an_error():
    b = cr.GraphBuilder("step_only", dtype="f64")
    x = b.input("x", (3,))
    w = b.param("w", np.ones(3))
    L = cr.hard_threshold(x * w).sum()
    g = b.build(L)
    with pytest.warns(GradientWarning), pytest.raises(GradientError, match="%w"):
        backward(g, [L.value], [g.param("w")])


def test_relu_gradient_does_not_warn():
    """Relu's own vjp uses the step (in the backward phase): that is no reason to warn."""
    b = cr.GraphBuilder("relu", dtype="f64")
    x = b.input("x", (3,))
    w = b.param("w", np.ones(3))
    L = cr.relu(x * w).sum()
    g = b.build(L)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backward(g, [L.value], [g.param("w")])


def test_argmax_path_gives_no_gradient():
    b = cr.GraphBuilder("argmax", dtype="f64")
    x = b.input("x", (2, 3))
    w = b.param("w", np.ones(3))
    idx = cr.argmax(x * w, axis=-1)
    L = cr.cast(idx, "f64").sum()
    g = b.build(L)
    with pytest.raises(GradientError, match=r"does not depend \(differentiably\) on %w"):
        backward(g, [L.value], [g.param("w")])


@pytest.mark.parametrize("bad", ["vector", "int"])
def test_loss_must_be_a_float_scalar(bad):
    b = cr.GraphBuilder("bad")
    x = b.input("x", (3,))
    y = cr.sin(x) if bad == "vector" else cr.argmax(x, axis=0)
    g = b.build(y)
    with pytest.raises(GradientError, match="must be a float scalar"):
        backward(g, [y.value], [g.value("x")])


def test_backward_nodes_record_provenance():
    b = cr.GraphBuilder("prov")
    x = b.input("x", ("N", 4))
    model = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.Sigmoid(), cr.nn.Linear(3, 2))
    L = cr.softmax_cross_entropy(model(x), b.input("t", ("N", 2)))
    g = b.build(L)
    grads = backward(g, [L.value], [g.param("fc1.weight"), g.param("fc2.bias")])
    assert [v.name for v in grads] == ["grad_fc1.weight", "grad_fc2.bias"]
    back = [n for n in g.nodes if n.prov.phase == "backward"]
    assert back and all(n.prov.created_by == "autodiff" for n in back)
    assert all(n.prov.grad_of is not None and n.prov.rule for n in back)
    sig = [n for n in back if n.prov.grad_of == "sigmoid"]
    assert sig and all(n.prov.rule == cr.OPS["Sigmoid"].rule for n in sig)
    verify(g)
    text = cr.print_graph(g)
    assert cr.print_graph(cr.parse_graph(text)) == text


def test_autodiff_pass_in_the_manager_with_symbolic_batch(tmp_path):
    b = cr.GraphBuilder("mlp")
    x = b.input("x", ("N", 4))
    t = b.input("t", ("N", 2))
    model = cr.nn.Sequential(cr.nn.Linear(4, 3, seed=1), cr.nn.Tanh(), cr.nn.Linear(3, 2, seed=2))
    L = cr.softmax_cross_entropy(model(x), t)
    g = b.build(L)
    pm = PassManager([infer_shapes, toposort, Autodiff()], dump_dir=str(tmp_path))
    g = pm.run(g)
    assert [v.name for v in g.outputs] == ["softmaxcrossentropy", "grad_fc1.weight", "grad_fc1.bias",
                                          "grad_fc2.weight", "grad_fc2.bias"]
    assert g.value("grad_fc1.weight").type == g.param("fc1.weight").type
    files = sorted(p.name for p in tmp_path.iterdir() if p.name != ".chainrule-dump")
    assert files == ["00-input.ir", "01-infer-shapes.ir", "02-toposort.ir", "03-autodiff.ir"]
    after = (tmp_path / "03-autodiff.ir").read_text()
    assert "(changed)" in after.splitlines()[0] and "phase=backward" in after
    # batch size is symbolic: the same graph runs for N = 1 and N = 5
    for n in (1, 5):
        outs = Interpreter(g).run_list([np.ones((n, 4), np.float32), np.full((n, 2), 0.5, np.float32)])
        assert outs[1].shape == (3, 4)


def test_autodiff_is_deterministic():
    def build():
        cr.nn.manual_seed(0)
        model = cr.nn.mlp([5, 4, 3], "sigmoid", seed=3)
        b = cr.GraphBuilder("det")
        x = b.input("x", ("N", 5))
        L = cr.softmax_cross_entropy(model(x), b.input("t", ("N", 3)))
        g = b.build(L)
        backward(g, [L.value], [p for p in g.params])
        return cr.print_graph(g)
    assert build() == build()


def test_a_gradient_blocked_by_an_op_without_a_rule_names_that_node():
    import chainrule as cr
    from chainrule.ir import GradientError
    from chainrule.passes import backward
    b = cr.GraphBuilder("g")
    x = b.input("x", (3,))
    w = b.param("w", np.ones(3, np.float32))
    L = cr.cast(cr.argmax(x * w), "f32")
    g = b.build(L)
    with pytest.raises(GradientError, match=r"does not depend \(differentiably\) on %w \(the gradient stops at %cast \(Cast\)"):
        backward(g, [L.value], [g.param("w")])
