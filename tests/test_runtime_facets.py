"""The runtime asks the ops, never their names: op facets, the fused-body planner, liveness, and
the loss's softmax shared in the IR (``share-loss-softmax``) instead of in generated code."""
import ast
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import OPS, DType, TensorType
from chainrule.ir.liveness import Liveness
from chainrule.ir.ops.fused import Step
from chainrule.passes.fusion import share_loss_softmax
from chainrule.passes.memory import plan_memory
from chainrule.passes.optimizer import SGDUpdate
from chainrule.passes.pipeline import training_pipeline
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from chainrule.runtime.fused import OUT, Dest, plan_body
from golden import check_golden

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F32 = DType.f32


# -- no op names in runtime/ ---------------------------------------------------------------------
def op_name_uses(source: str, where: str = "<src>"):
    """Places in ``source`` that decide by an op's *name*: a string constant naming a registered op
    (in a comparison, a table key, ``OPS["X"]``...; docstrings aside), or a comparison with ``.op.name``."""
    tree = ast.parse(source)
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    bad = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in OPS and id(n) not in docs:
            bad.append(f"{where}:{n.lineno}: the op name {n.value!r}")
        if isinstance(n, ast.Compare):
            for side in [n.left] + n.comparators:
                if isinstance(side, ast.Attribute) and side.attr == "name" and \
                        isinstance(side.value, ast.Attribute) and side.value.attr == "op":
                    bad.append(f"{where}:{n.lineno}: a comparison with .op.name")
    return bad


def test_runtime_never_decides_by_op_name():
    bad = []
    folder = os.path.join(ROOT, "runtime")
    for fn in sorted(os.listdir(folder)):
        if fn.endswith(".py"):
            with open(os.path.join(folder, fn), encoding="utf-8") as f:
                bad += op_name_uses(f.read(), f"runtime/{fn}")
    assert not bad, "the runtime must ask the op (a facet in ir/ops/), not its name:\n" + "\n".join(bad)


def test_op_name_checker_sees_a_violation():
    assert op_name_uses('if node.op.name == "Softmax":\n    pass\n')
    assert op_name_uses('if name in ("ReduceSum", "ReduceMax"):\n    pass\n')
    assert op_name_uses('UFUNCS = {"Add": 1}\n')
    assert op_name_uses('if n.op.name != kind:\n    pass\n')
    assert not op_name_uses('"""Softmax is explained here."""\nx = "maximum"\n')


# -- facets ----------------------------------------------------------------------------------------
def test_facets_live_in_the_op_classes():
    assert OPS["Add"].ufunc is np.add and OPS["Relu"].ufunc is None
    assert OPS["Add"].foldable and OPS["Count"].foldable and not OPS["MatMul"].foldable
    n = OPS["Count"].static_value([TensorType((4, 3), F32)], {"axes": (0,)})
    assert n.dtype == np.float32 and n == 4
    assert OPS["Count"].static_value([TensorType(("N", 3), F32)], {"axes": (0,)}) is None
    assert OPS["SoftmaxCrossEntropy"].output_count({"reduction": "mean", "probs": 1}) == 2


class _Code:
    """The smallest code generator an op's ``emit`` needs."""

    def __init__(self):
        self.ns = {}

    def const(self, obj, hint="c"):
        for k, v in self.ns.items():
            if v is obj:
                return k
        name = f"{hint}{len(self.ns)}"
        self.ns[name] = obj
        return name


@pytest.mark.parametrize("opname, attrs, shapes", [
    ("Gemm", {"alpha": 0.5, "beta": 2.0, "transA": 1, "transB": 0}, [(3, 4), (3, 5), (5,)]),
    ("Gemm", {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}, [(1, 1), (5, 1), (5,)]),  # outer product
    ("Softmax", {"axis": 0}, [(3, 4)]),
    ("ReduceMax", {"axes": (1,), "keepdims": 0}, [(3, 4)]),
    ("Div", {}, [(3, 4), (4,)]),
    ("Relu", {}, [(3, 4)]),
    ("Sigmoid", {}, [(3, 4)]),
])
def test_emitted_lines_compute_the_kernels_bits(opname, attrs, shapes, rng):
    """``Op.emit`` (what the executors run) against ``Op.kernel`` (what the interpreter runs)."""
    op = OPS[opname]
    attrs = op.check_attrs(attrs)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    want = op.kernel(attrs)(*xs)
    code = _Code()
    names = [code.const(x, "x") for x in xs]
    out = np.empty_like(want)
    lines = op.emit(code, attrs, code.const(out, "out"), names, [TensorType(x.shape, F32) for x in xs])
    exec("\n".join(lines), dict(code.ns))  # noqa: S102 (the generated lines under test)
    assert out.tobytes() == want.tobytes()


# -- the fused body's planner (runtime/fused.py) ---------------------------------------------------
def test_fused_body_plan_names_its_destinations():
    """Mul(g, HardThreshold(h)): the threshold goes into ``out`` (free until the last step), the
    product in place there; no scratch buffer."""
    t = TensorType((4, 3), F32)
    body = (Step("HardThreshold", (1,), (), "ht"), Step("Mul", (0, 2), (), "grad"))
    plan = plan_body(body, [t, t])
    assert [s.dest for s in plan.steps] == [OUT, OUT] and plan.scratch == []
    # with %h stored in out (alias), the threshold needs a place of its own: h dies there, donated
    longer = (Step("Exp", (1,), (), "e"), Step("Neg", (2,), (), "n"), Step("Mul", (0, 3), (), "y"))
    plan = plan_body(longer, [t, t], alias=0, donated=[1])
    assert [s.dest for s in plan.steps] == [Dest("donated", 1), Dest("donated", 1), OUT]
    plan = plan_body(longer, [t, t], alias=0)
    assert [s.dest for s in plan.steps] == [Dest("scratch", 0), Dest("scratch", 0), OUT]
    assert plan.scratch == [t]


def test_fused_reference_kernel_and_planned_executor_agree(rng):
    text = """graph f {
  input %a: f32[4,3]
  input %b: f32[4,3]
  %y: f32[4,3] = Fused(%a, %b) {
    %e: f32[4,3] = Exp(%a)
    %n: f32[4,3] = Neg(%e)
    %s: f32[4,3] = Sum(%n, %b, %a)
    %y: f32[4,3] = Mul(%s, %e)
  }
  return %y
}
"""
    g = cr.parse_graph(text)
    assert str(g) == text  # the body's Step tuples print and parse as before
    assert all(isinstance(s, Step) for s in g.nodes[0].attrs["body"])
    a, b = (rng.standard_normal((4, 3)).astype(np.float32) for _ in range(2))
    ref = cr.Interpreter(g).run_list([a, b])[0]
    for run in (SequentialExecutor, DataflowExecutor):
        assert run(g, planner=plan_memory).run_list([a, b])[0].tobytes() == ref.tobytes()


# -- liveness --------------------------------------------------------------------------------------
def test_liveness_follows_views_to_their_owner():
    g = cr.parse_graph("""graph v {
  input %x: f32[2,3]
  %h: f32[2,3] = Relu(%x)
  %r: f32[3,2] = Transpose(%h)
  %e: f32[3,2] = Exp(%r)
  %s: f32[] = ReduceSum(%e) {keepdims=0}
  return %s, %r
}
""")
    h, r, e = (g.value(n) for n in ("h", "r", "e"))
    live = Liveness(g.nodes)
    assert live.owner(r) == id(h) and live.owner(h) == id(h)
    assert live.death[id(h)] == 2 and live.readers[id(h)] == [1, 2]  # read through the view at Exp
    assert live.dies_at(e, 3) and not live.dies_at(r, 2)  # a view never "dies": its owner does
    kept = Liveness(g.nodes, g.exported_ids())  # %r is returned: %h's storage lives to the end
    assert kept.death[id(h)] == len(g.nodes)


# -- share-loss-softmax ----------------------------------------------------------------------------
def _step_before_sharing():
    model = cr.nn.mlp([4, 3], seed=0)
    b = cr.GraphBuilder("step")
    x, t = b.input("x", ("N", 4)), b.input("t", ("N", 3))
    g = b.build(cr.cross_entropy(cr.softmax(model(x)), t))
    passes = training_pipeline(optimizer=SGDUpdate(lr=0.1))
    upto = [p.name for p in passes].index("share-loss-softmax")
    return cr.compile(g, pipeline=passes[:upto], executor="interpreter").graph


def test_share_loss_softmax_golden():
    g = _step_before_sharing()
    before = str(g)
    assert "Softmax(" in before and "probs=1" not in before
    assert share_loss_softmax(g).changed
    cr.verify(g)
    check_golden("share_loss_softmax_before", before)
    check_golden("share_loss_softmax_after", str(g))
    assert "= Softmax(" not in str(g) and "{probs=1}" in str(g)
    assert not share_loss_softmax(g).changed  # nothing left to share


def test_share_loss_softmax_preserves_every_bit(rng):
    """The probabilities are the Softmax's bits, so the loss, the gradients and the updated
    parameters are exactly those of the unshared step, in the interpreter and the executors."""
    x = rng.standard_normal((5, 4)).astype(np.float32)
    t = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 5)]
    results = []
    for share in (False, True):
        for run in (cr.Interpreter, SequentialExecutor, DataflowExecutor):
            g = _step_before_sharing()
            if share:
                share_loss_softmax(g)
            params = {k: v.copy() for k, v in g.initializers.items()}
            exe = run(g, params) if run is cr.Interpreter else run(g, params, planner=plan_memory)
            outs = [exe.run_list([x, t]) for _ in range(2)]
            results.append(([a.tobytes() for o in outs for a in o], {k: v.tobytes() for k, v in params.items()}))
    assert all(r == results[0] for r in results)


def test_softmax_before_the_loss_is_left_alone():
    """A Softmax(z) whose users may come before the loss is not replaced (they would read a
    value made later)."""
    b = cr.GraphBuilder("g")
    z, t = b.input("z", (2, 3)), b.input("t", (2, 3))
    g = b.build(cr.softmax(z), cr.softmax_cross_entropy(z, t))
    assert not share_loss_softmax(g).changed


# -- no decisions by op name in the passes that are not pattern rewrites, the exporter, explain -----
#: rewrite passes match op patterns by name on purpose (a table of patterns is their content)
PATTERN_PASSES = {"simplify.py", "fusion.py", "fold_linear.py", "cse.py", "fold.py", "rewrite.py"}


def name_decisions(source: str, where: str = "<src>"):
    """Comparisons that decide by an op's name: with ``.op.name``, or with a string naming an op."""
    bad = []
    for n in ast.walk(ast.parse(source)):
        if not isinstance(n, ast.Compare):
            continue
        for side in [n.left] + n.comparators:
            names = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            if isinstance(side, ast.Attribute) and side.attr == "name" and \
                    isinstance(side.value, ast.Attribute) and side.value.attr == "op":
                bad.append(f"{where}:{n.lineno}: a comparison with .op.name")
            elif any(isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value in OPS for c in names):
                bad.append(f"{where}:{n.lineno}: a comparison with an op's name")
    return bad


def test_passes_exporter_and_explain_ask_the_op_not_its_name():
    files = [f"passes/{fn}" for fn in sorted(os.listdir(os.path.join(ROOT, "passes")))
             if fn.endswith(".py") and fn not in PATTERN_PASSES]
    files += ["frontends/onnx/exporter.py", "frontends/inspect/explain.py"]
    bad = []
    for rel in files:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            bad += name_decisions(f.read(), rel)
    assert not bad, "ask the op (a facet in ir/ops/, or isinstance), not its name:\n" + "\n".join(bad)


def test_name_decision_checker_sees_a_violation():
    assert name_decisions('if node.op.name == "Fused":\n    pass\n')
    assert name_decisions('if opname in ("Gemm", "MatMul"):\n    pass\n')
    assert not name_decisions('ex.make("Constant", [], [out])\n')
