"""The interpreter: input validation (each mistake gets its own message), kernel errors
wrapped with the node, its input shapes and its IR line, and values freed after last use."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import ExecutionError, InputError, parse_graph
from chainrule.runtime import Interpreter

TEXT = """\
graph net {
  input %x: f32[N,3]
  input %m: f32[N,2]
  param %w: f32[2,3]
  %z: f32[N,2] = Gemm(%x, %w) {transB=1}
  %y: f32[N,2] = Mul(%z, %m)
  return %y
}
"""


@pytest.fixture
def interp():
    return Interpreter(parse_graph(TEXT, initializers={"w": np.ones((2, 3), np.float32)}))


X, M = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)


def test_runs_and_binds_the_batch_symbol(interp):
    np.testing.assert_allclose(interp.run({"x": X, "m": 2 * M})["y"], np.full((4, 2), 6.0))
    assert interp.run_list([X[:1], M[:1]])[0].shape == (1, 2)


@pytest.mark.parametrize("feeds,match", [
    ({"x": X}, r"missing input\(s\) m"),
    ({"x": X, "m": M, "q": M}, r"unknown input\(s\) q"),
])
def test_missing_or_extra_input_by_name(interp, feeds, match):
    with pytest.raises(InputError, match=match):
        interp.run(feeds)


def test_wrong_number_of_positional_inputs(interp):
    with pytest.raises(InputError, match=r"takes 2 input\(s\) \(%x, %m\), got 1"):
        interp.run_list([X])


def test_wrong_dtype(interp):
    with pytest.raises(InputError, match=r"input %x must have dtype float32 .* got float64; convert it"):
        interp.run_list([X.astype(np.float64), M])


def test_wrong_rank(interp):
    with pytest.raises(InputError, match=r"input %m must have rank 2 \(type f32\[N,2\]\), got shape \[4\]"):
        interp.run_list([X, np.ones(4, np.float32)])


def test_wrong_fixed_dimension(interp):
    with pytest.raises(InputError, match=r"input %x dimension 1 must be 3 .* got shape \[4, 5\]"):
        interp.run_list([np.ones((4, 5), np.float32), M])


def test_inconsistent_symbol_binding(interp):
    with pytest.raises(InputError, match=r"input %m dimension 0 is N=3, but %x bound N=4"):
        interp.run_list([X, np.ones((3, 2), np.float32)])


def test_unconvertible_input(interp):
    with pytest.raises(InputError, match=r"input %x: cannot convert"):
        interp.run_list([["a", "b"], M])


def test_parameter_without_array():
    with pytest.raises(InputError, match=r"parameters without arrays: w"):
        Interpreter(parse_graph(TEXT))


def test_kernel_error_names_node_shapes_and_ir_line():
    b = cr.GraphBuilder("labels")
    idx = b.input("idx", ("N",), dtype="i64")
    g = b.build(cr.one_hot(idx, 3))
    with pytest.raises(ExecutionError) as info:
        Interpreter(g).run_list([np.array([0, 5, 1])])
    msg = str(info.value)
    assert "while executing node %onehot (OneHot) with inputs int64[3] in [0, 5]" in msg
    assert "class index 5 is outside 0..2" in msg
    assert "%onehot: f32[N,3] = OneHot(%idx) {depth=3}" in msg


def test_kernel_error_with_check_numerics_too():
    b = cr.GraphBuilder("labels")
    idx = b.input("idx", ("N",), dtype="i64")
    g = b.build(cr.one_hot(idx, 3))
    with pytest.raises(ExecutionError, match="OneHot"):
        Interpreter(g, check_numerics=True).run_list([np.array([-1])])


def test_kernels_are_resolved_once_and_values_freed_after_last_use(interp):
    steps = interp.steps
    assert len(steps) == 2 and all(callable(fn) for fn, *_ in steps)
    (_, ins0, outs0, dead0), (_, ins1, outs1, dead1) = steps
    assert dead0 == ()  # x and w are inputs/params: never freed by the interpreter
    assert dead1 == (outs0[0],)  # %z dies right after Mul, its last use
    assert interp.run_list([X, M])[0].shape == (4, 2)
    assert interp.steps is steps  # nothing is rebuilt per call


def test_updates_write_into_live_parameter_arrays():
    g = parse_graph("graph step {\n  input %x: f32[2]\n  state %s: f32[2]\n  %n: f32[2] = Add(%s, %x)\n"
                    "  return %n\n  update %s <- %n\n}\n")
    s = np.zeros(2, np.float32)
    run = Interpreter(g, params={"s": s}).run_list
    run([np.ones(2, np.float32)])
    run([np.ones(2, np.float32)])
    np.testing.assert_array_equal(s, [2.0, 2.0])


def test_an_output_aliasing_an_updated_parameter_keeps_its_value_from_before_the_update():
    import chainrule as cr
    b = cr.GraphBuilder("g")
    x = b.input("x", (3,))
    w = b.param("w", np.ones(3, np.float32))
    g = b.build(cr.identity(w), w.reshape(3, 1))
    g.add_update(w.value, (w + x).value)
    out, col = cr.Interpreter(g).run_list([np.ones(3, np.float32)])
    np.testing.assert_array_equal(out, [1, 1, 1])  # w before the step
    np.testing.assert_array_equal(col, [[1], [1], [1]])
    np.testing.assert_array_equal(g.initializers["w"], [2, 2, 2])  # w after it
