"""Broken and hostile ONNX files: each gives an OnnxImportError naming the file, node, op and reason.

Every file is built here. Nothing is read outside the model's folder.
"""
import os

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.onnx.importer import OnnxImportError


def _model(nodes, inputs=(("x", [2, 3]),), outputs=(("y", [2, 3]),), inits=(), opset=18, ir=9, dtype=TensorProto.FLOAT):
    g = helper.make_graph(list(nodes), "g", [helper.make_tensor_value_info(n, dtype, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, dtype, s) for n, s in outputs], initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)


def _write(tmp_path, m, name="model.onnx"):
    p = tmp_path / name
    p.write_bytes(m.SerializeToString() if not isinstance(m, bytes) else m)
    return str(p)


def _err(model, *parts):
    with pytest.raises(OnnxImportError) as info:
        cr.import_onnx(model)
    msg = str(info.value)
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    return msg


def _tp(name, dims, floats=()):
    """A float TensorProto built field by field (onnx.helper refuses inconsistent ones)."""
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
    t.float_data.extend(floats)
    return t


RELU = helper.make_node("Relu", ["x"], ["y"], name="r")


def test_empty_random_truncated_and_text_files(tmp_path):
    good = _model([RELU]).SerializeToString()
    _err(_write(tmp_path, b"", "empty.onnx"), "empty.onnx", "empty")
    _err(_write(tmp_path, np.random.default_rng(0).bytes(4000), "random.onnx"), "random.onnx", "not")
    _err(_write(tmp_path, good[: len(good) // 2], "cut.onnx"), "cut.onnx")
    _err(_write(tmp_path, b"graph main {\n  input %x: f32[2]\n}\n", "text.onnx"), "text.onnx")
    _err(str(tmp_path / "nothere.onnx"), "no such file")
    _err(str(tmp_path), "is not a regular file (it is a folder)")


def test_wiring_errors():
    _err(_model([helper.make_node("Relu", ["a"], ["y"], name="r")]), "node 'r' (Relu)", "'a'", "no node")
    _err(_model([helper.make_node("Relu", ["x"], ["y"], name="r1"), helper.make_node("Relu", ["x"], ["y"], name="r2")]),
         "two nodes write tensor 'y'", "r1", "r2")
    _err(_model([helper.make_node("Relu", ["x"], ["z"], name="r")]), "graph output 'y'", "produced by no node")
    cyc = [helper.make_node("Add", ["x", "b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
           helper.make_node("Relu", ["a"], ["y"], name="n3")]
    _err(_model(cyc), "cycle", "n1")


def test_unknown_op_domain_and_versions():
    msg = _err(_model([helper.make_node("Frobnicate", ["x"], ["y"], name="f")]), "node 'f' (Frobnicate)",
               "not supported", "Gemm")
    assert "Relu" in msg  # the supported list is given
    _err(_model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.acme")]), "domain 'com.acme'")
    _err(_model([RELU], opset=99), "opset 99 is not supported")
    add = helper.make_node("Add", ["x", "x"], ["y"], name="a")  # broadcasting was an attribute before opset 7
    _err(_model([add], opset=6), "node 'a' (Add)", "Add of opset 6 is not supported", "from opset 7 on")
    assert "Relu" in str(cr.import_onnx(_model([RELU], opset=3)))  # Relu has not changed since opset 1
    _err(_model([RELU], ir=99), "IR version 99")


def test_bad_attributes():
    _err(_model([helper.make_node("LeakyRelu", ["x"], ["y"], name="l", alpha="big")]),
         "node 'l' (LeakyRelu)", "attribute 'alpha'", "FLOAT")
    _err(_model([helper.make_node("Relu", ["x"], ["y"], name="r", colour=3)]), "unknown attribute 'colour'")
    _err(_model([helper.make_node("Cast", ["x"], ["y"], name="c", to=TensorProto.STRING)]), "node 'c' (Cast)",
         "Cast does not take str results", "strings are compared by Equal")
    _err(_model([helper.make_node("Cast", ["x"], ["y"], name="c", to=TensorProto.COMPLEX64)]), "COMPLEX64")


def test_shape_and_type_mismatches():
    _err(_model([helper.make_node("MatMul", ["x", "x"], ["y"], name="mm")]), "node 'mm' (MatMul)", "inner dimensions")
    _err(_model([RELU], outputs=(("y", [2, 4]),)), "graph output 'y'", "shape")
    m = _model([helper.make_node("Cast", ["x"], ["y"], name="c", to=TensorProto.INT64)])
    _err(m, "graph output 'y'", "declared FLOAT")


def _init_model(t):
    return _model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[t])


def test_raw_data_size_mismatch_and_huge_tensors():
    t = numpy_helper.from_array(np.ones((2, 3), np.float32), "w")
    t.raw_data = t.raw_data[:-4]
    _err(_init_model(t), "initializer 'w'", "raw_data has 20 bytes", "need 24")
    t = _tp("w", [2, 3], [1.0] * 5)
    _err(_init_model(t), "initializer 'w'", "float_data has 5 values")
    t = _tp("w", [1 << 20, 1 << 20])
    _err(_init_model(t), "initializer 'w'", "exceeds the limit")
    small = numpy_helper.from_array(np.ones((2, 3), np.float32), "w")
    with pytest.raises(OnnxImportError, match="exceeds the limit of 16 bytes"):
        cr.import_onnx(_init_model(small), max_tensor_bytes=16)


def _external(tmp_path, location, offset=0, length=24, make_file=True):
    t = _tp("w", [2, 3])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    d = tmp_path / "model"
    d.mkdir(exist_ok=True)
    if make_file:
        (d / "w.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    return _write(d, _init_model(t))


def test_external_data_inside_the_folder_loads(tmp_path):
    g = cr.import_onnx(_external(tmp_path, "w.bin"))
    np.testing.assert_array_equal(g.initializers["w"], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_external_data_that_leaves_the_folder_is_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"s" * 24)
    _err(_external(tmp_path, "../secret.bin"), "'..'")
    _err(_external(tmp_path, str(secret)), "absolute path")
    d = tmp_path / "model"
    os.symlink(secret, d / "link.bin")
    _err(_external(tmp_path, "link.bin"), "symbolic link")
    os.link(secret, d / "hard.bin")
    _err(_external(tmp_path, "hard.bin"), "hard links")
    _err(_external(tmp_path, "nothere.bin"), "does not exist")
    _err(_external(tmp_path, "w.bin", offset=16), "past the end")
    _err(_external(tmp_path, "w.bin", length=20), "needs 24 bytes")
    with pytest.raises(OnnxImportError, match="needs the model's folder"):
        from onnx import load_model_from_string
        cr.import_onnx(load_model_from_string(open(_external(tmp_path, "w.bin"), "rb").read()))


def test_unsupported_value_kinds_and_computed_shapes():
    # a shape holding a symbolic dimension folds at import, but not into arithmetic or a float
    m = _model([helper.make_node("Shape", ["x"], ["s"], name="sh"),
                helper.make_node("Mul", ["s", "s"], ["y"], name="mul")], inputs=(("x", ["N", 3]),),
               outputs=(("y", [2]),))
    _err(m, "node 'mul' (Mul)", "input 's' is the shape value [N, 3]", "symbolic dimensions")
    m = _model([helper.make_node("Shape", ["x"], ["s"], name="sh"),
                helper.make_node("Cast", ["s"], ["y"], name="c", to=TensorProto.FLOAT)], inputs=(("x", ["N", 3]),),
               outputs=(("y", [2]),))
    _err(m, "node 'c' (Cast)", "Cast of the symbolic shape value 's' [N, 3] to f32")
    m = _model([helper.make_node("Shape", ["x"], ["y"], name="sh")], inputs=(("x", ["N", 3]),), outputs=(("y", [2]),))
    _err(m, "graph output 'y' is the shape value [N, 3]")
    g = helper.make_graph([RELU], "g", [helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    _err(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), "not a tensor")


def test_a_nul_in_an_external_data_location_is_an_import_error(tmp_path):
    """It gave a raw ValueError ("embedded null byte") from os.stat."""
    msg = _err(_external(tmp_path, "w\0.bin"), "initializer 'w'", "external data location", "NUL")
    assert "\n" not in msg


def _meta_node(op, attrs, inputs='["x"]'):
    n = helper.make_node("Relu", ["x"], ["y"], name="r")
    for k, v in (("op", op), ("attrs", attrs), ("inputs", inputs), ("output", "y")):
        p = n.metadata_props.add()
        p.key, p.value = f"chainrule.{k}", v
    return _model([n])


@pytest.mark.parametrize("op, attrs, words", [
    ("Softmax", '{"axis": "abc"}', ["attribute 'axis' of Softmax must be an integer, got 'abc'"]),
    ("LeakyRelu", '{"alpha": "abc"}', ["attribute 'alpha' of LeakyRelu must be a number", "'abc'"]),
    ("LeakyRelu", '{"alpha": true}', ["attribute 'alpha' of LeakyRelu must be a number", "True"]),
    ("OneHot", '{"depth": 2.5}', ["attribute 'depth' of OneHot must be an integer", "2.5"]),
    ("SoftmaxCrossEntropy", '{"reduction": 3}', ["attribute 'reduction' of SoftmaxCrossEntropy must be a string"]),
    ("OneHot", '{"dtype": "f32"}', ["attribute 'dtype' of OneHot must be a dtype"]),
    ("Relu", '{"colour": 1}', ["Relu has no attribute 'colour'"]),
])
def test_chainrule_metadata_attributes_of_the_wrong_type_are_one_line_import_errors(op, attrs, words):
    """``{"alpha": "abc"}`` imported and then failed at run time with a ValueError from the kernel."""
    msg = _err(_meta_node(op, attrs), "node 'r' (Relu)", *words)
    assert "\n" not in msg
