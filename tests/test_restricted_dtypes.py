"""The restricted element types (``ir/types.py`` ``RESTRICTED``): ``bf16`` is stored, moved and
cast, ``str`` compared by Equal; every op that does not name them in ``Op.takes`` refuses them
before its type rule runs, so no kernel ever meets one it was not written for.

Also the 16-, 32- and 64-bit integer types that are ordinary dtypes (i16, u16, u32, u64): they
compute like the other integers.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.ir import DType, Emitter, Graph, TensorType
from chainrule.ir.ops import OPS
from chainrule.ir.types import RESTRICTED

BF16 = DType.bf16.numpy


def _bits_rne(x):
    """float32 -> bfloat16 bits, rounding to nearest even, from the bits alone (no ml_dtypes)."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def test_only_the_ops_that_name_a_restricted_type_take_it():
    takers = {name: sorted(t.value for t in op.takes) for name, op in OPS.items() if op.takes}
    assert takers["Cast"] == ["bf16"] and takers["Equal"] == ["str"] and takers["Constant"] == ["bf16", "str"]
    assert all(set(op.takes) <= set(RESTRICTED) for op in OPS.values())
    g = Graph("g")
    s, b = g.add_input("s", TensorType((3,), DType.str)), g.add_input("b", TensorType((3,), DType.bf16))
    e = Emitter(g)
    for opname, args, words in [("Add", (s, s), r"Add does not take str operands, got str\[3\]"),
                                ("Identity", (s,), "Identity does not take str operands"),
                                ("Exp", (b,), "Exp does not take bf16 operands"),
                                ("Mul", (b, b), "Cast them to f32 to compute")]:
        with pytest.raises(cr.ChainruleError, match=words):
            e.emit(opname, args, {})
    with pytest.raises(cr.ChainruleError, match="OneHot does not take bf16 results"):
        e.emit("OneHot", [g.add_input("i", TensorType((3,), DType.i64))], {"depth": 2, "dtype": DType.bf16})


def test_cast_to_bfloat16_rounds_to_nearest_even():
    one = np.float32(1.0)
    ulp = np.float32(2.0 ** -7)  # bfloat16's spacing at 1
    x = np.array([one + ulp / 2, one + 3 * ulp / 2, -(one + ulp / 2), 0.1, 3.0e38, -1.5e-39, 0.0], np.float32)
    g = Graph("g")
    v = g.add_input("x", TensorType(x.shape, DType.f32))
    e = Emitter(g)
    y = e.Cast(v, to=DType.bf16)
    g.set_outputs([y, e.Cast(y, to=DType.f32)])
    got, back = cr.Interpreter(g).run_list([x])
    assert got.dtype == BF16 and np.array_equal(got.view(np.uint16), _bits_rne(x))
    assert back[0] == 1.0 and back[1] == one + 2 * ulp  # the ties went to the even neighbour


def test_bfloat16_values_print_parse_move_and_export():
    text = ("graph g {\n  input %x: f32[2,3]\n  %c: bf16[3] = Constant() {value=dense<bf16[3]>[0.5, -2.0, 0.100098]}\n"
            "  %b: bf16[2,3] = Cast(%x) {to=bf16}\n  %t: bf16[3,2] = Transpose(%b)\n"
            "  %r: bf16[6] = Reshape(%t) {shape=[6]}\n  %k: bf16[9] = Concat(%r, %c)\n"
            "  %y: f32[9] = Cast(%k)\n  return %y\n}\n")
    g = cr.parse_graph(text)
    assert cr.print_graph(g) == text and g.nodes[0].attrs["value"].dtype == BF16
    x = np.array([[1.0, 2.5, -3.3], [0.1, 7.0, 1e-3]], np.float32)
    got = cr.compile(g)(x)
    want = np.concatenate([x.astype(BF16).T.reshape(6), np.array([0.5, -2.0, 0.100098], BF16)]).astype(np.float32)
    assert np.array_equal(got, want)
    m = cr.export_onnx(g)
    onnx.checker.check_model(m, full_check=True)
    ort = pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.array_equal(sess.run(None, {"x": x})[0], got)
    assert str(cr.import_onnx(m)) == str(g)


def test_a_bfloat16_initializer_reads_exactly_from_its_bits_and_from_raw_data():
    want = np.array([1.5, -0.1, 3.0e38], BF16)
    bits = want.view(np.uint16).astype(np.int32)
    for t in (TensorProto(name="w", data_type=TensorProto.BFLOAT16, dims=[3], int32_data=bits.tolist()),
              TensorProto(name="w", data_type=TensorProto.BFLOAT16, dims=[3], raw_data=want.tobytes())):
        nodes = [helper.make_node("Cast", ["w"], ["y"], to=TensorProto.FLOAT)]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], initializer=[t])
        got = cr.compile(cr.import_onnx(helper.make_model(g)))(np.zeros(1, np.float32))
        assert np.array_equal(got, want.astype(np.float32))


def test_a_nonfinite_bfloat16_initializer_is_refused_as_a_float_one_is():
    t = numpy_helper.from_array(np.array([1.0, np.nan], BF16), "w")
    g = helper.make_graph([helper.make_node("Cast", ["w"], ["y"], to=TensorProto.FLOAT)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], initializer=[t])
    with pytest.raises(cr.ChainruleError, match="initializer 'w' holds 1 non-finite value"):
        cr.import_onnx(helper.make_model(g))
    assert np.isnan(cr.compile(cr.import_onnx(helper.make_model(g), allow_nonfinite=True))(np.zeros(1, np.float32))[1])


def test_strings_are_compared_by_equal_with_broadcasting():
    text = ("graph g {\n  input %a: str[N]\n  %c: str[1] = Constant() {value=dense<str[1]>[\"bé\"]}\n"
            "  %y: bool[N] = Equal(%a, %c)\n  %n: bool[N] = Not(%y)\n  return %n\n}\n")
    g = cr.parse_graph(text)
    assert cr.print_graph(g) == text
    a = np.array(["a", "bé", "c", "bé"], dtype=object)
    exe = cr.compile(g)  # the default pipeline: Equal of strings is not fused
    assert exe(a).tolist() == [True, False, True, False]
    assert "bad dense data: a str tensor holds strings" in str(pytest.raises(
        cr.ChainruleError, cr.parse_graph, text.replace('["bé"]', "[7]")).value)


def test_an_onnx_equal_of_string_inputs_imports_and_runs():
    g = helper.make_graph([helper.make_node("Equal", ["x", "y"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.STRING, [3]),
                           helper.make_tensor_value_info("y", TensorProto.STRING, [1])],
                          [helper.make_tensor_value_info("z", TensorProto.BOOL, [3])])
    exe = cr.compile(cr.import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])))
    got = exe.run({"x": np.array(["cat", "dog", "cat"], dtype=object), "y": np.array(["cat"], dtype=object)})
    assert got["z"].tolist() == [True, False, True]


def test_a_string_constant_node_may_only_feed_equal():
    value = numpy_helper.from_array(np.array(["a"], dtype=object), "v")
    nodes = [helper.make_node("Constant", [], ["c"], value=value), helper.make_node("Concat", ["c", "c"], ["y"], axis=0)]
    g = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("y", TensorProto.STRING, [2])])
    with pytest.raises(cr.ChainruleError, match=r"node '#1' \(Concat\): Concat does not take str operands"):
        cr.import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]))


@pytest.mark.parametrize("dt", ["i16", "u16", "u32", "u64"])
def test_the_wider_integer_types_compute_like_the_other_integers(dt):
    npd = DType[dt].numpy
    hi = np.iinfo(npd).max
    a, b = np.array([hi, 7, 0], npd), np.array([2, 2, 5], npd)
    text = (f"graph g {{\n  input %a: {dt}[3]\n  input %b: {dt}[3]\n  %q: {dt}[3] = Div(%a, %b)\n"
            f"  %m: {dt}[3] = Mod(%a, %b)\n  %s: {dt}[3] = Max(%q, %m)\n  %c: bool[3] = Less(%q, %a)\n"
            f"  %i: i64[] = ArgMax(%a) {{axis=0, keepdims=0}}\n  return %s, %c, %i\n}}\n")
    s, c, i = cr.Interpreter(cr.parse_graph(text)).run_list([a, b])
    assert s.dtype == npd and s.tolist() == [max(int(hi) // 2, int(hi) % 2), 3, 0]
    assert c.tolist() == [True, True, False] and int(i) == 0
