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
