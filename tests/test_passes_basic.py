"""Golden before/after IR text for each pass (infer-shapes, toposort, dce, autodiff), results
preserved by each pass, and the 100,000-node chain through every pass without recursion.

Goldens live in tests/golden/pass_<name>.{before,after}.ir; regenerate on purpose with
CHAINRULE_REGEN_GOLDEN=1. A toposort "before" graph is not in def-before-use order, which the
parser rejects by design, so its golden is named ``*.unscheduled.ir`` (see test_parser.py).
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import Emitter, Graph, GraphError, TensorType, parse_graph, print_graph, verify
from chainrule.passes import Autodiff, PassManager, dce, infer_shapes, toposort
from chainrule.runtime import Interpreter
from golden import check_golden

STALE = """\
graph stale {
  input %x: f32[N,4]
  param %w: f32[3,4]
  param %b: f32[3]
  %z: f32[1,1] = Gemm(%x, %w, %b) {transB=1}
  %h: f32[1,1] = Relu(%z)
  %s: f32[1] = ReduceSum(%h) {axes=[1], keepdims=0}
  return %s
}
"""


def test_infer_shapes_golden_and_symbolic_batch():
    g = parse_graph(STALE)
    check_golden("pass_infer_shapes.before", print_graph(g))
    assert infer_shapes.run(g).changed
    after = print_graph(g)
    check_golden("pass_infer_shapes.after", after)
    assert "%z: f32[N,3]" in after and "%s: f32[N]" in after
    verify(g)
    assert not infer_shapes.run(g).changed  # a fixed point: running again changes nothing


def test_infer_shapes_error_names_the_node():
    g = parse_graph(STALE.replace("param %w: f32[3,4]", "param %w: f32[3,5]"))
    with pytest.raises(cr.ir.IRTypeError, match=r"node %z \(Gemm\).*inner dimensions"):
        infer_shapes.run(g)


def _unsorted():
    g = Graph("unsorted")
    x = g.add_input("x", TensorType((3,), "f64"))
    e = Emitter(g)
    a = e.Exp(x, name="a")
    c = e.Sin(x, name="c")
    b = e.Mul(a, c, name="b")
    d = e.Cos(x, name="d")
    out = e.Add(b, d, name="out")
    g.set_outputs([out])
    n = {v.name: v.producer for v in (a, b, c, d, out)}
    g.nodes = [n["b"], n["d"], n["a"], n["out"], n["c"]]  # scrambled: uses before defs
    return g


def test_toposort_golden_is_stable():
    g = _unsorted()
    check_golden("pass_toposort.before.unscheduled", print_graph(g))
    with pytest.raises(cr.ir.VerifyError, match="before its use"):
        verify(g)
    assert toposort.run(g).changed
    check_golden("pass_toposort.after", print_graph(g))
    verify(g)
    # ties are broken by the previous order: d (position 1) stays before a and c
    assert [n.name for n in g.nodes] == ["d", "a", "c", "b", "out"]
    assert not toposort.run(g).changed
    x0 = np.array([0.1, 0.5, -2.0])
    np.testing.assert_allclose(Interpreter(g).run_list([x0])[0], np.exp(x0) * np.sin(x0) + np.cos(x0))


def test_toposort_reports_a_cycle():
    g = _unsorted()
    a, b = g.value("a").producer, g.value("b").producer
    a.set_input(0, b.outputs[0])  # a = Exp(b), b = Mul(a, c): a cycle
    with pytest.raises(GraphError, match=r"cycle: .*a.*b|cycle: .*b.*a"):
        toposort.run(g)


DEAD = """\
graph dead {
  input %x: f32[N,4]
  %a: f32[N,4] = Exp(%x)
  %b: f32[N,4] = Sin(%x)
  %c: f32[N,4] = Mul(%a, %a)
  %d: f32[N,4] = Neg(%b)
  %e: f32[N,4] = Cos(%c)
  return %d
}
"""


def test_dce_golden_and_results_preserved():
    g = parse_graph(DEAD)
    x0 = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    before = Interpreter(g).run_list([x0])[0]
    check_golden("pass_dce.before", print_graph(g))
    assert dce.run(g).changed
    check_golden("pass_dce.after", print_graph(g))
    assert [n.name for n in g.nodes] == ["b", "d"]
    np.testing.assert_array_equal(Interpreter(g).run_list([x0])[0], before)
    assert not dce.run(g).changed
    verify(g)


def test_dce_keeps_update_values():
    text = DEAD.replace("  input %x: f32[N,4]\n", "  input %x: f32[N,4]\n  state %s: f32[N,4]\n")
    g = parse_graph(text.replace("  return %d\n", "  return %d\n  update %s <- %e\n"))
    dce.run(g)
    assert [n.name for n in g.nodes] == ["a", "b", "c", "d", "e"]


def test_autodiff_pass_golden_before_after():
    b = cr.GraphBuilder("logistic")
    x, t = b.input("x", ("N", 2)), b.input("t", ("N", 1))
    w, bias = b.param("w", np.array([[0.5, -0.25]], np.float32)), b.param("b", np.zeros(1, np.float32))
    y = cr.sigmoid(b.op("Gemm", x, w, bias, transB=1, name="z"))
    g = b.build(cr.squared_error(y, t))
    pm = PassManager([infer_shapes, toposort, Autodiff(), dce], keep_text=True)
    pm.run(g)
    check_golden("pass_autodiff.before", pm.history[2].text)
    check_golden("pass_autodiff.after", pm.history[3].text)
    assert [r.name for r in pm.history] == ["input", "infer-shapes", "toposort", "autodiff", "dce"]
    assert pm.history[3].changed and not pm.history[4].changed


def _chain(n):
    g = Graph("chain")
    v = g.add_input("x", TensorType(("N", 4), "f32"))
    e = Emitter(g)
    for i in range(n):
        v = e.Neg(v) if i % 2 == 0 else e.Identity(v)
    g.set_outputs([v])
    return g


def test_100k_node_chain_through_every_pass():
    """No recursion anywhere: sort a reversed 100,000-node chain, infer, DCE, verify, print, run."""
    g = _chain(100_000)
    order = list(g.nodes)
    g.nodes = order[::-1]
    PassManager([toposort, infer_shapes, dce], verify_each=False).run(g)
    assert all(a is b for a, b in zip(g.nodes, order)) and len(g.nodes) == 100_000
    verify(g)
    text = print_graph(g)
    assert text.count("\n") == 100_000 + 4
    out = Interpreter(g).run_list([np.ones((2, 4), np.float32)])[0]
    np.testing.assert_array_equal(out, np.ones((2, 4), np.float32))  # an even number of negations
