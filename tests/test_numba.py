"""The numba backend against the NumPy one: every op's kernel, and which ops have no loop form.

Every case of the kernel tables (``test_kernels.REF``, the CNN cases of ``test_cnn_kernels``)
is one node of a single graph, run by the interpreter (NumPy kernels) and by the numba
executor (the loops of ``runtime/loops.py``, compiled as one step): floats agree to 1e-6
relative to each result's largest element (summation orders differ), integers and booleans
exactly. ``FALLS_BACK`` lists the ops, with the cases, that keep their NumPy kernel inside
the step; a new op with no loop form must be added there. Needs numba
(``pip install "chainrule[numba]"``); skipped without it.
"""
import numpy as np
import pytest

from chainrule.ir import OPS, DType, Emitter, Graph, TensorType
from chainrule.ir.ops.fused import Step
from chainrule.passes.memory import plan_memory
from chainrule.runtime import Interpreter

numba = pytest.importorskip("numba")

import test_cnn_kernels as cnn  # noqa: E402
from test_kernels import REF  # noqa: E402

from chainrule.runtime.numba_backend import NumbaExecutor  # noqa: E402

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

#: ops (case ids) that keep their NumPy kernel inside a numba step, and why
FALLS_BACK = {
    "MatMul-1": "a batched product (rank 3): np.dot takes matrices",
    "MatMul-2": "a vector times a matrix",
    "Constant-0": "a constant that is a graph output is copied by its kernel (inside a step constants are "
                  "computed once, or written into the code)",
    **{f"{op}-{k}": "no loop form yet" for op, ks in (
        ("Gather", 2), ("ScatterAddLike", 2), ("Pad", 2), ("Concat", 2), ("Conv", 6), ("ConvTranspose", 3),
        ("ConvFilterGrad", 3), ("MaxPool", 3), ("MaxPoolGrad", 3), ("AveragePool", 3), ("AveragePoolGrad", 3),
        ("GlobalAveragePool", 1), ("BatchNormalization", 1), ("BatchNormTraining", 1), ("DropoutMask", 1))
       for k in range(ks)},
}


def _graph():
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


@pytest.fixture(scope="module")
def ran():
    g, feeds, outs = _graph()
    want = Interpreter(g).run_list(feeds)
    exe = NumbaExecutor(g, planner=plan_memory)
    got = exe.run_list(feeds)
    return outs, want, got, exe


def _case_results(ran, k):
    outs, want, got, _ = ran
    at = sum(len(o) for o in outs[:k])
    return want[at:at + len(outs[k])], got[at:at + len(outs[k])]


def _close(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if want.dtype.kind == "f":
        scale = float(np.max(np.abs(want))) if want.size else 1.0
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * max(scale, 1e-30), err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
def test_numba_matches_the_numpy_kernel(ran, k):
    want, got = _case_results(ran, k)
    for i, (a, b) in enumerate(zip(got, want)):
        _close(a, b, f"{IDS[k]} result {i}")


def test_every_registered_op_has_a_case():
    assert sorted(OPS) == sorted({name for name, *_ in CASES})


def test_the_ops_without_a_loop_form_are_listed(ran):
    """The nodes the step runs on their NumPy kernel are exactly ``FALLS_BACK``."""
    exe = ran[3]
    falls = {IDS[int(f.split()[0].removeprefix("case").split(".")[0])] for f in exe.fallbacks}
    assert falls == set(FALLS_BACK), (f"left to NumPy but not listed: {sorted(falls - set(FALLS_BACK))}; "
                                      f"listed but lowered: {sorted(set(FALLS_BACK) - falls)}")
