"""Error messages a person can act on: each names the thing that is wrong."""
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
