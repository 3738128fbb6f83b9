"""The loop lowering (``runtime/loops.py``): its text, and that the text computes what the kernels do.

The loop source is plain Python over NumPy arrays, so these tests run it as it is, without
numba (``run_loops``): every case of the kernel tables, and whole MLP training steps, against
the interpreter. A golden file holds the loops of one fused kernel of the MLP's training step
(a ``Fused`` group closed by its bias gradient's column sum); ``FALLS_BACK`` lists the ops
without a loop form; ``chainrule dump --print-kernels`` and the report's kernels pane print it.
"""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import OPS
from chainrule.runtime import Interpreter
from chainrule.runtime.loops import Loops, Names
from chainrule.runtime.lowering import lower, program_text
from fuzz_graphs import random_graph, random_inputs
from golden import check_golden
from hypothesis import given
from op_cases import CASES, FALLS_BACK, IDS, close_1e6 as _close, graph
from test_fuzz_ir import FUZZ


def run_loops(g, feeds, params=None):
    """Run ``lower(g)`` in plain Python: each value an array, each kernel's lines exec'd in turn."""
    program = lower(g)
    params = g.initializers if params is None else params
    env = {"np": np, "math": math}
    for v, a in zip(g.inputs, feeds):
        env[program.array(v)] = a
        for d, n in zip(v.type.shape, np.shape(a)):
            if isinstance(d, str):
                env[program.names.dim(d)] = n
    for p in g.params:
        env[program.array(p)] = params[p.name]
    dims = {d: env[program.names.dim(d)] for v in g.inputs for d in v.type.shape if isinstance(d, str)}
    for k in program.kernels:
        n = k.node
        names = [program.array(o) for o in n.outputs]
        if k.kind == "static":
            env[names[0]] = k.value
        elif k.kind == "numpy":
            got = n.op.kernel(dict(n.attrs))(*[env[program.array(v)] for v in n.inputs])
            for name, a in zip(names, got if len(n.outputs) > 1 else [got]):
                env[name] = a
        else:
            if not n.op.view:
                for name, o in zip(names, n.outputs):
                    shape = tuple(dims.get(d, d) for d in o.type.shape)
                    env[name] = np.empty(shape, o.type.dtype.numpy)
            with np.errstate(all="ignore"):  # as the kernels: log 0 is -inf, 0/0 is nan
                exec("\n".join(k.lines), env)  # noqa: S102 (the loops under test)
    outs = [np.asarray(env[program.array(v)]).copy() for v in g.outputs]
    for p, v in g.updates:
        np.copyto(params[p.name], env[program.array(v)])
    return outs, program


@pytest.fixture(scope="module")
def every_op():
    g, feeds, outs = graph()
    got, program = run_loops(g, feeds)
    return outs, Interpreter(g).run_list(feeds), got, program


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
def test_the_loops_compute_the_kernel(every_op, k):
    outs, want, got, _ = every_op
    at = sum(len(o) for o in outs[:k])
    for i in range(len(outs[k])):
        _close(got[at + i], want[at + i], f"{IDS[k]} result {i}")


def test_every_registered_op_has_a_case():
    assert sorted(OPS) == sorted({name for name, *_ in CASES})


def test_the_ops_without_a_loop_form_are_listed(every_op):
    """The nodes left to their NumPy kernel are exactly ``op_cases.FALLS_BACK`` (add a new op there,
    or give it a ``scalar`` or ``loops`` facet)."""
    program = every_op[3]
    falls = {IDS[int(f.split()[0].removeprefix("case").split(".")[0])] for f in program.fallbacks}
    assert falls == set(FALLS_BACK), (f"left to NumPy but not listed: {sorted(falls - set(FALLS_BACK))}; "
                                      f"listed but lowered: {sorted(set(FALLS_BACK) - falls)}")


def _mlp_step(sizes=(4, 8, 3), optimizer=None):
    return cr.compile_train(cr.nn.mlp(list(sizes), activation="relu", seed=0),
                            optimizer=optimizer or cr.optim.SGD(lr=0.1, momentum=0.9))


@pytest.mark.parametrize("n", [1, 5])
def test_training_steps_in_loops_match_the_interpreter(n, rng):
    step = _mlp_step()
    g = step.graph
    mine = {k: v.copy() for k, v in g.initializers.items()}
    theirs = {k: v.copy() for k, v in g.initializers.items()}
    interp = Interpreter(g, theirs)
    for _ in range(3):
        x = rng.standard_normal((n, 4)).astype(np.float32)
        t = step.loss.prepare_target(rng.integers(0, 3, n), g.inputs[1].type)
        got, program = run_loops(g, [x, t], mine)
        want = interp.run_list([x, t])
        for a, b, v in zip(got, want, g.outputs):
            _close(a, b, v.name)
    for name in theirs:
        _close(mine[name], theirs[name], name)
    assert program.fallbacks == []


@FUZZ
@given(random_graph())
def test_the_loops_of_random_compiled_graphs_match_the_interpreter(g):
    """Random graphs, fused and scheduled by the inference pipeline: the loops compute what the
    interpreter does (float64; every output)."""
    g = cr.compile(g).graph
    xs = random_inputs(g)
    with np.errstate(all="ignore"):
        want = Interpreter(g).run_list(xs)
        got, _ = run_loops(g, xs)
    for a, b, v in zip(got, want, g.outputs):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, v.name
        scale = float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0))
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * max(scale, 1.0), err_msg=v.name)


def test_a_fused_kernel_golden():
    """The backward pass's %grad_fc1 = Fused(HardThreshold, Mul) as one loop nest, which also sums the
    bias gradient's columns; the ReduceSum then copies the accumulator out."""
    g = _mlp_step().graph
    program = lower(g)
    fused = next(k for k in program.kernels if k.node.name == "grad_fc1")
    assert fused.closes == ("grad_fc1.bias",)
    text = program_text(program, only=[fused.node.name, *fused.closes])
    check_golden("loops_mlp_step_fused_kernel", text, ext=".loops")
    assert "for i0 in range(N):" in text and "+= grad_" in text


def test_broadcasting_is_index_arithmetic_and_invariants_leave_the_loops():
    g = cr.parse_graph("""graph b {
  input %x: f32[N,3]
  input %c: f32[3]
  input %s: f32[]
  %y: f32[N,3] = Fused(%x, %c, %s) {
    %two: f32[] = Add(%s, %s)
    %col: f32[3] = Mul(%c, %two)
    %y: f32[N,3] = Sub(%x, %col)
  }
  return %y
}
""")
    text = program_text(lower(g))
    lines = [ln.strip() for ln in text.splitlines()]
    assert lines.index("two = s[()] + s[()]") < lines.index("for i0 in range(N):")  # before every loop
    assert "col = c[i1] * two" in lines and "y[i0, i1] = x[i0, i1] - col" in lines


def test_names_are_python_identifiers_and_unique():
    names = Names()
    assert names.value("fc1.weight") == "fc1_weight" and names.value("fc1_weight") == "fc1_weight_1"
    assert names.value("max") == "max_1" and names.value("i0") == "i0_1" and names.value("3d") == "_3d"
    assert names.dim("N") == "N" and names.dim(784) == "784"


def test_loops_builder_reads_broadcast_elements():
    lb = Loops(Names())
    t = cr.TensorType(("N", 1), cr.DType.f32)
    with lb.space(("N", 5)), lb.over((0, 1)):
        assert lb.at("a", t) == "a[i0, 0]" and lb.at("b", cr.TensorType((5,), cr.DType.f32)) == "b[i1]"
    assert lb.lines == ["for i0 in range(N):", "    for i1 in range(5):"]


def test_dump_prints_the_kernels(capsys):
    from chainrule.frontends.cli.main import main
    assert main(["dump", "mlp", "--pipeline", "training", "--print-kernels"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# mlp: ") and "for i0 in range(N):" in out and "also accumulates %grad_fc1.bias" in out
    assert "np.dot(" in out  # the GEMMs stay BLAS calls


def test_the_report_has_a_kernels_pane(tmp_path):
    from chainrule.examples import models
    res = cr.dump(models.mlp(), str(tmp_path / "d"), pipeline="training")
    page = open(res.report, encoding="utf-8").read()
    assert 'id="kernels-pane"' in page and page.count('<div class="kernels">') == len(res.steps)
    last = page[page.rindex('<div class="kernels">'):]
    assert "also accumulates" in last[:last.index("</div>")]  # after fuse-elementwise: closed reductions
    assert '"loops": "# %fc1' in page  # a node's own loops, for its panel
