"""The onnxruntime backend behaves like the NumPy one: the same input policy (float64 for an f32
input is refused, not rounded), and the same ChainruleError, word for word, naming the input."""
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import chainrule as cr  # noqa: E402
from chainrule.ir import ExecutionError, InputError  # noqa: E402

GRAPH = """graph g {
  input %x: f32[N,3]
  input %k: i64[N]
  param %w: f32[3,2]
  %h: f32[N,2] = MatMul(%x, %w)
  return %h, %k
}
"""


def _both():
    g = cr.parse_graph(GRAPH, initializers={"w": np.arange(6, dtype=np.float32).reshape(3, 2)})
    return cr.compile(g), cr.compile(g, backend="onnxruntime")


X, K = np.ones((4, 3), np.float32), np.arange(4)

CALLS = {
    "float64 for f32": lambda exe: exe(X.astype(np.float64), K),
    "int32 for i64": lambda exe: exe(X, K.astype(np.int32)),
    "wrong rank": lambda exe: exe(X[0], K),
    "wrong fixed dimension": lambda exe: exe(np.ones((4, 5), np.float32), K),
    "symbol bound twice": lambda exe: exe(X, np.arange(5)),
    "too few arrays": lambda exe: exe(X),
    "not numbers": lambda exe: exe([["a", "b", "c"]], K),
    "missing input": lambda exe: exe.run({"x": X}),
    "unknown input": lambda exe: exe.run({"x": X, "k": K, "y": X}),
}


@pytest.mark.parametrize("case", list(CALLS))
def test_both_backends_refuse_bad_inputs_with_the_same_message(case):
    numpy_exe, ort_exe = _both()
    errors = []
    for exe in (numpy_exe, ort_exe):
        with pytest.raises(InputError) as info:
            CALLS[case](exe)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert "%x" in errors[0] or "%k" in errors[0] or "x" in errors[0]


def test_both_backends_agree_on_good_inputs_and_lists():
    numpy_exe, ort_exe = _both()
    for a, b in zip(numpy_exe(X, K), ort_exe(X, K)):
        assert np.array_equal(a, b)
    assert np.array_equal(ort_exe(X.tolist(), K.tolist())[0], numpy_exe(X, K)[0])  # lists convert exactly
    assert set(ort_exe.run({"x": X, "k": K})) == {"h", "k"}


def test_an_onnxruntime_failure_is_an_execution_error_naming_the_graph():
    g = cr.parse_graph("graph lookup {\n  input %i: i64[2]\n  param %w: f32[3]\n  %y: f32[2] = Gather(%w, %i)\n"
                       "  return %y\n}\n", initializers={"w": np.zeros(3, np.float32)})
    with pytest.raises(ExecutionError, match="onnxruntime failed to run graph lookup"):
        cr.compile(g, backend="onnxruntime")(np.array([0, 9]))
    with pytest.raises(ExecutionError, match="Gather"):
        cr.compile(g)(np.array([0, 9]))
