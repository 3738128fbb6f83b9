"""Random valid graphs drawn from the op registry, for property-based tests.

``random_graph(draw)`` builds a float64 DAG with fan-out and broadcasting:
it starts from a few inputs, then repeatedly applies a random op to random
earlier values, keeping only applications the op's type rule accepts.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from chainrule.ir import DType, Emitter, Graph, IRTypeError, TensorType

SHAPES = [(3, 4), (1, 4), (4,), (3, 1), (), (2, 3, 4)]

# op name -> (number of inputs, attribute strategy); inputs must be positive for Log/Sqrt/Pow bases,
# so those ops are applied to Exp of a value (see _apply).
UNARY = ["Neg", "Exp", "Sin", "Cos", "Tanh", "Sigmoid", "Softplus", "Square", "Identity", "Relu"]
BINARY = ["Add", "Sub", "Mul"]
POSITIVE = ["Log", "Sqrt"]
AXIS_OPS = ["Softmax", "LogSoftmax"]
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax"]


@st.composite
def random_graph(draw, max_nodes=12):
    g = Graph("fuzz")
    e = Emitter(g)
    n_inputs = draw(st.integers(1, 3))
    values = [g.add_input(f"x{i}", TensorType(draw(st.sampled_from(SHAPES)), DType.f64)) for i in range(n_inputs)]
    for _ in range(draw(st.integers(1, max_nodes))):
        kind = draw(st.sampled_from(["unary", "binary", "positive", "axis", "reduce", "matmul"]))
        a = draw(st.sampled_from(values))
        try:
            if kind == "unary":
                out = e(draw(st.sampled_from(UNARY)), a)
            elif kind == "binary":
                out = e(draw(st.sampled_from(BINARY)), a, draw(st.sampled_from(values)))
            elif kind == "positive":
                out = e(draw(st.sampled_from(POSITIVE)), e.Add(e.Exp(a), e.const(0.5, DType.f64)))
            elif kind == "axis":
                if a.type.rank == 0:
                    continue
                out = e(draw(st.sampled_from(AXIS_OPS)), a, axis=draw(st.integers(-a.type.rank, a.type.rank - 1)))
            elif kind == "reduce":
                axes = None if a.type.rank == 0 or draw(st.booleans()) else (draw(st.integers(0, a.type.rank - 1)),)
                out = e(draw(st.sampled_from(REDUCE)), a, axes=axes, keepdims=draw(st.sampled_from([0, 1])))
            else:
                out = e.MatMul(a, draw(st.sampled_from(values)))
        except IRTypeError:
            continue
        values.append(out)
    node_values = [v for v in values if v.producer is not None] or values
    k = draw(st.integers(1, min(3, len(node_values))))
    g.set_outputs(node_values[-k:])
    return g


def random_inputs(g: Graph, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, v.type.shape) for v in g.inputs]


# -- the grammar's escape and attribute forms, for the parser fuzz ------------------------------
ESCAPES = ["\\n", "\\t", '\\"', "\\\\", "\\u0041", "\\u00e9", "\\ud83d", "\\x41", "\\q", "\\u12", "\\", "é", "\x00"]
DTYPE_NAMES = ["f32", "f64", "f16", "i64", "i32", "i8", "u8", "bool", "c64"]


@st.composite
def ir_string(draw):
    """A JSON-string token, sometimes with an escape JSON refuses (``\\x41``, ``\\q``)."""
    parts = draw(st.lists(st.one_of(st.sampled_from(ESCAPES), st.text("abc_. %{}[]", max_size=3)), max_size=4))
    return '"' + "".join(parts) + '"'


def _scalar_text():
    return st.one_of(st.integers(-3, 3).map(str), st.integers(-2**70, 2**70).map(str), st.sampled_from(
        ["0", "-1", "1.5", "1e400", "-1e-400", "inf", "-inf", "nan", "true", "false", "none", "1.", "00"]),
        st.sampled_from(DTYPE_NAMES), ir_string())


@st.composite
def attr_value(draw, depth=0):
    """VALUE of the grammar: scalars, strings, dtypes, nested lists and dense<TYPE> data."""
    kinds = ["scalar"] * 6 + ["list"] * 3 + ["dense", "deep"] if depth < 3 else ["scalar"]
    kind = draw(st.sampled_from(kinds))
    if kind == "scalar":
        return draw(_scalar_text())
    if kind == "list":
        return "[" + ", ".join(draw(st.lists(attr_value(depth + 1), max_size=3))) + "]"
    if kind == "deep":
        n = draw(st.sampled_from([2, 70, 1000]))
        return "[" * n + draw(_scalar_text()) + "]" * draw(st.sampled_from([n, n - 1, 0]))
    dims = draw(st.lists(st.sampled_from(["0", "1", "2", "3", "N", "99999999999999999999"]), max_size=2))
    return f"dense<{draw(st.sampled_from(DTYPE_NAMES))}[{','.join(dims)}]>" + draw(attr_value(depth + 1))


@st.composite
def attr_line(draw):
    """A node line with random attributes and metadata, on input %x: f32[2,3]."""
    op = draw(st.sampled_from(["Softmax", "ReduceSum", "Unsqueeze", "Squeeze", "Transpose", "Reshape", "OneHot",
                               "Constant", "Cast", "Gemm", "Relu", "LeakyRelu", "Concat", "Gather"]))
    keys = ["axis", "axes", "keepdims", "perm", "shape", "depth", "dtype", "to", "value", "alpha", "transB", "colour"]
    attrs = draw(st.lists(st.tuples(st.sampled_from(keys), attr_value()), max_size=2))
    text = f"  %y: {draw(st.sampled_from(['f32[2,3]', 'f32[3]', 'i64[2,3,4]', 'f32[]']))} = {op}(%x)"
    if attrs:
        text += " {" + ", ".join(f"{k}={v}" for k, v in attrs) + "}"
    meta = draw(st.lists(st.tuples(st.sampled_from(["by", "phase", "of", "rule", "what"]),
                                   st.one_of(ir_string(), st.sampled_from(["autodiff", "backward", "%x", '%"x"',
                                                                           "abc", "1"]))), max_size=2))
    if meta:
        text += " #[" + " ".join(f"{k}={v}" for k, v in meta) + "]"
    name = draw(st.sampled_from(["%x", '%"x"', "%" + draw(ir_string())]))
    return f"graph g {{\n  input {name}: f32[2,3]\n{text}\n  return %y\n}}\n"
