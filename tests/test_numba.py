"""The numba backend against the NumPy one: every op's kernel, and which ops have no loop form.

Every case of the kernel tables (``test_kernels.REF``, the CNN cases of ``test_cnn_kernels``)
is one node of a single graph, run by the interpreter (NumPy kernels) and by the numba
executor (the loops of ``runtime/loops.py``, compiled as one step; ``op_cases.py``): floats
agree to 1e-6 relative to each result's largest element (summation orders differ), integers
and booleans exactly; the step runs exactly the cases of ``op_cases.FALLS_BACK`` on their NumPy
kernels. Needs numba (``pip install "chainrule[numba]"``); skipped without it.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import chainrule as cr
from chainrule.ir import OPS
from chainrule.passes.memory import plan_memory
from chainrule.runtime import Interpreter
from fuzz_graphs import random_graph, random_inputs
from op_cases import CASES, FALLS_BACK, IDS, close_1e6 as _close, graph

numba = pytest.importorskip("numba")

from chainrule.runtime.numba_backend import NumbaExecutor  # noqa: E402


@pytest.fixture(scope="module")
def ran():
    g, feeds, outs = graph()
    want = Interpreter(g).run_list(feeds)
    exe = NumbaExecutor(g, planner=plan_memory)
    got = exe.run_list(feeds)
    return outs, want, got, exe


def _case_results(ran, k):
    outs, want, got, _ = ran
    at = sum(len(o) for o in outs[:k])
    return want[at:at + len(outs[k])], got[at:at + len(outs[k])]


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


@settings(max_examples=8, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph())
def test_random_compiled_graphs_match_numpy(g):
    """A few random graphs (each a compile): fused groups, broadcasting, reductions, NumPy kernels
    between numba functions."""
    g = cr.compile(g).graph
    xs = random_inputs(g)
    with np.errstate(all="ignore"):
        want = Interpreter(g).run_list(xs)
        got = NumbaExecutor(g, planner=plan_memory).run_list(xs)
    for a, b, v in zip(got, want, g.outputs):
        _close(a, b, v.name)


def test_a_one_element_string_constant_is_not_inlined_as_a_number(tmp_path):
    """``Equal(x, Constant(["cat"]))`` on strings: the constant stays an array (a number is written
    into the loops as a literal; a string once raised "could not convert string to float")."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    const = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array(["cat"], dtype=object)))
    g = helper.make_graph([const, helper.make_node("Equal", ["x", "c"], ["y"])], "streq",
                          [helper.make_tensor_value_info("x", TensorProto.STRING, [3])],
                          [helper.make_tensor_value_info("y", TensorProto.BOOL, [3])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]), str(tmp_path / "streq.onnx"))
    model = cr.import_onnx(str(tmp_path / "streq.onnx"))
    xs = np.array(["cat", "dog", "cat"], dtype=object)
    assert cr.compile(model, backend="numba")(xs).tolist() == cr.compile(model)(xs).tolist() == [True, False, True]
