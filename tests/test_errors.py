"""Error messages a person can act on: each names the thing that is wrong."""
import numpy as np
import pytest

import chainrule as cr


def test_linear_feature_mismatch_points_at_the_users_line():
    model = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.ReLU(), cr.nn.Linear(5, 2))
    with pytest.raises(cr.ChainruleError) as info:
        model.to_graph()  # the line the message must name
    msg = str(info.value)
    assert f"{__file__}:{info.tb.tb_lineno}:" in msg
    assert "fc2" in msg and "expects 5 input features" in msg and "[N,3]" in msg


def test_builder_shape_error_names_the_line_and_both_shapes():
    b = cr.GraphBuilder("g")
    x, y = b.input("x", (2, 3)), b.input("y", (4, 5))
    with pytest.raises(cr.ChainruleError) as info:
        x @ y
    msg = str(info.value)
    assert f"{__file__}:{info.tb.tb_lineno}:" in msg
    assert "f32[2,3]" in msg and "f32[4,5]" in msg


def test_the_dtype_hint_is_python_that_runs(tmp_path):
    """The hint of a refused dtype names what the user can type: ``np.float32``, or ``object`` for a
    string input (``np.object`` is gone in NumPy 2)."""
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Equal", ["x", "y"], ["z"])], "streq",
                          [helper.make_tensor_value_info(n, TensorProto.STRING, [2]) for n in "xy"],
                          [helper.make_tensor_value_info("z", TensorProto.BOOL, [2])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]), str(tmp_path / "s.onnx"))
    exe = cr.compile(cr.import_onnx(str(tmp_path / "s.onnx")))
    with pytest.raises(cr.ChainruleError, match=r"convert it with \.astype\(object\)$"):
        exe(np.array([1.0, 2.0]), np.array(["a", "b"], dtype=object))
    with pytest.raises(cr.ChainruleError, match=r"\.astype\(np\.float32\)"):
        cr.compile(cr.nn.mlp([4, 3]))(np.ones((1, 4)))
