"""The IR core: types with symbolic dimensions, values and use-lists, graph mutation that
keeps use-lists consistent (and refuses to break them), naming, cloning, the Emitter."""
import numpy as np
import pytest

from chainrule.ir import (OPS, DType, Emitter, Graph, GraphError, IRTypeError, TensorType,
                          UnsupportedOpError, get_op, print_graph, verify)


def test_types_print_and_validate():
    t = TensorType(("N", 784), "f32")
    assert str(t) == "f32[N,784]" and t.rank == 2 and not t.is_static
    assert t.numel({"N": 2}) == 1568 and t.numel() is None and t.nbytes({"N": 1}) == 784 * 4
    assert TensorType((np.int64(3),), DType.f64).shape == (3,)
    assert DType.of(np.zeros(1, np.int32)) is DType.i32 and DType.of("bool") is DType.bool
    with pytest.raises(IRTypeError, match="negative dimension"):
        TensorType((-1,), "f32")
    with pytest.raises(IRTypeError, match="neither an int nor a symbol"):
        TensorType(("2x",), "f32")
    with pytest.raises(IRTypeError, match="unsupported dtype complex128"):
        DType.of(np.complex128)  # regression: the class np.complex128 raised a raw NumPy TypeError
    with pytest.raises(IRTypeError, match="'f33' is not a dtype; supported: f16, f32"):
        DType.of("f33")
    assert DType.of(np.float32) is DType.f32 and DType.of("float64") is DType.f64


def test_symbolic_batch_flows_through_inference():
    g = Graph()
    x = g.add_input("x", TensorType(("N", 784), "f32"))
    w = g.add_param("w", np.zeros((256, 784), np.float32))
    e = Emitter(g)
    y = e.ReduceSum(e.Relu(e.Gemm(x, w, transB=1)), axes=(1,), keepdims=0)
    assert str(y.type) == "f32[N]"
    with pytest.raises(IRTypeError, match="cannot broadcast"):
        e.Add(x, g.add_input("z", TensorType(("M", 784), "f32")))


def _small():
    g = Graph("s")
    x = g.add_input("x", TensorType((2,), "f32"))
    e = Emitter(g)
    a = e.Exp(x)
    b = e.Mul(a, a)
    g.set_outputs([b])
    return g, x, a, b


def test_uses_are_node_and_operand_index():
    g, x, a, b = _small()
    assert a.uses == [(b.producer, 0), (b.producer, 1)]  # x*x style: two uses, one consumer
    assert a.consumers == [b.producer] and a.producer.outputs == [a]
    verify(g)


def test_replace_all_uses_with_keeps_use_lists_and_outputs():
    g, x, a, b = _small()
    s = Emitter(g, before=b.producer).Sin(x)
    a.replace_all_uses_with(s)
    assert a.uses == [] and s.uses == [(b.producer, 0), (b.producer, 1)]
    b.replace_all_uses_with(s)
    assert g.outputs == [s]
    verify(g)


def test_remove_node_refuses_to_break_users():
    g, x, a, b = _small()
    with pytest.raises(GraphError, match=r"cannot remove node exp \(Exp\): %exp is still used by mul"):
        g.remove_node(a.producer)
    with pytest.raises(GraphError, match="is a graph output"):
        g.remove_node(b.producer)
    with pytest.raises(GraphError, match="still used"):
        g.remove_nodes([a.producer])
    g.set_outputs([a])
    g.remove_node(b.producer)
    assert a.uses == [] and [n.name for n in g.nodes] == ["exp"]
    verify(g)


def test_remove_nodes_frees_names_and_use_lists():
    g, x, a, b = _small()
    g.set_outputs([])
    g.remove_nodes([b.producer, a.producer])
    assert g.nodes == [] and x.uses == []
    assert Emitter(g).Exp(x).name == "exp"  # the name is free again


def test_names_are_unique_and_deterministic():
    g = Graph()
    assert [g.unique_name("t") for _ in range(3)] == ["t", "t.1", "t.2"]
    x = g.add_input("x", TensorType((1,), "f32"))
    with pytest.raises(GraphError, match="already has a value named 'x'"):
        g.add_input("x", TensorType((1,), "f32"))
    e = Emitter(g)
    vs = [e.Neg(x) for _ in range(3)]
    assert [v.name for v in vs] == ["neg", "neg.1", "neg.2"]
    g.rename(vs[0], "y")
    assert vs[0].name == "y" and e.Neg(x).name == "neg"


def test_clone_is_deep_but_shares_arrays():
    g = Graph("c")
    x = g.add_input("x", TensorType((2,), "f32"))
    w = g.add_param("w", np.ones(2, np.float32))
    s = g.add_param("s", np.zeros(2, np.float32), kind="state")
    y = Emitter(g).Add(x, w)
    g.set_outputs([y])
    g.add_update(s, y)
    c = g.clone()
    assert print_graph(c) == print_graph(g)
    assert c.initializers["w"] is g.initializers["w"]
    assert c.value("add") is not y and c.value("add").uses == [] and len(y.uses) == 0
    Emitter(c).Exp(c.value("add"))
    assert len(c.nodes) == 2 and len(g.nodes) == 1
    verify(c)


def test_graph_mutation_errors():
    g, x, a, b = _small()
    other = Graph("o")
    z = other.add_input("z", TensorType((2,), "f32"))
    with pytest.raises(GraphError, match="belongs to another graph"):
        Emitter(g).Exp(z)
    with pytest.raises(GraphError, match="only parameters and state can be updated"):
        g.add_update(x, b)
    with pytest.raises(GraphError, match="kind must be 'param' or 'state'"):
        g.add_param("p", np.ones(1), kind="buffer")
    with pytest.raises(GraphError, match="needs an array or a type"):
        g.add_param("p")
    with pytest.raises(GraphError, match="has no parameter 'q'; parameters: \\(none\\)"):
        g.param("q")
    with pytest.raises(GraphError, match="no value named 'q'"):
        g.value("q")
    with pytest.raises(GraphError, match="already in a graph"):
        g.add_node(a.producer, [a.type], ["again"])


def test_emitter_checks_ops_arity_attrs_and_operands():
    g, x, a, b = _small()
    e = Emitter(g)
    with pytest.raises(UnsupportedOpError, match="unknown op 'Frob'; supported ops: .* Add, "):
        e.Frob(x)
    with pytest.raises(IRTypeError, match="Exp takes 1 inputs, got 2"):
        e.Exp(x, x)
    with pytest.raises(IRTypeError, match="Softmax has no attribute 'dim' \\(its attributes: axis\\)"):
        e.Softmax(x, dim=0)
    with pytest.raises(IRTypeError, match="input 0 of Exp is a ndarray, not an IR value"):
        e.Exp(np.ones(2))
    with pytest.raises(IRTypeError, match=r"Log needs a float operand.*\(in Log\(%i: i64\[2\]\)\)"):
        e.Log(g.add_input("i", TensorType((2,), "i64")))
    assert get_op("Exp") is OPS["Exp"]


def test_emitter_records_provenance():
    g, x, a, b = _small()
    v = Emitter(g, created_by="mypass", phase="backward", grad_of="exp", rule="x̄ = ȳ").Neg(b)
    p = v.producer.prov
    assert (p.created_by, p.phase, p.grad_of, p.rule) == ("mypass", "backward", "exp", "x̄ = ȳ")
    assert a.producer.prov.created_by == "frontend" and a.producer.prov.phase == "forward"


def test_every_op_is_one_complete_class():
    for name, op in OPS.items():
        assert op.name == name and op.family
        assert type(op).infer is not type(op).__mro__[-2].infer, f"{name} has no type rule"
        assert op.__doc__, f"{name} has no docstring"


def test_type_rules_reject_what_the_kernels_cannot_run():
    """Each of these used to type-check and then crash in NumPy or give another dtype/shape."""
    def emit(opname, *types, **attrs):
        g = Graph("g")
        return Emitter(g).emit(opname, [g.add_input(f"x{i}", t) for i, t in enumerate(types)], attrs)
    scalar, flags = TensorType((), DType.f32), TensorType((3,), DType.bool)
    for opname, attrs in (("ReduceSum", {"axes": (0,)}), ("ReduceMax", {"axes": (0,)}), ("Softmax", {"axis": 0})):
        with pytest.raises(IRTypeError, match="out of range for rank 0"):
            emit(opname, scalar, **attrs)  # np.sum(x, axis=0) of a 0-d array is an AxisError
    for opname in ("Sub", "Div", "Pow"):
        with pytest.raises(IRTypeError, match=f"{opname} needs numeric operands"):
            emit(opname, flags, flags)  # NumPy: TypeError / float64 / int8
    with pytest.raises(IRTypeError, match="Neg needs a numeric operand"):
        emit("Neg", flags)
    with pytest.raises(IRTypeError, match="OneHot needs integer class indices"):
        emit("OneHot", flags, depth=3)  # eye(3)[bool mask] has the wrong shape


def test_squeeze_without_axes_needs_static_dimensions():
    """Squeeze {axes=none} of f32[N,1,3] was typed f32[N,3], but for N = 1 its kernel gave [3]."""
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 1, 3), DType.f32))
    with pytest.raises(IRTypeError, match="symbolic dimension may be 1"):
        Emitter(g).Squeeze(x)
    assert Emitter(g).Squeeze(x, axes=(1,)).type == TensorType(("N", 3), DType.f32)


def test_remove_nodes_refuses_outputs_updates_and_used_values_like_remove_node():
    g = Graph("g")
    x = g.add_input("x", TensorType((2,), DType.f32))
    w = g.add_param("w", np.ones(2, np.float32))
    e = Emitter(g)
    a = e.Exp(x)
    b = e.Neg(a)
    u = e.Mul(w, x)
    g.set_outputs([b])
    g.add_update(w, u)
    with pytest.raises(GraphError, match="%exp is still used by neg"):
        g.remove_nodes([a.producer])
    with pytest.raises(GraphError, match="%neg is a graph output"):
        g.remove_nodes([a.producer, b.producer])
    with pytest.raises(GraphError, match="%mul is a graph output"):
        g.remove_nodes([u.producer])
    assert len(g.nodes) == 3  # nothing was removed by the refused calls
