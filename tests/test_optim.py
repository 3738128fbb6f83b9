"""Optimizers as IR: one step equals the lecture's rule; momentum and Adam equal their NumPy formulas."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.frontends.train.optim import OptimizerError
from chainrule.passes import AdamUpdate, SGDUpdate
from golden import check_golden

F64 = cr.DType.f64


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def softmax_regression(rng, d=3, k=4, seed=0):
    return cr.nn.Sequential(cr.nn.Linear(d, k, seed=seed, dtype=F64))


def data(rng, n=5, d=3, k=4):
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def grads_softmax_regression(W, b, x, t):
    """The lecture's gradient of the mean cross-entropy: (1/N) Σ (y − t) xᵀ."""
    T = np.eye(W.shape[0])[t]
    Y = softmax(x @ W.T + b)
    return (Y - T).T @ x / len(x), (Y - T).mean(axis=0)


def test_one_sgd_step_is_the_lecture_rule_softmax_regression(rng):
    # w_k ← w_k − α (1/N) Σᵢ (y_k⁽ⁱ⁾ − t_k⁽ⁱ⁾) x⁽ⁱ⁾   (lecture, softmax regression)
    model = softmax_regression(rng)
    x, t = data(rng)
    W0, b0 = model.modules[0].weight.copy(), model.modules[0].bias.copy()
    step = cr.compile_train(model, optimizer=cr.optim.SGD(lr=0.5))
    L = step(x, t)
    gW, gb = grads_softmax_regression(W0, b0, x, t)
    Y = softmax(x @ W0.T + b0)
    assert L == pytest.approx(-np.mean(np.log(Y[np.arange(len(t)), t])), rel=1e-12)  # the loss before the update
    np.testing.assert_allclose(step.params["fc1.weight"], W0 - 0.5 * gW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(step.params["fc1.bias"], b0 - 0.5 * gb, rtol=1e-12, atol=1e-14)


def test_one_sgd_step_on_a_small_mlp_matches_backprop_by_hand(rng):
    model = cr.nn.Sequential(cr.nn.Linear(3, 5, seed=1, dtype=F64), cr.nn.ReLU(),
                             cr.nn.Linear(5, 4, seed=2, dtype=F64))
    x, t = data(rng)
    W1, b1 = model.modules[0].weight.copy(), model.modules[0].bias.copy()
    W2, b2 = model.modules[2].weight.copy(), model.modules[2].bias.copy()
    step = cr.compile_train(model, optimizer=cr.optim.SGD(lr=0.1))
    step(x, t)
    # backprop by hand, in the lecture's bar notation
    z1 = x @ W1.T + b1
    h = np.maximum(z1, 0)
    z2 = h @ W2.T + b2
    z2_bar = (softmax(z2) - np.eye(4)[t]) / len(x)
    W2_bar, b2_bar = z2_bar.T @ h, z2_bar.sum(0)
    h_bar = z2_bar @ W2
    z1_bar = h_bar * (z1 > 0)
    W1_bar, b1_bar = z1_bar.T @ x, z1_bar.sum(0)
    for name, w0, g in (("fc1.weight", W1, W1_bar), ("fc1.bias", b1, b1_bar),
                        ("fc2.weight", W2, W2_bar), ("fc2.bias", b2, b2_bar)):
        np.testing.assert_allclose(step.params[name], w0 - 0.1 * g, rtol=1e-12, atol=1e-14, err_msg=name)


def test_momentum_matches_numpy_formula(rng):
    model = softmax_regression(rng)
    x, t = data(rng)
    W, b = model.modules[0].weight.copy(), model.modules[0].bias.copy()
    step = cr.compile_train(model, optimizer=cr.optim.SGD(lr=0.3, momentum=0.9))
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    for _ in range(4):
        step(x, t)
        gW, gb = grads_softmax_regression(W, b, x, t)
        vW, vb = 0.9 * vW + gW, 0.9 * vb + gb          # v ← μv + ∇
        W, b = W - 0.3 * vW, b - 0.3 * vb              # w ← w − αv
    np.testing.assert_allclose(step.params["fc1.weight"], W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(step.state["fc1.weight.velocity"], vW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(step.params["fc1.bias"], b, rtol=1e-12, atol=1e-14)


def test_adam_matches_numpy_formula(rng):
    model = softmax_regression(rng)
    x, t = data(rng)
    W, b = model.modules[0].weight.copy(), model.modules[0].bias.copy()
    lr, (b1, b2), eps = 0.05, (0.8, 0.99), 1e-7
    step = cr.compile_train(model, optimizer=cr.optim.Adam(lr=lr, betas=(b1, b2), eps=eps))
    m = [np.zeros_like(W), np.zeros_like(b)]
    v = [np.zeros_like(W), np.zeros_like(b)]
    ps = [W, b]
    for k in range(1, 5):
        step(x, t)
        gs = grads_softmax_regression(ps[0], ps[1], x, t)
        for i, g in enumerate(gs):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat, v_hat = m[i] / (1 - b1 ** k), v[i] / (1 - b2 ** k)
            ps[i] = ps[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(step.params["fc1.weight"], ps[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(step.params["fc1.bias"], ps[1], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(step.state["fc1.weight.m"], m[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(step.state["fc1.weight.v"], v[0], rtol=1e-10, atol=1e-15)
    assert float(step.state["adam.step"]) == 4.0


def test_weight_decay_adds_lambda_w_to_the_gradient_of_weights_not_biases(rng):
    # ℒ_reg = ℒ + λℛ, ℛ = ½Σw²  =>  w̄ = ∂ℒ/∂w + λw; the bias is not regularised
    model = softmax_regression(rng)
    x, t = data(rng)
    W, b = model.modules[0].weight.copy(), model.modules[0].bias.copy()
    step = cr.compile_train(model, optimizer=cr.optim.SGD(lr=0.2, weight_decay=0.1))
    step(x, t)
    gW, gb = grads_softmax_regression(W, b, x, t)
    np.testing.assert_allclose(step.params["fc1.weight"], W - 0.2 * (gW + 0.1 * W), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(step.params["fc1.bias"], b - 0.2 * gb, rtol=1e-12, atol=1e-14)


def test_update_nodes_are_in_the_graph_with_provenance_and_state_params(rng):
    step = cr.compile_train(softmax_regression(rng), optimizer=cr.optim.Adam(lr=0.01), keep_text=True)
    g = step.graph
    # as the optimizer pass left it (later passes may fuse the update arithmetic)
    after = cr.parse_graph({r.name: r.text for r in step.history}["optimizer"])
    upd = [n for n in after.nodes if n.prov.phase == "update"]
    assert upd and all(n.prov.created_by == "optimizer" for n in upd)
    assert [p.name for p in g.params if p.kind == "state"] == [
        "lr", "adam.step", "fc1.weight.m", "fc1.weight.v", "fc1.bias.m", "fc1.bias.v"]
    targets = [p.name for p, _ in g.updates]
    assert "fc1.weight" in targets and "fc1.weight.m" in targets and "adam.step" in targets
    assert [v.name for v in g.outputs] == ["loss", "accuracy"]  # gradients are not outputs any more
    cr.verify(g)
    assert cr.print_graph(cr.parse_graph(cr.print_graph(g))) == cr.print_graph(g)


def test_keep_grads_leaves_gradients_as_outputs(rng):
    g = softmax_regression(rng).to_graph(dtype=F64)
    from chainrule.frontends.train.step import build_objective
    from chainrule.frontends.train.objectives import get_loss
    obj, name = build_objective(g, get_loss("cross_entropy"), [])
    out = cr.PassManager(cr.passes.training_pipeline(name, optimizer=SGDUpdate(0.1, keep_grads=True))).run(obj)
    assert [v.name for v in out.outputs] == ["loss", "grad_fc1.weight", "grad_fc1.bias"]


def test_optimizer_before_autodiff_is_a_clear_error(rng):
    g = softmax_regression(rng).to_graph(dtype=F64)
    with pytest.raises(cr.ChainruleError, match="run the autodiff pass first"):
        cr.PassManager([AdamUpdate()]).run(g)


@pytest.mark.parametrize("make, match", [
    (lambda: cr.optim.SGD(lr=0), "lr must be in"),
    (lambda: cr.optim.SGD(lr=0.1, momentum=1.0), "momentum must be in"),
    (lambda: cr.optim.SGD(lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda: cr.optim.Adam(lr=0.1, betas=(0.9,)), "betas must be a pair"),
    (lambda: cr.optim.Adam(lr=0.1, eps=0), "eps must be in"),
    (lambda: cr.optim.SGD(lr="fast"), "lr must be a number"),
])
def test_bad_hyperparameters_are_clear_errors(make, match):
    with pytest.raises(OptimizerError, match=match):
        make()


def _logistic_step(optimizer, **kw):
    model = cr.nn.Sequential(cr.nn.Linear(2, 1, seed=0))
    return cr.compile_train(model, loss="binary_cross_entropy", optimizer=optimizer, metrics=[], keep_text=True, **kw)


def test_golden_optimizer_pass_before_and_after():
    """The optimizer pass on a 2-input logistic regression: IR after autodiff, then with momentum updates."""
    step = _logistic_step(cr.optim.SGD(lr=0.5, momentum=0.9))
    texts = {r.name: r.text for r in step.history}
    check_golden("optimizer_sgd_momentum_before", texts["autodiff"])
    check_golden("optimizer_sgd_momentum_after", texts["optimizer"])


def test_optimizer_pass_preserves_results(rng):
    """Outputs before the pass (loss, w̄) and after (loss, update) agree: new w = w − α w̄."""
    from chainrule.passes import Autodiff, dce, infer_shapes, toposort
    model = cr.nn.Sequential(cr.nn.Linear(2, 1, seed=0))
    from chainrule.frontends.train.objectives import get_loss
    from chainrule.frontends.train.step import build_objective
    obj, name = build_objective(model.to_graph(), get_loss("binary_cross_entropy"), [])
    before = cr.PassManager([infer_shapes, toposort, Autodiff(name)]).run(obj.clone())
    after = cr.PassManager([SGDUpdate(lr=0.5), dce]).run(before.clone())
    x = rng.standard_normal((6, 2)).astype(np.float32)
    t = (rng.random((6, 1)) > 0.5).astype(np.float32)
    params = {k: v.copy() for k, v in before.initializers.items()}
    loss_b, gw, gb = cr.Interpreter(before, params=params).run_list([x, t])
    live = {k: v.copy() for k, v in after.initializers.items()}
    (loss_a,) = cr.Interpreter(after, params=live).run_list([x, t])
    assert loss_a == loss_b
    np.testing.assert_array_equal(live["fc1.weight"], params["fc1.weight"] - np.float32(0.5) * gw)
    np.testing.assert_array_equal(live["fc1.bias"], params["fc1.bias"] - np.float32(0.5) * gb)


# -- learning-rate schedules as IR, AdamW, frozen hyperparameters ------------------------------------
def _sr5():
    """Softmax regression, 5 inputs, 3 classes, f32, the same weights every call."""
    return cr.nn.Sequential(cr.nn.Linear(5, 3, seed=0))


SCHEDULE_CASES = [cr.optim.ConstantLR(), cr.optim.StepLR(4, gamma=0.5), cr.optim.CosineLR(10, min_lr=0.01),
                  cr.optim.WarmupCosineLR(3, 10)]


@pytest.mark.parametrize("schedule", SCHEDULE_CASES, ids=lambda s: s.name)
def test_schedule_nodes_compute_the_python_formula_alpha_k(schedule, rng):
    """The %lr state before step k equals schedule.value(α₀, k), past the end of the schedule too."""
    step = cr.compile_train(_sr5(), optimizer=cr.optim.SGD(lr=0.2, schedule=schedule))
    x, t = rng.standard_normal((4, 5)).astype(np.float32), rng.integers(0, 3, 4)
    seen = []
    for _ in range(13):
        seen.append(step.lr)
        step(x, t)
    want = [schedule.value(0.2, k) for k in range(13)]
    np.testing.assert_allclose(seen, want, rtol=1e-6, atol=1e-8)
    text = cr.print_graph(step.graph)
    assert "state %lr: f32[]" in text
    assert ("update %lr <- %new_lr" in text) == (schedule.name != "constant")


def test_scheduled_rate_is_the_one_the_update_uses(rng):
    """A StepLR run equals a constant-rate run whose step.lr is set to α_k before each step k."""
    sched = cr.optim.StepLR(1, gamma=0.5)
    step = cr.compile_train(_sr5(), optimizer=cr.optim.SGD(lr=0.4, momentum=0.9, schedule=sched), metrics=[])
    ref = cr.compile_train(_sr5(), optimizer=cr.optim.SGD(lr=0.4, momentum=0.9), metrics=[])
    x, t = rng.standard_normal((4, 5)).astype(np.float32), rng.integers(0, 3, 4)
    for k in range(4):
        ref.lr = sched.value(0.4, k)
        assert step(x, t) == ref(x, t)
        np.testing.assert_allclose(step.params["fc1.weight"], ref.params["fc1.weight"], rtol=1e-6, atol=1e-8)


def test_golden_cosine_schedule_before_and_after():
    """The optimizer pass with CosineLR: %lr is state, and the schedule's nodes are phase=update."""
    step = _logistic_step(cr.optim.SGD(lr=0.5, schedule=cr.optim.CosineLR(100)))
    texts = {r.name: r.text for r in step.history}
    check_golden("optimizer_sgd_cosine_before", texts["autodiff"])
    check_golden("optimizer_sgd_cosine_after", texts["optimizer"])
    after = cr.parse_graph(texts["optimizer"])
    sched = [n for n in after.nodes if n.prov.rule == cr.optim.CosineLR.rule]
    assert sched and all(n.prov.phase == "update" for n in sched)
    assert any(n.op.name == "Cos" for n in sched)


def test_adamw_is_adam_with_decoupled_decay_on_weights_only(rng):
    """AdamW: w ← w − α(m̂/(√v̂+ε) + λw) for weights, biases undecayed, nothing added to the loss."""
    lam, lr = 0.1, 0.01
    a = cr.compile_train(_sr5(), optimizer=cr.optim.Adam(lr=lr), metrics=[])
    w = cr.compile_train(_sr5(), optimizer=cr.optim.AdamW(lr=lr, weight_decay=lam), metrics=[], keep_text=True)
    x, t = rng.standard_normal((4, 5)).astype(np.float32), rng.integers(0, 3, 4)
    before = {k: v.copy() for k, v in w.params.items()}
    assert a(x, t) == w(x, t)  # the same loss: no L2 term
    step_w = before["fc1.weight"] - a.params["fc1.weight"]  # Adam's α m̂/(√v̂+ε)
    np.testing.assert_allclose(w.params["fc1.weight"], before["fc1.weight"] - step_w - lr * lam * before["fc1.weight"],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w.params["fc1.bias"], a.params["fc1.bias"], rtol=1e-6)
    after = {r.name: r.text for r in w.history}["optimizer"]  # before fusion merges the update nodes
    assert "decoupled weight decay" in after and "Mul(%weight_decay, %fc1.weight)" in after
    assert "Mul(%weight_decay, %fc1.bias)" not in after


def test_a_changed_hyperparameter_is_an_error_and_step_lr_takes_effect(rng):
    opt = cr.optim.SGD(lr=0.1)
    with pytest.raises(OptimizerError, match="SGD.lr cannot change"):
        opt.lr = 0
    step = cr.compile_train(_sr5(), optimizer=opt)
    x, t = rng.standard_normal((4, 5)).astype(np.float32), rng.integers(0, 3, 4)
    step.lr = 0.0  # the %lr state: the next step really uses it
    w = step.params["fc1.weight"].copy()
    step(x, t)
    np.testing.assert_array_equal(step.params["fc1.weight"], w)
    assert step.lr == 0.0


def test_fit_epoch_without_epoch_shuffles_anew_each_call(rng):
    X, y = rng.standard_normal((40, 5)).astype(np.float32), rng.integers(0, 3, 40)
    implicit = cr.compile_train(_sr5(), optimizer=cr.optim.SGD(0.1))
    explicit = cr.compile_train(_sr5(), optimizer=cr.optim.SGD(0.1))
    same = cr.compile_train(_sr5(), optimizer=cr.optim.SGD(0.1))
    for ep in range(2):
        implicit.fit_epoch(X, y, batch_size=8)
        explicit.fit_epoch(X, y, batch_size=8, epoch=ep)
        same.fit_epoch(X, y, batch_size=8, epoch=0)  # what the old default did: one order for every epoch
    np.testing.assert_array_equal(implicit.params["fc1.weight"], explicit.params["fc1.weight"])
    assert not np.array_equal(implicit.params["fc1.weight"], same.params["fc1.weight"])
