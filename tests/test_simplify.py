"""The clean-up passes (simplify, cse, fold-constants, fold-linear): golden IR before/after each
rewrite, results and gradients preserved on random inputs, and no rewrite where it is unsafe."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.frontends.train.objectives import get_loss
from chainrule.frontends.train.step import build_objective
from chainrule.ir import Emitter
from chainrule.passes import PassManager, backward, inference_pipeline, training_pipeline
from chainrule.passes.basic import dce
from chainrule.passes.cse import CSE, cse, freeze
from chainrule.passes.fold import MAX_FOLD_ELEMENTS, fold_constants
from chainrule.passes.fold_linear import fold_linear
from chainrule.passes.optimizer import AdamUpdate
from chainrule.passes.simplify import simplify
from golden import check_golden
from mlp_step import batch


def G(body, shape="2,3", extra=""):
    """A graph with input %x and parameter %p of ``shape`` and %a = x·p, then ``body``."""
    return (f"graph g {{\n  input %x: f64[{shape}]\n  param %p: f64[{shape}]\n{extra}"
            f"  %a: f64[{shape}] = Mul(%x, %p)\n{body}}}\n")


ONE = "  %one: f64[] = Constant() {value=dense<f64[]>1.0}\n"
ZERO = "  %zero: f64[] = Constant() {value=dense<f64[]>0.0}\n"
ROW1 = "  %ones: f64[3] = Constant() {value=dense<f64[3]>[1.0, 1.0, 1.0]}\n"

W34 = "  %w: f64[3,4] = Constant() {value=dense<f64[3,4]>" + str((np.arange(12.0).reshape(3, 4) / 7).tolist()) + "}\n"
B4 = "  %b: f64[4] = Constant() {value=dense<f64[4]>[0.5, -1.0, 0.25, 2.0]}\n"

#: name -> (graph text, the rule that must fire)
RULE_CASES = {
    "mul_one": (G(ONE + "  %m: f64[2,3] = Mul(%a, %one)\n  %y: f64[2,3] = Sin(%m)\n  return %y\n"), "x·1 → x"),
    "one_mul_row": (G(ROW1 + "  %m: f64[2,3] = Mul(%ones, %a)\n  %y: f64[2,3] = Sin(%m)\n  return %y\n"), "1·x → x"),
    "add_zero": (G(ZERO + "  %m: f64[2,3] = Add(%a, %zero)\n  %y: f64[2,3] = Sin(%m)\n  return %y\n"), "x+0 → x"),
    "zero_add": (G(ZERO + "  %m: f64[2,3] = Add(%zero, %a)\n  %y: f64[2,3] = Sin(%m)\n  return %y\n"), "0+x → x"),
    "sub_zero": (G(ZERO + "  %m: f64[2,3] = Sub(%a, %zero)\n  %y: f64[2,3] = Sin(%m)\n  return %y\n"), "x−0 → x"),
    "div_one": (G(ONE + "  %m: f64[2,3] = Div(%a, %one)\n  %y: f64[2,3] = Sin(%m)\n  return %y\n"), "x/1 → x"),
    "neg_neg": (G("  %n: f64[2,3] = Neg(%a)\n  %m: f64[2,3] = Neg(%n)\n  %y: f64[2,3] = Sin(%m)\n  return %y\n"),
                "−(−x) → x"),
    "transpose_transpose": (G("  %t: f64[3,2] = Transpose(%a)\n  %u: f64[2,3] = Transpose(%t)\n"
                              "  %y: f64[2,3] = Sin(%u)\n  return %y\n"), "Transpose∘Transpose → Transpose"),
    "transpose_compose": (G("  %t: f64[3,4,2] = Transpose(%a) {perm=[1,2,0]}\n"
                            "  %u: f64[4,2,3] = Transpose(%t) {perm=[1,2,0]}\n"
                            "  %y: f64[4,2,3] = Sin(%u)\n  return %y\n", shape="2,3,4"),
                          "Transpose∘Transpose → Transpose"),
    "reshape_reshape": (G("  %r: f64[3,2] = Reshape(%a) {shape=[3,2]}\n  %s: f64[6] = Reshape(%r) {shape=[-1]}\n"
                          "  %y: f64[6] = Sin(%s)\n  return %y\n"), "Reshape∘Reshape → Reshape"),
    "reshape_back": (G("  %r: f64[6] = Reshape(%a) {shape=[6]}\n  %s: f64[2,3] = Reshape(%r) {shape=[2,3]}\n"
                       "  %y: f64[2,3] = Sin(%s)\n  return %y\n"), "Reshape∘Reshape → Reshape"),
    "identity": (G("  %i: f64[2,3] = Identity(%a)\n  %y: f64[2,3] = Sin(%i)\n  return %y\n"), "Identity(x) → x"),
    "identity_output": (G("  %y: f64[2,3] = Identity(%a)\n  return %y\n"), "Identity(x) → x"),
    "sum_one": (G("  %s: f64[2,3] = Sum(%a)\n  %y: f64[2,3] = Sin(%s)\n  return %y\n"), "Sum(x) → x"),
    "matmul_add": (G(W34 + B4 + "  %m: f64[2,4] = MatMul(%a, %w)\n  %s: f64[2,4] = Add(%m, %b)\n"
                     "  %y: f64[2,4] = Sin(%s)\n  return %y\n"), "MatMul(x, W) + b → Gemm(x, W, b)"),
    "bias_add_matmul": (G(W34 + B4 + "  %m: f64[2,4] = MatMul(%a, %w)\n  %s: f64[2,4] = Add(%b, %m)\n"
                          "  %y: f64[2,4] = Sin(%s)\n  return %y\n"), "MatMul(x, W) + b → Gemm(x, W, b)"),
}

#: name -> graph text on which no rule may fire (the reason is in the name)
UNSAFE_CASES = {
    "mul_one_broadcast_bigger": G("  %ones: f64[4,2,3] = Constant() {value=dense<f64[4,2,3]>"
                                  + str(np.ones((4, 2, 3)).tolist()).replace(" ", " ") + "}\n"
                                  "  %m: f64[4,2,3] = Mul(%a, %ones)\n  return %m\n"),
    "add_zero_broadcast_bigger": G("  %z: f64[2,2,3] = Constant() {value=dense<f64[2,2,3]>"
                                   + str(np.zeros((2, 2, 3)).tolist()) + "}\n"
                                   "  %m: f64[2,2,3] = Add(%z, %a)\n  return %m\n"),
    "mul_almost_one": G("  %c: f64[3] = Constant() {value=dense<f64[3]>[1.0, 1.0, 1.0000001]}\n"
                        "  %m: f64[2,3] = Mul(%a, %c)\n  return %m\n"),
    "mul_param_of_ones": G("  %m: f64[2,3] = Mul(%a, %q)\n  return %m\n", extra="  param %q: f64[]\n"),
    "zero_minus_x": G(ZERO + "  %m: f64[2,3] = Sub(%zero, %a)\n  return %m\n"),
    "one_over_x": G(ONE + "  %m: f64[2,3] = Div(%one, %a)\n  return %m\n"),
    "identity_of_an_input_is_an_output": G("  %y: f64[2,3] = Identity(%x)\n  return %a, %y\n"),
    "identity_of_an_output_is_an_output": G("  %y: f64[2,3] = Identity(%a)\n  return %a, %y\n"),
    "transpose_real_perm": G("  %t: f64[3,2] = Transpose(%a)\n  return %t\n"),
    "matmul_add_per_example_bias": G(W34 + "  %c: f64[2,4] = Constant() {value=dense<f64[2,4]>"
                                     "[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]}\n"
                                     "  %m: f64[2,4] = MatMul(%a, %w)\n  %s: f64[2,4] = Add(%m, %c)\n"
                                     "  return %s\n"),
    "matmul_add_second_use": G(W34 + B4 + "  %m: f64[2,4] = MatMul(%a, %w)\n  %s: f64[2,4] = Add(%m, %b)\n"
                               "  return %s, %m\n"),
}


def _canon(text):
    return cr.print_graph(cr.parse_graph(text))


def _simplified(text):
    g = cr.parse_graph(text)
    res = simplify.run(g)
    dce(g)
    cr.verify(g)
    return g, res


def _run_with_grad(g, P, X):
    """Forward output, L = Σ out², and ∂L/∂p through autodiff on this graph."""
    out = g.outputs[0]
    e = Emitter(g)
    L = e.ReduceSum(e.Square(out), keepdims=0)
    (gp,) = backward(g, [L], [g.param("p")])
    g.set_outputs([out, L, gp])
    return cr.Interpreter(g, {"p": P}).run_list([X])


@pytest.mark.parametrize("name", sorted(RULE_CASES))
def test_rule_golden(name):
    text, rule = RULE_CASES[name]
    g, res = _simplified(text)
    assert any(n.startswith(rule + " at") for n in res.notes), res.notes
    check_golden(f"simplify_{name}", _canon(text) + "// after simplify, dce\n" + cr.print_graph(g))


@pytest.mark.parametrize("name", sorted(RULE_CASES))
def test_rule_preserves_results_and_gradients(name):
    text, _ = RULE_CASES[name]
    before, after = cr.parse_graph(text), _simplified(text)[0]
    assert len(after.nodes) < len(before.nodes)
    assert [v.name for v in after.outputs] == [v.name for v in before.outputs]  # output names kept
    r = np.random.default_rng(0)
    shape = before.inputs[0].type.shape
    X, P = r.standard_normal(shape), r.standard_normal(shape)
    for want, got in zip(_run_with_grad(before, P, X), _run_with_grad(after, P, X)):
        np.testing.assert_array_equal(want, got)  # the rewrites drop exact no-ops: bit-identical


@pytest.mark.parametrize("name", sorted(UNSAFE_CASES))
def test_rule_does_not_fire_where_unsafe(name):
    text = UNSAFE_CASES[name]
    before = cr.print_graph(cr.parse_graph(text))
    g, res = _simplified(text)
    assert not res.changed and res.notes == [] and cr.print_graph(g) == before


def test_identity_output_renames_its_operand_and_gradient_references():
    g = cr.parse_graph(G("  %y: f64[2,3] = Identity(%a)\n  %z: f64[2,3] = Sin(%a)\n  return %y, %z\n"))
    simplify(g)
    assert [v.name for v in g.outputs] == ["y", "z"] and g.value("y").producer.op.name == "Mul"


def test_simplify_composes_to_a_fixed_point():
    g = cr.parse_graph(G(ONE + "  %m: f64[2,3] = Mul(%a, %one)\n  %n: f64[2,3] = Neg(%m)\n"
                         "  %nn: f64[2,3] = Neg(%n)\n  %t1: f64[3,2] = Transpose(%nn)\n"
                         "  %t2: f64[2,3] = Transpose(%t1)\n  %t: f64[3,2] = Transpose(%t2)\n  return %t\n"))
    res = simplify.run(g)
    dce(g)
    assert [n.op.name for n in g.nodes] == ["Mul", "Transpose"] and g.nodes[1].inputs[0].name == "a"
    assert len(res.notes) == 3  # x·1, −(−x), then Transpose(Transpose(a)) = a


# -- common-subexpression elimination ------------------------------------------------------

CSE_TEXT = """graph g {
  input %x: f32[3,2]
  %a: f32[2,3] = Transpose(%x) {perm=[1,0]}
  %b: f32[2,3] = Transpose(%x) {perm=[1,0]}
  %c: f32[2,3] = Mul(%a, %b)
  %k1: f32[] = Constant() {value=dense<f32[]>2.0}
  %k2: f32[] = Constant() {value=dense<f32[]>2.0}
  %k3: f32[] = Constant() {value=dense<f32[]>-0.0}
  %k4: f32[] = Constant() {value=dense<f32[]>0.0}
  %d: f32[2,3] = Mul(%b, %a)
  %e: f32[2,3] = Mul(%d, %k1)
  %f: f32[2,3] = Mul(%c, %k2)
  %g: f32[2,3] = Add(%e, %k3)
  %h: f32[2,3] = Add(%f, %k4)
  %s: f32[2,3] = Sum(%g, %h)
  return %s
}
"""


def test_cse_golden_and_results():
    g = cr.parse_graph(CSE_TEXT)
    res = cse.run(g)
    cr.verify(g)
    check_golden("cse_basic", _canon(CSE_TEXT) + "// after cse\n" + cr.print_graph(g))
    # %k2 counts as %k1 (equal arrays), so %f is %e; -0.0 and 0.0 differ, so %g and %h stay
    assert res.notes == ["%b = %a", "%d = %c", "%f = %e"]
    assert [n.name for n in g.nodes if n.op.name == "Constant"] == ["k1", "k3", "k4"]  # %k2 died with %f
    x = np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_array_equal(cr.Interpreter(cr.parse_graph(CSE_TEXT)).run_list([x])[0],
                                  cr.Interpreter(g).run_list([x])[0])


def test_cse_keeps_named_constants_unless_asked():
    text = ("graph g {\n  input %x: f32[2]\n  %lr: f32[] = Constant() {value=dense<f32[]>0.001}\n"
            "  %eps: f32[] = Constant() {value=dense<f32[]>0.001}\n  %a: f32[2] = Mul(%x, %lr)\n"
            "  %b: f32[2] = Add(%x, %eps)\n  return %a, %b\n}\n")
    g = cr.parse_graph(text)
    assert not cse.run(g).changed  # %lr and %eps keep their names
    g = cr.parse_graph(text)
    assert CSE(merge_constants=True).run(g).notes == ["%eps = %lr"] and g.nodes[2].inputs[1].name == "lr"


def test_cse_keys_compare_arrays_by_dtype_shape_and_bytes():
    a = np.array([1.0, 2.0], np.float32)
    assert freeze(a) == freeze(a.copy())
    assert freeze(a) != freeze(a.astype(np.float64)) and freeze(a) != freeze(a.reshape(2, 1))
    assert freeze(np.float64("nan")) == freeze(float("nan")) and freeze(0.0) != freeze(-0.0)
    assert freeze((1, 2)) != freeze((1.0, 2.0))


def test_cse_never_moves_a_forward_value_into_backward():
    text = """graph g {
  input %x: f32[2]
  %b: f32[2] = Exp(%x) #[phase=backward]
  %f: f32[2] = Exp(%x)
  %f2: f32[2] = Exp(%x)
  %u: f32[2] = Exp(%x) #[phase=update]
  %s: f32[2] = Sum(%b, %f, %f2, %u)
  return %s
}
"""
    g = cr.parse_graph(text)
    res = cse.run(g)
    # the forward %f may not read the earlier backward %b; %f2 and the update %u may read %f
    assert res.notes == ["%f2 = %f", "%u = %b"]
    assert [n.name for n in g.nodes] == ["b", "f", "s"]


def test_cse_keeps_output_names():
    g = cr.parse_graph("graph g {\n  input %x: f32[2]\n  %a: f32[2] = Exp(%x)\n  %b: f32[2] = Exp(%x)\n"
                       "  return %a, %b\n}\n")
    assert not cse.run(g).changed  # both are outputs: merging would lose a name
    g = cr.parse_graph("graph g {\n  input %x: f32[2]\n  %a: f32[2] = Exp(%x)\n  %b: f32[2] = Exp(%x)\n"
                       "  %c: f32[2] = Sin(%a)\n  return %c, %b\n}\n")
    assert cse.run(g).changed and [v.name for v in g.outputs] == ["c", "b"] and len(g.nodes) == 2


# -- constant folding ------------------------------------------------------------------------

FOLD_TEXT = """graph g {
  input %x: f64[2]
  param %p: f64[2]
  %lam: f64[] = Constant() {value=dense<f64[]>0.1}
  %c: f64[] = Constant() {value=dense<f64[]>0.5}
  %m: f64[] = Mul(%lam, %c) #[phase=backward]
  %v: f64[2] = Constant() {value=dense<f64[2]>[1.0, 4.0]}
  %r: f64[2] = Sqrt(%v)
  %w: f64[2] = Mul(%r, %m)
  %q: f64[2] = Mul(%p, %w)
  %y: f64[2] = Add(%x, %q)
  return %y
}
"""


def test_fold_constants_golden_and_results():
    g = cr.parse_graph(FOLD_TEXT)
    res = fold_constants.run(g)
    cr.verify(g)
    check_golden("fold_constants_basic", _canon(FOLD_TEXT) + "// after fold-constants\n" + cr.print_graph(g))
    assert [n.op.name for n in g.nodes] == ["Constant", "Mul", "Add"] and len(res.notes) == 3
    assert g.nodes[0].prov.created_by == "fold-constants"
    x, p = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_array_equal(cr.Interpreter(cr.parse_graph(FOLD_TEXT), {"p": p}).run_list([x])[0],
                                  cr.Interpreter(g, {"p": p}).run_list([x])[0])


def test_fold_constants_never_folds_parameters_big_or_non_finite_results():
    n = MAX_FOLD_ELEMENTS + 1
    big = "[" + ", ".join(["1.0"] * n) + "]"
    text = f"""graph g {{
  param %p: f64[]
  %c: f64[] = Constant() {{value=dense<f64[]>2.0}}
  %m: f64[] = Mul(%p, %c)
  %neg: f64[] = Constant() {{value=dense<f64[]>-1.0}}
  %l: f64[] = Log(%neg)
  %b: f64[{n}] = Constant() {{value=dense<f64[{n}]>{big}}}
  %e: f64[{n}] = Exp(%b)
  return %m, %l, %e
}}
"""
    g = cr.parse_graph(text)
    assert not fold_constants.run(g).changed
    # a small enough one folds
    g = cr.parse_graph(text.replace(str(n), str(MAX_FOLD_ELEMENTS)).replace(", 1.0]", "]"))
    assert fold_constants.run(g).notes == ["%e = Exp(...) folded"]


# -- folding linear layers (inference only) ---------------------------------------------------

def _deep(bias=True, mid_bias=False):
    cr.nn.manual_seed(0)
    return cr.nn.Sequential(cr.nn.Linear(5, 8, bias=bias), cr.nn.Identity(), cr.nn.Linear(8, 6, bias=mid_bias),
                            cr.nn.Linear(6, 3, bias=bias))


def test_fold_linear_golden_and_results():
    g = _deep().to_graph()
    before = cr.print_graph(g)
    pm = PassManager([simplify, fold_linear, dce])
    out = pm.run(g.clone())
    check_golden("fold_linear_three_layers", before + "// after simplify, fold-linear, dce\n" + cr.print_graph(out))
    assert [n.op.name for n in out.nodes] == ["Gemm"]
    assert [p.name for p in out.params] == ["fc1+fc2+fc3.weight", "fc1+fc2+fc3.bias"]
    W = [g.initializers[f"fc{i}.weight"].astype(np.float64) for i in (1, 2, 3)]
    np.testing.assert_allclose(out.initializers["fc1+fc2+fc3.weight"], W[2] @ W[1] @ W[0], rtol=1e-6)
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    np.testing.assert_allclose(cr.Interpreter(out).run_list([x])[0], cr.Interpreter(g).run_list([x])[0],
                               rtol=1e-5, atol=1e-6)


def test_fold_linear_matmul_chain_and_alpha_beta():
    r = np.random.default_rng(2)
    b = cr.GraphBuilder("mm", dtype="f64")
    x = b.input("x", (2, 3, 4))
    h = b.op("MatMul", x, b.param("A", r.standard_normal((4, 5))))
    y = b.op("MatMul", h, b.param("B", r.standard_normal((5, 2))))
    g = b.build(y)
    b2 = cr.GraphBuilder("gemm", dtype="f64")
    x2 = b2.input("x", (3, 4))
    h = b2.op("Gemm", x2, b2.param("W1", r.standard_normal((3, 5))), b2.param("c1", r.standard_normal((1, 5))),
              alpha=0.5, beta=2.0, transA=1)
    g2 = b2.build(b2.op("Gemm", h, b2.param("W2", r.standard_normal((2, 5))), b2.param("c2", r.standard_normal(2)),
                        transB=1, alpha=-1.5))
    for graph, xs in ((g, r.standard_normal((2, 3, 4))), (g2, r.standard_normal((3, 4)))):
        ref = cr.Interpreter(graph).run_list([xs])[0]
        out = graph.clone()
        assert fold_linear.run(out).changed and len(out.nodes) == 1
        cr.verify(out)
        np.testing.assert_allclose(cr.Interpreter(out).run_list([xs])[0], ref, rtol=1e-12)
    assert out.params[0].name == "W1+W2.weight"


def test_fold_linear_not_across_a_nonlinearity_or_a_second_use():
    cr.nn.manual_seed(0)
    relu = cr.nn.Sequential(cr.nn.Linear(5, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3)).to_graph()
    assert not fold_linear.run(relu).changed
    b = cr.GraphBuilder("two_uses")
    x = b.input("x", ("N", 5))
    h = b.op("Gemm", x, b.param("w1", np.ones((8, 5), np.float32)), transB=1)
    g = b.build(b.op("Gemm", h, b.param("w2", np.ones((3, 8), np.float32)), transB=1), h)
    assert not fold_linear.run(g).changed  # %h is an output too: it must still be computed


def test_fold_linear_never_in_training():
    model = _deep()
    step = cr.compile_train(model, loss="squared_error")
    assert [n.op.name for n in step.graph.nodes].count("Gemm") >= 3  # the training step keeps every layer
    fold_linear_notes = [r.notes for r in step.history if r.name == "fold-linear"]
    assert fold_linear_notes == []  # not in the training pipeline at all
    r = np.random.default_rng(0)
    x, t = r.standard_normal((8, 5)).astype(np.float32), r.standard_normal((8, 3)).astype(np.float32)
    step(x, t)
    before = step.evaluate(x, t)["loss"]
    for _ in range(5):
        step(x, t)
    after = step.evaluate(x, t)["loss"]  # the evaluation graph reads the live (trained) weights
    assert after < before
    # and the pass itself refuses a graph with updates
    assert not fold_linear.run(step.graph).changed


# -- in the pipelines -----------------------------------------------------------------------------

def _train_graph(simplified):
    """An MLP training step with weight decay and Adam, with or without the clean-ups."""
    model = cr.nn.mlp([6, 5, 4], "sigmoid", seed=0)
    g, loss = build_objective(model.to_graph(), get_loss("cross_entropy", targets="one_hot"), ["accuracy"], 0.01)
    passes = training_pipeline(loss=loss, optimizer=AdamUpdate(lr=0.01))
    if not simplified:
        passes = [p for p in passes if p.name not in ("simplify", "cse", "fold-constants")]
    return cr.compile(g, passes)


def test_training_pipeline_with_clean_ups_gives_the_same_steps():
    plain, clean = _train_graph(False), _train_graph(True)
    assert len(clean.graph.nodes) < len(plain.graph.nodes)
    x, t = batch((6, 5, 4))
    for _ in range(3):  # the clean-ups drop exact no-ops and repeats, and fold with the runtime's kernels
        np.testing.assert_array_equal(clean(x, t), plain(x, t))
    for k in plain.params:
        np.testing.assert_array_equal(clean.params[k], plain.params[k])


def test_inference_pipeline_order():
    names = [p.name for p in inference_pipeline()]
    assert names.index("simplify") < names.index("fuse-softmax-ce") < names.index("cse")
    assert names.index("fold-linear") < names.index("dce")
    assert "fold-linear" not in [p.name for p in inference_pipeline(freeze_params=False)]


def test_cse_merges_commutative_operands_in_either_order():
    b = cr.GraphBuilder("g")
    x, y = b.input("x", (3,)), b.input("y", (2, 3))
    g = b.build(cr.exp(x * y) + cr.exp(y * x), (x - y) + (y - x))  # Sub is not commutative
    xs = [np.array([0.1, 0.2, 0.3], np.float32), np.ones((2, 3), np.float32)]
    before = cr.Interpreter(g.clone()).run_list(xs)
    from chainrule.passes.cse import cse
    assert cse.run(g).changed
    ops = [n.op.name for n in g.nodes]
    assert ops.count("Mul") == 1 and ops.count("Exp") == 1 and ops.count("Sub") == 2
    for a, b_ in zip(before, cr.Interpreter(g).run_list(xs)):
        np.testing.assert_array_equal(a, b_)


def test_matmul_plus_bias_layers_as_exporters_write_them_fold_into_one_gemm():
    """(x W1 + b1) W2 + b2, the MatMul + Add form ONNX exporters emit: simplify makes each layer a
    Gemm, and fold-linear makes the two one layer (the lecture's deep linear network)."""
    r = np.random.default_rng(0)
    b = cr.GraphBuilder("g")
    x = b.input("x", ("N", 5))
    W1, b1 = b.param("W1", r.standard_normal((5, 8)).astype(np.float32)), b.param("b1", np.ones(8, np.float32))
    W2, b2 = b.param("W2", r.standard_normal((8, 3)).astype(np.float32)), b.param("b2", np.ones(3, np.float32))
    g = b.build((x @ W1 + b1) @ W2 + b2)
    X = r.standard_normal((4, 5)).astype(np.float32)
    want = cr.compile(g, pipeline=[])(X)
    exe = cr.compile(g)
    assert [n.op.name for n in exe.graph.nodes] == ["Gemm"]
    np.testing.assert_allclose(exe(X), want, rtol=1e-5, atol=1e-5)
