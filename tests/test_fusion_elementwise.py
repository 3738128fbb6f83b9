"""Elementwise fusion and the Fused op: golden IR, text round trip, results preserved, in-place kernels."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir.ops.outkernels import inplace_inputs
from chainrule.ir import ParseError
from chainrule.passes.basic import dce
from chainrule.passes.fuse_elementwise import fuse_elementwise
from chainrule.passes.fusion import fuse_softmax_ce
from golden import check_golden
from mlp_step import add_sgd, batch, mlp_loss_graph


def _train_graph(activation="relu", sizes=(8, 6, 4)):
    g = mlp_loss_graph(sizes, activation)
    fuse_softmax_ce(g)
    add_sgd(g)
    dce(g)
    return g


def _step(g, x, t):
    params = {k: v.copy() for k, v in g.initializers.items()}
    outs = cr.Interpreter(g, params).run_list([x, t])
    return outs, params


def test_golden_training_step_fused():
    g = _train_graph()
    before = cr.print_graph(g)
    assert fuse_elementwise(g).changed
    cr.verify(g)
    after = cr.print_graph(g)
    check_golden("fuse_elementwise_mlp_step", before + "// after fuse-elementwise\n" + after)
    kinds = [[s[0] for s in n.attrs["body"]] for n in g.nodes if n.op.name == "Fused"]
    assert ["HardThreshold", "Mul"] in kinds  # the ReLU derivative times the incoming gradient
    assert kinds.count(["Mul", "Sub"]) == 4  # p - lr * grad, once per parameter


def test_fused_text_round_trips():
    g = _train_graph("sigmoid")
    fuse_elementwise(g)
    text = cr.print_graph(g)
    assert "= Fused(" in text and text.count("  }\n") >= 1
    assert cr.print_graph(cr.parse_graph(text)) == text


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softplus"])
def test_fusion_preserves_training_step(activation):
    g = _train_graph(activation)
    f = g.clone()
    assert fuse_elementwise(f).changed
    x, t = batch(n=7)
    (l0,), p0 = _step(g, x, t)
    (l1,), p1 = _step(f, x, t)
    assert l0 == l1
    for k in p0:
        np.testing.assert_allclose(p0[k], p1[k], rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(p1[k], g.initializers[k]) for k in p1)  # the step did update


def test_no_fusion_through_a_value_with_another_use():
    b = cr.GraphBuilder("two_uses")
    x = b.input("x", (3,))
    y = cr.exp(x)
    g = b.build(cr.sin(y), y * 2.0)  # y is an output and feeds Sin and Mul
    before = cr.print_graph(g)
    fuse_elementwise(g)
    assert [n.op.name for n in g.nodes].count("Exp") == 1  # Exp stays a node of its own
    assert all("Exp" not in [s[0] for s in n.attrs.get("body", ())] for n in g.nodes)
    x0 = np.array([0.1, 0.2, 0.3], np.float32)
    ref = cr.Interpreter(cr.parse_graph(before)).run_list([x0])
    got = cr.Interpreter(g).run_list([x0])
    for a, c in zip(ref, got):
        np.testing.assert_array_equal(a, c)


def test_fused_kernel_broadcasts_and_runs_in_place(rng):
    b = cr.GraphBuilder("bias_act")
    x = b.input("x", ("N", 5))
    bias = b.param("bias", rng.standard_normal(5).astype(np.float32))
    y = cr.tanh(cr.exp(x * 0.5 + bias) - x)  # a DAG: x is read twice
    g = b.build(y)
    ref_g = g.clone()
    assert fuse_elementwise(g).changed
    node = next(n for n in g.nodes if n.op.name == "Fused")
    xv = rng.standard_normal((4, 5)).astype(np.float32)
    want = cr.Interpreter(ref_g).run_list([xv])[0]
    np.testing.assert_allclose(cr.Interpreter(g).run_list([xv])[0], want, rtol=1e-6)
    op = node.op
    k = inplace_inputs(node)[0]  # what the memory planner offers
    assert node.inputs[k].name == "x"
    fn = op.out_kernel(dict(node.attrs), alias=k)
    consts = [np.asarray(n.attrs["value"]) for n in g.nodes if n.op.name == "Constant"]
    env = {"x": None, "bias": g.initializers["bias"], consts and g.nodes[0].outputs[0].name: consts[0]}
    for trial in range(2):  # the second call reuses the cached buffer plan
        buf = xv.copy()  # the result overwrites the input it replaces
        args = [buf if v.name == "x" else env[v.name] for v in node.inputs]
        out = fn(buf, *args)
        assert out is buf
        np.testing.assert_allclose(buf, want, rtol=1e-6)


def test_fused_body_parse_errors_name_the_line():
    text = """graph f {
  input %x: f32[3]
  %y: f32[3] = Fused(%x) {
    %a: f32[3] = Exp(%nope)
  }
  return %y
}
"""
    with pytest.raises(ParseError, match="line 4.*%nope is neither an input"):
        cr.parse_graph(text)
    with pytest.raises(ParseError, match="has type f32\\[3\\], the line says f32\\[4\\]"):
        cr.parse_graph(text.replace("Exp(%nope)", "Exp(%x)").replace("%a: f32[3]", "%a: f32[4]"))
    with pytest.raises(ParseError, match="not an elementwise op"):
        cr.parse_graph(text.replace("Exp(%nope)", "Softmax(%x)"))
    with pytest.raises(ParseError, match="missing closing"):
        cr.parse_graph("\n".join(text.splitlines()[:4]))


def test_fused_nodes_are_not_differentiated():
    g = _train_graph()
    fuse_elementwise(g)
    assert not cr.OPS["Fused"].differentiable
    assert "after autodiff" in cr.OPS["Fused"].rule


def test_verify_marks_the_right_line_after_fused_nodes():
    """A fused node prints several lines; the verifier's ``>>`` must still point at the bad node."""
    from chainrule.ir import VerifyError
    g = _train_graph()
    fuse_elementwise(g)
    fused = [n for n in g.nodes if n.op.name == "Fused"]
    bad = next(n for n in reversed(g.nodes) if n.op.name != "Fused" and n.inputs)
    assert g.nodes.index(bad) > g.nodes.index(fused[0])  # printed after (at least) one fused body
    bad.inputs[0].uses.remove((bad, 0))  # a use-list violation: printing is unaffected
    with pytest.raises(VerifyError) as err:
        cr.verify(g)
    marked = [ln for ln in str(err.value).splitlines() if ln.startswith(">> ")]
    assert len(marked) == 1 and marked[0][3:].lstrip().startswith(f"%{bad.outputs[0].name}: ")
