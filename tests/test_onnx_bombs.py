"""ONNX files whose sizes are bombs: a small file that asks for gigabytes.

The rule: no array is allocated from a size taken out of the file (a declared shape, a
shape input, a folded result) before that size has been checked against
``max_tensor_bytes`` and the memory limit. Each case is a one-line ``OnnxImportError``
naming the node, its op and the size, never a ``MemoryError`` or gigabytes of RSS.
"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.onnx import importer
from chainrule.frontends.onnx.importer import OnnxImportError

K = 40_000  # K x K float32 is 6.4 GB


def _model(nodes, inputs=(("x", [1]),), outputs=(("y", None),), inits=(), opset=18):
    g = helper.make_graph(list(nodes), "bomb", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                          initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def _ints(name, values):
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


def _outer(k, op="Mul"):
    """``op`` of a k x 1 and a 1 x k initializer: 8k bytes of file, 4k² bytes of result."""
    a = numpy_helper.from_array(np.ones((k, 1), np.float32), "a")
    b = numpy_helper.from_array(np.ones((1, k), np.float32), "b")
    return _model([helper.make_node(op, ["a", "b"], ["y"], name="outer")], inputs=(), inits=[a, b])


def _expand(shape, name="ex"):
    return _model([helper.make_node("Expand", ["x", "s"], ["y"], name=name)], inits=[_ints("s", shape)])


@pytest.mark.parametrize("op", ["Mul", "Add", "MatMul"])
def test_a_folding_bomb_is_refused_at_import(op):
    """A 320 KB file whose product of two initializers is 6.4 GB took 6.2 GB during import."""
    with pytest.raises(OnnxImportError) as info:
        cr.import_onnx(_outer(K, op))
    msg = str(info.value)
    assert f"node 'outer' ({op})" in msg and "f32[40000,40000]" in msg and "max_tensor_bytes" in msg
    assert "\n" not in msg


def test_folding_stops_before_a_result_over_the_fold_limit(monkeypatch):
    """With the tensor limit raised, a big constant product is left for run time, not computed."""
    calls = []
    real = cr.OPS["Mul"].kernel

    def spy(attrs):
        k = real(attrs)
        return lambda *xs: calls.append([x.shape for x in xs]) or k(*xs)
    monkeypatch.setattr(cr.OPS["Mul"], "kernel", spy)
    k = 2 * 1024  # 4M elements: more than FOLD_LIMIT, less than the raised limit
    assert k * k > importer.FOLD_LIMIT
    g = cr.import_onnx(_outer(k), max_tensor_bytes=1 << 40)
    assert [n.op.name for n in g.nodes] == ["Mul"] and calls == []


def test_an_expand_bomb_is_refused_before_allocating():
    """A 200-byte file expanding to 40000 x 40000 took 6.2 GB when compiled."""
    with pytest.raises(OnnxImportError) as info:
        cr.import_onnx(_expand([K, K]))
    msg = str(info.value)
    assert "node 'ex' (Expand)" in msg and "[40000, 40000]" in msg and "max_tensor_bytes" in msg


def test_an_expand_past_the_memory_limit_is_refused_even_with_the_tensor_limit_raised():
    """Expand to 1 TiB with max_tensor_bytes raised: the memory limit still holds (no MemoryError)."""
    with pytest.raises(OnnxImportError) as info:
        cr.import_onnx(_expand([1 << 20, 1 << 18]), max_tensor_bytes=1 << 62)
    msg = str(info.value)
    assert "node 'ex' (Expand)" in msg and "1.0 TiB" in msg and "memory limit" in msg


def test_a_dropout_mask_of_a_huge_declared_input_is_refused_before_allocating():
    m = _model([helper.make_node("Dropout", ["x"], ["y", "mask"], name="drop")], inputs=(("x", [1 << 20, 1 << 20]),),
               outputs=(("y", None),))
    m.graph.output.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, None))
    with pytest.raises(OnnxImportError, match=r"node 'drop' \(Dropout\).*1.0 TiB"):
        cr.import_onnx(m, max_tensor_bytes=1 << 62)


def test_a_slice_of_a_huge_declared_axis_makes_no_index_array_of_its_size():
    """``np.arange(n)`` of the declared axis was built to compute the slice's indices."""
    n = 1 << 40
    m = _model([helper.make_node("Slice", ["x", "b", "e"], ["y"], name="sl")], inputs=(("x", [n]),),
               inits=[_ints("b", [1]), _ints("e", [3])])
    g = cr.import_onnx(m)
    (gather,) = g.nodes[1:]
    assert gather.op.name == "Gather" and list(g.nodes[0].attrs["value"]) == [1, 2]


def _tile(reps):
    return _model([helper.make_node("Tile", ["x", "r"], ["y"], name="tile")], inputs=(("x", [1, 1]),),
                  inits=[_ints("r", reps)])


def _constant_of_shape(shape):
    return _model([helper.make_node("ConstantOfShape", ["s"], ["y"], name="fill")], inputs=(), inits=[_ints("s", shape)])


def _range(limit):
    m = _model([helper.make_node("Range", ["a", "b", "d"], ["y"], name="range")], inputs=(),
               inits=[_ints("a", 0), _ints("b", limit), _ints("d", 1)])
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64
    return m


@pytest.mark.parametrize("make,label,shape", [(lambda: _tile([K, K]), "node 'tile' (Tile)", "[40000, 40000]"),
                                              (lambda: _constant_of_shape([K, K]), "node 'fill' (ConstantOfShape)",
                                               "[40000, 40000]"),
                                              (lambda: _range(K * K), "node 'range' (Range)", "[1600000000]")])
def test_a_size_from_an_operand_is_refused_before_allocating(make, label, shape):
    """Tile's repeats, ConstantOfShape's shape and Range's count come from the file: a few bytes of
    initializer asking for gigabytes are refused at import, naming the node and the size."""
    with pytest.raises(OnnxImportError) as info:
        cr.import_onnx(make())
    msg = str(info.value)
    assert label in msg and shape in msg and "max_tensor_bytes" in msg and "\n" not in msg


@pytest.mark.parametrize("make,label", [(lambda: _tile([1 << 20, 1 << 18]), "node 'tile' (Tile)"),
                                        (lambda: _constant_of_shape([1 << 20, 1 << 18]), "node 'fill' (ConstantOfShape)"),
                                        (lambda: _range(1 << 37), "node 'range' (Range)")])
def test_a_size_from_an_operand_past_the_memory_limit_is_refused_with_the_tensor_limit_raised(make, label):
    with pytest.raises(OnnxImportError) as info:
        cr.import_onnx(make(), max_tensor_bytes=1 << 62)
    msg = str(info.value)
    assert label in msg and "1.0 TiB" in msg and "memory limit" in msg
