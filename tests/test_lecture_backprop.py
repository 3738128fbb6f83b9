"""The lecture's worked examples of backprop, as tests, in its notation (v̄ = dL/dv).

Each builds the lecture's computation graph, runs the autodiff pass, and checks the
emitted gradient nodes against the lecture's closed forms (float64, to 1e-12).
"""
import numpy as np

import chainrule as cr
from chainrule.ir import verify
from chainrule.passes import backward
from chainrule.passes.autodiff import FAN_IN_RULE
from chainrule.runtime import Interpreter
from golden import check_golden


def sigma(z):
    return 1 / (1 + np.exp(-z))


def _l2_logistic(lam=0.1, w=0.7, b=-0.3):
    """z = wx + b, y = σ(z), L = ½(y − t)², R = ½w², L_reg = L + λR."""
    B = cr.GraphBuilder("l2_logistic", dtype="f64")
    x, t = B.input("x", ()), B.input("t", ())
    w_, b_ = B.param("w", np.array(w)), B.param("b", np.array(b))
    z = B.op("Add", B.op("Mul", w_, x, name="wx"), b_, name="z")
    y = B.op("Sigmoid", z, name="y")
    L = B.op("Mul", B.constant(np.array(0.5), "half"), B.op("Square", B.op("Sub", y, t, name="y_t")), name="L")
    R = B.op("Mul", B.constant(np.array(0.5), "half"), B.op("Square", w_, name="w2"), name="R")
    L_reg = B.op("Add", L, B.op("Mul", B.constant(np.array(lam), "lambda"), R, name="lamR"), name="L_reg")
    return B.build(L_reg)


def test_l2_regularized_logistic_least_squares():
    """w̄ = z̄x + R̄w: w has two uses (wx and R), so w̄ is an explicit Σ node; b̄ = z̄."""
    lam, w, b = 0.1, 0.7, -0.3
    g = _l2_logistic(lam, w, b)
    grad_w, grad_b = backward(g, [g.outputs[0]], [g.param("w"), g.param("b")])
    g.set_outputs(list(g.outputs) + [grad_w, grad_b])
    verify(g)
    acc = grad_w.producer
    assert acc.op.name == "Sum" and len(acc.inputs) == 2 and acc.prov.rule == FAN_IN_RULE
    assert acc.prov.grad_of == "w"
    check_golden("lecture_l2_logistic_backward", cr.print_graph(g))
    for x, t in [(1.5, 1.0), (-2.0, 0.0), (0.25, 0.3)]:
        L_reg, gw, gb = Interpreter(g).run_list([np.array(x), np.array(t)])
        z = w * x + b
        y = sigma(z)
        y_bar = y - t
        z_bar = y_bar * y * (1 - y)  # z̄ = ȳ σ′(z)
        R_bar = lam
        np.testing.assert_allclose(L_reg, 0.5 * (y - t) ** 2 + lam * 0.5 * w ** 2, rtol=1e-12)
        np.testing.assert_allclose(gw, z_bar * x + R_bar * w, rtol=1e-12)  # w̄ = z̄x + R̄w
        np.testing.assert_allclose(gb, z_bar, rtol=1e-12)  # b̄ = z̄


def test_multivariate_chain_rule_f_of_x_of_t_and_y_of_t():
    """f(x, y) = y + e^{xy}, x = cos t, y = t²:  t̄ = x̄ dx/dt + ȳ dy/dt."""
    B = cr.GraphBuilder("chain", dtype="f64")
    t = B.input("t", ())
    x = B.op("Cos", t, name="x")
    y = B.op("Square", t, name="y")
    f = B.op("Add", y, B.op("Exp", B.op("Mul", x, y, name="xy")), name="f")
    g = B.build(f)
    (t_bar,) = backward(g, [f.value], [g.value("t")])
    assert t_bar.producer.op.name == "Sum"  # t has two children: x and y
    g.set_outputs([f.value, t_bar])
    for tv in [0.3, -1.1, 2.0]:
        xv, yv = np.cos(tv), tv ** 2
        df_dt = (yv * np.exp(xv * yv)) * (-np.sin(tv)) + (1 + xv * np.exp(xv * yv)) * 2 * tv
        np.testing.assert_allclose(Interpreter(g).run_list([np.array(tv)])[1], df_dt, rtol=1e-12)


def test_softmax_regression_gradient_is_y_minus_t_times_x():
    """z = Wx + b, y = softmax(z), L = −tᵀ log y:  ∂L/∂w_k = (y_k − t_k) x."""
    rng = np.random.default_rng(3)
    K, D, N = 4, 5, 6
    W0, b0 = rng.standard_normal((K, D)), rng.standard_normal(K)
    B = cr.GraphBuilder("softmax_regression", dtype="f64")
    x, t = B.input("x", ("N", D)), B.input("t", ("N", K))
    W, b = B.param("W", W0), B.param("b", b0)
    y = cr.softmax(B.op("Gemm", x, W, b, transB=1, name="z"))
    L = cr.cross_entropy(y, t, reduction="mean")
    g = B.build(L)
    gW, gb = backward(g, [L.value], [g.param("W"), g.param("b")])
    g.set_outputs([gW, gb])
    X = rng.standard_normal((N, D))
    T = np.eye(K)[rng.integers(0, K, N)]
    Z = X @ W0.T + b0
    Y = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    got_W, got_b = Interpreter(g).run_list([X, T])
    for k in range(K):  # row k of W: (1/N) Σᵢ (y_k⁽ⁱ⁾ − t_k⁽ⁱ⁾) x⁽ⁱ⁾
        np.testing.assert_allclose(got_W[k], ((Y[:, k] - T[:, k])[:, None] * X).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(got_b, (Y - T).mean(axis=0), rtol=1e-12)
    # one example: exactly (y_k − t_k) x
    got_W1, _ = Interpreter(g).run_list([X[:1], T[:1]])
    np.testing.assert_allclose(got_W1, np.outer(Y[0] - T[0], X[0]), rtol=1e-12)


def _two_layer_mlp(W1, b1, W2, b2):
    """z = W⁽¹⁾x + b⁽¹⁾, h = σ(z), y = W⁽²⁾h + b⁽²⁾, L = ½‖t − y‖² (examples as rows)."""
    B = cr.GraphBuilder("mlp", dtype="f64")
    x, t = B.input("x", ("N", W1.shape[1])), B.input("t", ("N", W2.shape[0]))
    P = {n: B.param(n, a) for n, a in (("W1", W1), ("b1", b1), ("W2", W2), ("b2", b2))}
    z = B.op("Gemm", x, P["W1"], P["b1"], transB=1, name="z")
    h = B.op("Sigmoid", z, name="h")
    y = B.op("Gemm", h, P["W2"], P["b2"], transB=1, name="y")
    L = B.op("SquaredError", y, t, reduction="sum", name="L")
    return B.build(L)


def test_two_layer_mlp_vectorized_backprop():
    """ȳ = y − t, W̄⁽²⁾ = ȳhᵀ, b̄⁽²⁾ = ȳ, h̄ = W⁽²⁾ᵀȳ, z̄ = h̄ ∘ σ′(z), W̄⁽¹⁾ = z̄xᵀ, b̄⁽¹⁾ = z̄."""
    rng = np.random.default_rng(4)
    D, H, K = 3, 4, 2
    W1, b1 = rng.standard_normal((H, D)), rng.standard_normal(H)
    W2, b2 = rng.standard_normal((K, H)), rng.standard_normal(K)
    g = _two_layer_mlp(W1, b1, W2, b2)
    wrt = [g.param(n) for n in ("W1", "b1", "W2", "b2")] + [g.value("h"), g.value("z")]
    grads = backward(g, [g.outputs[0]], wrt)
    assert [v.name for v in grads] == ["grad_W1", "grad_b1", "grad_W2", "grad_b2", "grad_h", "grad_z"]
    g.set_outputs(grads)
    verify(g)
    x, t = rng.standard_normal(D), rng.standard_normal(K)  # one example, column vectors as in the lecture
    gW1, gb1, gW2, gb2, gh, gz = Interpreter(g).run_list([x[None], t[None]])
    z = W1 @ x + b1
    h = sigma(z)
    y = W2 @ h + b2
    y_bar = y - t
    h_bar = W2.T @ y_bar
    z_bar = h_bar * sigma(z) * (1 - sigma(z))
    np.testing.assert_allclose(gW2, np.outer(y_bar, h), rtol=1e-12)
    np.testing.assert_allclose(gb2, y_bar, rtol=1e-12)
    np.testing.assert_allclose(gh[0], h_bar, rtol=1e-12)
    np.testing.assert_allclose(gz[0], z_bar, rtol=1e-12)
    np.testing.assert_allclose(gW1, np.outer(z_bar, x), rtol=1e-12)
    np.testing.assert_allclose(gb1, z_bar, rtol=1e-12)


def test_two_layer_mlp_backward_golden():
    rng = np.random.default_rng(5)
    g = _two_layer_mlp(rng.standard_normal((4, 3)), np.zeros(4), rng.standard_normal((2, 4)), np.zeros(2))
    grads = backward(g, [g.outputs[0]], list(g.params))
    g.set_outputs(list(g.outputs) + grads)
    verify(g)
    check_golden("lecture_mlp_backward", cr.print_graph(g))
