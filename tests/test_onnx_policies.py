"""Import policies: an initializer holding NaN or Inf is refused unless asked for, and integer data
outside its element type's range is refused instead of wrapped."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.frontends.cli.main import main  # noqa: E402


def _model(init, dtype=None):
    """``y = Identity(w)`` for initializer ``w``, plus an input so that the graph has one."""
    dt = dtype or init.data_type
    g = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", dt, list(init.dims))], initializer=[init])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _typed(dt, dims, int32=None, raw=None):
    """A TensorProto written field by field (onnx.helper refuses the values these tests need)."""
    t = TensorProto(name="w", data_type=dt, dims=dims)
    if int32 is not None:
        t.int32_data.extend(int32)
    if raw is not None:
        t.raw_data = raw
    return t


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_nonfinite_initializer_is_refused_naming_it(bad):
    w = numpy_helper.from_array(np.array([1.0, bad, 2.0], np.float32), "w")
    with pytest.raises(cr.ChainruleError) as info:
        cr.import_onnx(_model(w))
    msg = str(info.value)
    assert "initializer 'w'" in msg and "non-finite" in msg and "index [1]" in msg
    assert "allow_nonfinite=True" in msg and "--allow-nonfinite" in msg
    g = cr.import_onnx(_model(w), allow_nonfinite=True)
    out = cr.compile(g)(np.zeros(1, np.float32))
    assert out[1] == bad or (np.isnan(bad) and np.isnan(out[1]))


def test_a_nonfinite_float64_and_float16_initializer_is_refused():
    for dt in (np.float64, np.float16):
        w = numpy_helper.from_array(np.array([[0.0, np.inf]], dt), "w")
        with pytest.raises(cr.ChainruleError, match="initializer 'w' holds 1 non-finite"):
            cr.import_onnx(_model(w))


def test_the_cli_commands_that_import_accept_allow_nonfinite(tmp_path, capsys):
    path = str(tmp_path / "m.onnx")
    onnx.save(_model(numpy_helper.from_array(np.array([1.0, -np.inf], np.float32), "w")), path)
    np.savez(tmp_path / "in.npz", x=np.zeros(1, np.float32))
    assert main(["inspect", path]) == 1
    assert "non-finite" in capsys.readouterr().err
    assert main(["inspect", path, "--allow-nonfinite"]) == 0
    out = str(tmp_path / "out.npz")
    assert main(["run", path, "--inputs", str(tmp_path / "in.npz"), "--output", out]) == 1
    assert main(["run", path, "--inputs", str(tmp_path / "in.npz"), "--output", out, "--allow-nonfinite"]) == 0
    assert np.array_equal(np.load(out)["y"], [1.0, -np.inf])
    for cmd in ("dump", "explain", "cost", "profile", "grad"):  # every command that imports ONNX has the flag
        from chainrule.frontends.cli.main import build_parser
        sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
        assert "--allow-nonfinite" in sub.choices[cmd].format_help(), cmd


@pytest.mark.parametrize("dt, vals, bad", [
    (TensorProto.UINT8, [1, 300, 2], 300), (TensorProto.UINT8, [1, -1, 2], -1),
    (TensorProto.INT8, [1, 128, 2], 128), (TensorProto.INT8, [1, -129, 2], -129),
    (TensorProto.BOOL, [1, 2, 0], 2), (TensorProto.BOOL, [1, -1, 0], -1),
    (TensorProto.FLOAT16, [1, 70000, 0], 70000),
])
def test_int32_data_outside_the_type_is_refused_not_wrapped(dt, vals, bad):
    with pytest.raises(cr.ChainruleError) as info:
        cr.import_onnx(_model(_typed(dt, [3], int32=vals)))
    msg = str(info.value)
    assert "initializer 'w'" in msg and f"holds {bad} at index 1" in msg and TensorProto.DataType.Name(dt) in msg


def test_a_bool_raw_byte_other_than_0_or_1_is_refused():
    with pytest.raises(cr.ChainruleError, match=r"holds 2 at index 2, outside BOOL's range 0\.\.1"):
        cr.import_onnx(_model(_typed(TensorProto.BOOL, [3], raw=b"\x01\x00\x02")))


@pytest.mark.parametrize("dt, np_dt, vals", [
    (TensorProto.UINT8, np.uint8, [0, 255, 7]), (TensorProto.INT8, np.int8, [-128, 127, 0]),
    (TensorProto.BOOL, np.bool_, [1, 0, 1]), (TensorProto.INT32, np.int32, [-2 ** 31, 2 ** 31 - 1, 0]),
])
def test_values_inside_the_type_import_exactly_by_either_path(dt, np_dt, vals):
    want = np.array(vals, np_dt)
    for t in (_typed(dt, [3], int32=vals), _typed(dt, [3], raw=want.tobytes())):
        g = cr.import_onnx(_model(t))
        assert np.array_equal(cr.compile(g)(np.zeros(1, np.float32)), want)


def test_int64_data_and_raw_int64_import_exactly():
    vals = [-2 ** 63, 2 ** 63 - 1, 5]
    t = TensorProto(name="w", data_type=TensorProto.INT64, dims=[3], int64_data=vals)
    for tp in (t, _typed(TensorProto.INT64, [3], raw=np.array(vals, np.int64).tobytes())):
        g = cr.import_onnx(_model(tp))
        assert cr.compile(g)(np.zeros(1, np.float32)).tolist() == vals
