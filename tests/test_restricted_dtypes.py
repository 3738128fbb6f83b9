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
from chainrule.ir.types import RESTRICTED, STORAGE

BF16 = DType.bf16.numpy


def _bits_rne(x):
    """float32 -> bfloat16 bits, rounding to nearest even, from the bits alone (no ml_dtypes)."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def test_only_the_ops_that_name_a_restricted_type_take_it():
    takers = {name: sorted(t.value for t in op.takes) for name, op in OPS.items() if op.takes}
    assert set(takers["Cast"]) == {t.value for t in STORAGE} and takers["Equal"] == ["str"]
    assert set(takers["Constant"]) == {t.value for t in STORAGE} | {"str"}
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


# -- the narrow number formats: float8, float4, int4, int2 ---------------------------------------
def _cast(x, to, **attrs):
    g = Graph("g")
    v = g.add_input("x", TensorType(x.shape, DType.of(x.dtype)))
    g.set_outputs([Emitter(g).Cast(v, to=DType[to], **attrs)])
    return cr.Interpreter(g).run_list([x])[0]


def _values(dt):
    """Every finite value of a one-byte format, from its 256 bit patterns."""
    v = np.arange(256, dtype=np.uint8).view(DType[dt].numpy).astype(np.float64)
    return np.unique(v[np.isfinite(v)])


@pytest.mark.parametrize("dt", ["f8e4m3fn", "f8e4m3fnuz", "f8e5m2", "f8e5m2fnuz"])
def test_cast_to_float8_rounds_to_the_nearest_value_and_saturates(dt):
    vals = _values(dt)
    top = vals.max()
    x = np.concatenate([np.random.default_rng(1).uniform(-top, top, 500), [top * 4, -top * 4, np.inf, -np.inf, np.nan]])
    x = x.astype(np.float32)
    got = _cast(x, dt).astype(np.float64)
    assert got.dtype == np.float64 and np.isnan(got[-1])
    assert got[-5:-1].tolist() == [top, -top, top, -top]  # saturated
    err = np.abs(got[:-5] - x[:-5].astype(np.float64))
    best = np.min(np.abs(vals[None, :] - x[:-5, None].astype(np.float64)), axis=1)
    assert np.array_equal(err, best)  # no representable value is nearer
    wild = _cast(x[-5:-3], dt, saturate=0).astype(np.float64)  # overflow as the format does
    assert (np.isinf(wild) if dt == "f8e5m2" else np.isnan(wild)).all()


@pytest.mark.parametrize("mode", ["up", "down", "nearest"])
def test_cast_to_e8m0_rounds_the_exponent(mode):
    x = np.array([1.0, 1.5, 1.75, 3.0, 0.3, 2.0 ** -130, 2.0 ** 127 * 1.5, np.inf, np.nan, -4.0], np.float32)
    got = _cast(x, "f8e8m0", round_mode=mode).astype(np.float64)
    m, e = np.frexp(np.abs(x[:7].astype(np.float64)))  # |x| = m · 2^e, 0.5 <= m < 1
    low = np.exp2(e - 1)
    want = {"down": low, "up": np.where(m == 0.5, low, 2 * low),  # nearest: a half goes up
            "nearest": np.where(m >= 0.75, 2 * low, low)}[mode]
    # a float32 subnormal has exponent bits 0, 2^-127, and a mantissa left over: up moves it to 2^-126
    want[5] = {"down": 2.0 ** -127, "up": 2.0 ** -126, "nearest": 2.0 ** -127}[mode]
    want[6] = 2.0 ** 127  # 1.5 · 2^127 saturates at 2^127 whatever the mode
    np.testing.assert_array_equal(got[:7], want)
    assert np.isnan(got[7:9]).all() and got[9] == 4.0  # no sign: |x|
    over = _cast(x[6:7], "f8e8m0", round_mode="up", saturate=0).astype(np.float64)
    assert np.isnan(over).all()


@pytest.mark.parametrize("dt, lo, hi", [("i4", -8, 7), ("u4", 0, 15), ("i2", -2, 1), ("u2", 0, 3)])
def test_packed_integers_read_from_raw_typed_and_external_data_and_parse_in_range(dt, lo, hi, tmp_path):
    code = TensorProto.DataType.Value({"i4": "INT4", "u4": "UINT4", "i2": "INT2", "u2": "UINT2"}[dt])
    want = np.array([lo, hi, 0, 1, lo, hi, 1], DType[dt].numpy)
    packed = numpy_helper.from_array(want, "w")
    typed = helper.make_tensor("w", code, [7], want.astype(np.int64).tolist())
    with open(tmp_path / "w.bin", "wb") as f:
        f.write(packed.raw_data)
    external = TensorProto(name="w", data_type=code, dims=[7], data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "w.bin"), ("length", str(len(packed.raw_data)))):
        entry = external.external_data.add()
        entry.key, entry.value = k, v
    for t in (packed, typed, external):
        g = helper.make_graph([helper.make_node("Cast", ["w"], ["y"], to=TensorProto.INT64)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [7])], initializer=[t])
        got = cr.compile(cr.import_onnx(helper.make_model(g), base_dir=str(tmp_path)))(np.zeros(1, np.float32))
        assert got.tolist() == want.astype(np.int64).tolist()
    short = TensorProto(name="w", data_type=code, dims=[7], raw_data=packed.raw_data[:-1])
    g = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [], [], initializer=[short])
    with pytest.raises(cr.ChainruleError, match=rf"initializer 'w': {TensorProto.DataType.Name(code)} data of dims"):
        cr.import_onnx(helper.make_model(g))
    text = f"graph g {{\n  %c: {dt}[2] = Constant() {{value=dense<{dt}[2]>[{lo}, {hi}]}}\n  return %c\n}}\n"
    assert cr.print_graph(cr.parse_graph(text)) == text
    assert f"{hi + 1} is outside the range of {dt}" in str(pytest.raises(
        cr.ChainruleError, cr.parse_graph, text.replace(f", {hi}]", f", {hi + 1}]")).value)


def test_a_float8_graph_exports_from_the_opset_that_has_float8_and_runs_in_onnxruntime():
    text = ("graph g {\n  input %x: f32[6]\n  %a: f8e4m3fn[6] = Cast(%x) {to=f8e4m3fn}\n"
            "  %b: f8e5m2[6] = Cast(%x) {saturate=0, to=f8e5m2}\n  %y: f32[6] = Cast(%a)\n  %z: f32[6] = Cast(%b)\n"
            "  return %y, %z\n}\n")
    g = cr.parse_graph(text)
    assert cr.print_graph(g) == text
    with pytest.raises(cr.ChainruleError, match=r"%a is f8e4m3fn\[6\], an element type ONNX's ops take from opset 19"):
        cr.export_onnx(g)
    m = cr.export_onnx(g, opset=19)
    onnx.checker.check_model(m, full_check=True)
    x = np.array([0.3, -1000.0, 1e5, np.inf, 17.0, -0.01], np.float32)
    ort = pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for a, b in zip(cr.Interpreter(g).run_list([x]), want):
        np.testing.assert_array_equal(a, b)


def test_the_numba_backend_leaves_the_restricted_types_to_their_numpy_kernels():
    pytest.importorskip("numba", reason="pip install chainrule[numba]")
    text = ("graph g {\n  input %x: f32[2,3]\n  input %s: str[3]\n  input %c: str[1]\n"
            "  %b: bf16[2,3] = Cast(%x) {to=bf16}\n  %t: bf16[3,2] = Transpose(%b)\n  %q: f8e4m3fn[3,2] = Cast(%t) {to=f8e4m3fn}\n"
            "  %y: f32[3,2] = Cast(%q)\n  %z: f32[3,2] = Exp(%y)\n  %e: bool[3] = Equal(%s, %c)\n  %n: bool[3] = Not(%e)\n"
            "  return %z, %n\n}\n")
    x = np.array([[0.1, 1000.0, -3.3], [2.0, -0.5, 7.0]], np.float32)
    s, c = np.array(["a", "b", "c"], dtype=object), np.array(["b"], dtype=object)
    want = cr.Interpreter(cr.parse_graph(text)).run_list([x, s, c])
    got = cr.compile(cr.parse_graph(text), backend="numba")(x, s, c)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)  # numba's exp is not NumPy's to the last bit
    np.testing.assert_array_equal(got[1], want[1])
