"""Verifier negative tests: each broken invariant gives its own message, with the IR around
the offending line marked ``>>``."""
import numpy as np
import pytest

from chainrule.ir import Emitter, Graph, TensorType, Value, VerifyError, parse_graph, verify

TEXT = """\
graph v {
  input %x: f32[N,3]
  param %w: f32[3]
  state %s: f32[3]
  %a: f32[N,3] = Mul(%x, %w)
  %b: f32[N,3] = Exp(%a)
  %c: f32[3] = ReduceSum(%b) {axes=[0], keepdims=0}
  %d: f32[3] = Add(%c, %s)
  return %d
  update %s <- %d
}
"""


@pytest.fixture
def g():
    g = parse_graph(TEXT, initializers={"w": np.ones(3, np.float32), "s": np.zeros(3, np.float32)})
    verify(g)
    return g


def _msg(g):
    with pytest.raises(VerifyError) as info:
        verify(g)
    return str(info.value)


def _marked(msg):
    return [ln for ln in msg.splitlines() if ln.startswith(">> ")]


def test_duplicate_node_output_name(g):
    g.value("c").name = "a"
    msg = _msg(g)
    assert "%a is defined twice (SSA)" in msg
    assert _marked(msg) == [">>   %a: f32[3] = ReduceSum(%b) {axes=[0], keepdims=0}"]


def test_duplicate_input_name(g):
    g.param("w").name = "x"
    msg = _msg(g)
    assert "%x is defined twice" in msg and _marked(msg) == [">>   param %x: f32[3]"]


def test_use_before_definition(g):
    g.nodes[0], g.nodes[1] = g.nodes[1], g.nodes[0]
    msg = _msg(g)
    assert "operand 0 of Exp, %a, is not defined before its use" in msg
    assert _marked(msg) == [">>   %b: f32[N,3] = Exp(%a)"]
    assert "  %a: f32[N,3] = Mul(%x, %w)" in msg  # the lines around it are shown


def test_use_list_missing_a_use(g):
    a = g.value("a")
    a.uses.clear()
    msg = _msg(g)
    assert "%a is operand 0 of b but its use-list does not say so" in msg
    assert _marked(msg) == [">>   %b: f32[N,3] = Exp(%a)"]


def test_use_list_with_a_stale_use(g):
    b = g.value("b").producer
    g.value("x").uses.append((b, 0))  # says x is operand 0 of b; it is %a
    msg = _msg(g)
    assert "%x lists a use as operand 0 of b, which is another value" in msg


def test_use_list_naming_a_removed_node(g):
    g2 = Graph("other")
    ghost = Emitter(g2).Exp(g2.add_input("y", TensorType((1,), "f32"))).producer
    g.value("x").uses.append((ghost, 0))
    assert "lists a use by a node that is not in the graph (Exp)" in _msg(g)


def test_wrong_recorded_type(g):
    g.value("b").type = TensorType(("N", 4), "f32")
    msg = _msg(g)
    assert "Exp infers type f32[N,3] but the node records f32[N,4]" in msg
    assert _marked(msg) == [">>   %b: f32[N,4] = Exp(%a)"]


def test_operands_the_op_rejects(g):
    g.value("x").type = TensorType(("N", 4), "f32")  # then Mul(f32[N,4], f32[3]) is ill-typed
    msg = _msg(g)
    assert "Mul rejects its operands: cannot broadcast" in msg
    assert _marked(msg) == [">>   %a: f32[N,3] = Mul(%x, %w)"]


def test_undefined_output(g):
    g.outputs.append(Value("ghost", TensorType((3,), "f32")))
    msg = _msg(g)
    assert "output %ghost is not defined in the graph" in msg
    assert _marked(msg) == [">>   return %d, %ghost"]


def test_update_of_a_non_parameter(g):
    g.updates.append((g.value("x"), g.value("a")))
    msg = _msg(g)
    assert "update target %x is not a parameter of the graph" in msg
    assert _marked(msg) == [">>   update %x <- %a"]


def test_update_changing_the_type(g):
    g.updates[0] = (g.param("s"), g.value("b"))
    msg = _msg(g)
    assert "update of %s: f32[3] would become f32[N,3]" in msg
    assert _marked(msg) == [">>   update %s <- %b"]


def test_update_value_undefined(g):
    g.updates[0] = (g.param("s"), Value("d2", TensorType((3,), "f32")))
    assert "update value %d2 is not defined in the graph" in _msg(g)


def test_parameter_array_of_the_wrong_type(g):
    g.initializers["w"] = np.ones(4, np.float64)
    msg = _msg(g)
    assert "parameter %w is declared f32[3] but its array is float64[4]" in msg
    assert _marked(msg) == [">>   param %w: f32[3]"]


def test_producer_mismatch(g):
    g.value("b").index = 1
    assert "%b does not record Exp as its producer" in _msg(g)


def test_node_of_another_graph(g):
    g.nodes[0].graph = None
    assert "node a does not point back to this graph" in _msg(g)


def test_message_names_the_graph(g):
    g.value("b").type = TensorType(("N", 4), "f32")
    assert _msg(g).startswith("graph v: ")


def test_wrong_arity_missing_attribute_or_output_count(g):
    """A node built by hand with too few operands or without an attribute: a VerifyError naming
    it, not the IndexError/KeyError of its type rule (or of its kernel later)."""
    from chainrule.ir import OPS, Node
    h = Graph("h")
    x = h.add_input("x", TensorType((2, 3), "f32"))
    h.add_node(Node(OPS["Add"], [x]), [x.type], ["y"])
    msg = _msg(h)
    assert "Add takes 2 inputs, got 1" in msg and _marked(msg) == [">>   %y: f32[2,3] = Add(%x)"]
    h = Graph("h")
    x = h.add_input("x", TensorType((2, 3), "f32"))
    h.add_node(Node(OPS["Softmax"], [x]), [x.type], ["y"])
    assert "Softmax node lacks attribute(s) axis" in _msg(h)
    h = Graph("h")
    x = h.add_input("x", TensorType((2, 3), "f32"))
    h.add_node(Node(OPS["Exp"], [x]), [x.type, x.type], ["y", "z"])
    assert "Exp makes 1 result(s), the node has 2" in _msg(h)
