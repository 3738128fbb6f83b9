"""The kernel tables as cases of one graph, for the loop lowering and the numba backend.

``CASES``: every case of ``test_kernels.REF`` and the CNN cases of ``test_cnn_kernels`` (and a
``Fused`` body), ``(op name, input arrays, attrs)``; ``IDS`` names them ``Op-k``; ``graph()``
makes them one graph, each case a node named ``case<k>`` on inputs of its own, every result a
graph output. ``FALLS_BACK`` lists the cases whose op has no loop form (``runtime/loops.py``):
they keep their NumPy kernel inside a compiled step.
"""
import numpy as np

from chainrule.ir import DType, Emitter, Graph, TensorType
from chainrule.ir.ops.fused import Step

import test_cnn_kernels as cnn
from test_kernels import REF

R = np.random.default_rng(3)
_G = R.standard_normal((5, 4)).astype(np.float32)
_H = R.standard_normal((5, 4)).astype(np.float32)
_B4 = R.standard_normal(4).astype(np.float32)

#: a Fused body: broadcasting, a step outside the loops (the scalar), a comparison
FUSED = ((_G, _H, _B4, np.array(0.5, np.float32)),
         {"body": (Step("Mul", (3, 3), (), "c"), Step("HardThreshold", (1,), (), "h"), Step("Mul", (0, 5), (), "gh"),
                   Step("Add", (6, 2), (), "s"), Step("Mul", (7, 4), (), "y"))})


def _cnn_cases():
    out = [("Conv", a, attrs) for a, attrs in cnn.CONV] + [("ConvTranspose", a, attrs) for a, attrs in cnn.CONV_T]
    out += [("ConvFilterGrad", a, attrs) for a, attrs in cnn.FILTER]
    for attrs in cnn.POOL[:3]:
        y = cnn._run("MaxPool", (cnn.X_POOL,), attrs)[0]
        gy = R.standard_normal(y.shape)
        out += [("MaxPool", (cnn.X_POOL,), attrs), ("MaxPoolGrad", (cnn.X_POOL, gy), attrs),
                ("MaxPoolIndices", (cnn.X_POOL,), attrs),
                ("AveragePool", (cnn.X_POOL,), attrs), ("AveragePoolGrad", (gy, cnn.X_POOL), attrs)]
    x, s, b, m, v = R.standard_normal((4, 3, 2, 3)), R.standard_normal(3), R.standard_normal(3), \
        R.standard_normal(3), R.uniform(0.5, 2, 3)
    out += [("GlobalAveragePool", (x,), {}), ("BatchNormalization", (x, s, b, m, v), {"epsilon": 1e-3}),
            ("BatchNormTraining", (x, s, b), {}),
            ("DropoutMask", (np.zeros((6, 5), np.float32), np.array(3, np.int64)), {"ratio": 0.25, "seed": 1})]
    return out


CASES = [(name, arrays, attrs) for name in REF for arrays, attrs, _ in REF[name]] + _cnn_cases() + \
    [("Fused",) + FUSED]
IDS = []
for _name, *_ in CASES:
    IDS.append(f"{_name}-{sum(1 for i in IDS if i.startswith(_name + '-'))}")

#: ops with no loop form: every case keeps its NumPy kernel inside a compiled step
NO_LOOPS = ("Gather", "ScatterAddLike", "Pad", "PadGrad", "Concat", "Split", "Tile", "Trilu", "Range",
            "ConstantOfShape", "LayerNormalization", "Conv", "ConvTranspose", "ConvFilterGrad", "MaxPool",
            "MaxPoolGrad", "MaxPoolIndices", "AveragePool", "AveragePoolGrad", "GlobalAveragePool", "BatchNormalization",
            "BatchNormTraining", "DropoutMask")
#: the cases that keep their NumPy kernel, and why
FALLS_BACK = {
    "MatMul-1": "a batched product (rank 3): np.dot takes matrices",
    "MatMul-2": "a vector times a matrix",
    "Constant-0": "a constant that is a graph output is copied by its kernel (inside a step constants are "
                  "computed once, or written into the code)",
    **{i: "no loop form yet" for i in IDS if i.rsplit("-", 1)[0] in NO_LOOPS},
    **{f"Cast-{k}": "to float8: ml_dtypes' formats have no loop form" for k in (3, 4, 5)},
}


def graph():
    """Every case as a node of one graph (its inputs fresh), every result a graph output."""
    g = Graph("every_op")
    e = Emitter(g)
    feeds, outs = [], []
    for c, (name, arrays, attrs) in enumerate(CASES):
        xs = [g.add_input(f"c{c}_x{i}", TensorType(a.shape, DType.of(a.dtype))) for i, a in enumerate(arrays)]
        feeds += list(arrays)
        outs.append(list(e.emit(name, xs, attrs, name=f"case{c}").outputs))
    g.set_outputs([o for os_ in outs for o in os_])
    return g, feeds, outs


def close_1e6(got, want, what):
    """``got`` equals ``want`` in dtype and shape, and to 1e-6 relative to ``want``'s largest finite
    element (infinities exactly); integers and bools exactly."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if want.dtype.kind == "f":
        scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))  # infinities must match exactly
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * max(scale, 1e-30), err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)
