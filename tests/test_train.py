"""compile_train end to end: digits, the lecture's XOR cases, determinism, guards, losses."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.frontends.train.step import NonFiniteLossError

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_T = np.array([0, 1, 1, 0], np.float32)


def digits_split():
    X, y = cr.datasets.load_digits()
    Xtr, Xte, ytr, yte = cr.datasets.train_test_split(X, y, 0.2, seed=0)
    Xtr, Xte = cr.datasets.standardize(Xtr, Xte)
    return Xtr, Xte, ytr, yte


def test_digits_mlp_reaches_95_percent_test_accuracy():
    Xtr, Xte, ytr, yte = digits_split()
    step = cr.compile_train(cr.nn.mlp([64, 64, 10], seed=0), optimizer=cr.optim.SGD(lr=0.1, momentum=0.9))
    for epoch in range(10):
        step.fit_epoch(Xtr, ytr, batch_size=32, seed=0, epoch=epoch)
    acc = np.mean(step.predict(Xte).argmax(1) == yte)
    assert acc >= 0.95, f"test accuracy {acc:.4f}"
    assert step.evaluate(Xte, yte)["accuracy"] == pytest.approx(acc, abs=1e-6)


def train_full_batch(model, x, t, steps, loss="binary_cross_entropy", optimizer=None):
    step = cr.compile_train(model, loss=loss, optimizer=optimizer or cr.optim.SGD(lr=1.0))
    for _ in range(steps):
        step(x, t)
    return step


def xor_accuracy(step, x):
    return float(np.mean((step.predict(x)[:, 0] > 0.5) == (XOR_T > 0.5)))


def test_xor_logistic_regression_on_raw_inputs_cannot_reach_100_percent():
    """XOR is not linearly separable: a linear classifier gets at most 3 of the 4 points right."""
    for seed in range(3):
        step = train_full_batch(cr.nn.Sequential(cr.nn.Linear(2, 1, seed=seed)), XOR_X, XOR_T, 500)
        assert xor_accuracy(step, XOR_X) <= 0.75
    # and no line does it: every sign pattern of a dense grid of (w1, w2, b) misses a point
    w = np.linspace(-3, 3, 25)
    W1, W2, B = np.meshgrid(w, w, w, indexing="ij")
    pred = (XOR_X[:, 0, None, None, None] * W1 + XOR_X[:, 1, None, None, None] * W2 + B) > 0
    assert not np.any(np.all(pred == (XOR_T[:, None, None, None] > 0.5), axis=0))


def test_xor_logistic_regression_on_the_feature_map_psi_reaches_100_percent():
    """ψ(x) = (x1, x2, x1·x2) makes XOR linearly separable (lecture)."""
    psi = np.column_stack([XOR_X, XOR_X[:, 0] * XOR_X[:, 1]]).astype(np.float32)
    step = train_full_batch(cr.nn.Sequential(cr.nn.Linear(3, 1, seed=0)), psi, XOR_T, 2000)
    assert xor_accuracy(step, psi) == 1.0


def test_xor_mlp_with_a_hidden_layer_learns_it():
    model = cr.nn.Sequential(cr.nn.Linear(2, 4, seed=0), cr.nn.Tanh(), cr.nn.Linear(4, 1, seed=1))
    step = train_full_batch(model, XOR_X, XOR_T, 300, optimizer=cr.optim.Adam(lr=0.05))
    assert xor_accuracy(step, XOR_X) == 1.0


def test_xor_hand_set_hard_threshold_network_is_exact():
    """h1 = 𝕀[x1 + x2 − 0.5 > 0] (OR), h2 = 𝕀[x1 + x2 − 1.5 > 0] (AND), y = 𝕀[h1 − h2 − 0.5 > 0]."""
    fc1, fc2 = cr.nn.Linear(2, 2), cr.nn.Linear(2, 1)
    fc1.weight[:] = [[1, 1], [1, 1]]
    fc1.bias[:] = [-0.5, -1.5]
    fc2.weight[:] = [[1, -1]]
    fc2.bias[:] = [-0.5]
    model = cr.nn.Sequential(fc1, cr.nn.HardThreshold(), fc2, cr.nn.HardThreshold())
    y = cr.compile(model)(XOR_X)
    np.testing.assert_array_equal(y[:, 0], XOR_T)
    h = cr.compile(cr.nn.Sequential(fc1, cr.nn.HardThreshold()))(XOR_X)
    np.testing.assert_array_equal(h[:, 0], np.logical_or(XOR_X[:, 0], XOR_X[:, 1]))   # h1 = OR
    np.testing.assert_array_equal(h[:, 1], np.logical_and(XOR_X[:, 0], XOR_X[:, 1]))  # h2 = AND


def run_seeded(seed):
    Xtr, _, ytr, _ = digits_split()
    step = cr.compile_train(cr.nn.mlp([64, 16, 10], seed=seed), optimizer=cr.optim.Adam(lr=0.01))
    step.fit_epoch(Xtr[:256], ytr[:256], batch_size=32, seed=seed, epoch=0)
    return step


def test_training_is_deterministic_with_a_seed():
    a, b = run_seeded(3), run_seeded(3)
    assert cr.print_graph(a.graph) == cr.print_graph(b.graph)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    c = run_seeded(4)
    assert not np.array_equal(a.params["fc1.weight"], c.params["fc1.weight"])


def test_step_returns_the_loss_before_the_update_and_params_are_live(rng):
    model = cr.nn.mlp([4, 3], seed=0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    t = rng.integers(0, 3, 8)
    step = cr.compile_train(model, optimizer=cr.optim.SGD(lr=0.5))
    before = step.evaluate(x, t)["loss"]
    w = step.params["fc1.weight"]
    assert step(x, t) == pytest.approx(before, rel=1e-6)
    assert step.params["fc1.weight"] is w and w is model.modules[0].weight  # updated in place
    assert step.evaluate(x, t)["loss"] < before
    p = step.predict(x)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)  # softmax probabilities


def test_one_hot_and_index_targets_give_the_same_step(rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    t = rng.integers(0, 3, 6)
    a = cr.compile_train(cr.nn.mlp([4, 3], seed=1))
    b = cr.compile_train(cr.nn.mlp([4, 3], seed=1), targets="one_hot")
    assert a(x, t) == pytest.approx(b(x, np.eye(3, dtype=np.float32)[t]), rel=1e-6)
    np.testing.assert_allclose(a.params["fc1.weight"], b.params["fc1.weight"], rtol=1e-6)


def test_wrong_target_kind_is_a_clear_error(rng):
    step = cr.compile_train(cr.nn.mlp([4, 3], seed=0))
    x = rng.standard_normal((6, 4)).astype(np.float32)
    with pytest.raises(cr.ChainruleError, match="targets='one_hot'"):
        step(x, np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]])
    with pytest.raises(cr.ChainruleError, match="unknown loss 'hinge'"):
        cr.compile_train(cr.nn.mlp([4, 3]), loss="hinge")


def test_binary_cross_entropy_from_logits_matches_numpy(rng):
    model = cr.nn.Sequential(cr.nn.Linear(3, 1, seed=0, dtype=cr.DType.f64))
    x, t = rng.standard_normal((7, 3)), (rng.random(7) > 0.5).astype(np.float64)
    step = cr.compile_train(model, loss="binary_cross_entropy")
    z = x @ model.modules[0].weight.T[:, 0] + model.modules[0].bias[0]
    y = 1 / (1 + np.exp(-z))
    assert step.evaluate(x, t)["loss"] == pytest.approx(np.mean(-t * np.log(y) - (1 - t) * np.log(1 - y)), rel=1e-12)


def test_squared_error_regression_loss_decreases(rng):
    x = rng.standard_normal((16, 2)).astype(np.float32)
    t = (x @ np.array([[2.0], [-1.0]], np.float32) + 0.5)
    step = cr.compile_train(cr.nn.Sequential(cr.nn.Linear(2, 1, seed=0)), loss="squared_error",
                            optimizer=cr.optim.SGD(lr=0.1))
    first = step(x, t)
    for _ in range(200):
        last = step(x, t)
    assert last < 1e-3 * first
    np.testing.assert_allclose(step.params["fc1.weight"], [[2.0, -1.0]], atol=1e-2)


def test_non_finite_loss_stops_with_the_step_number(rng):
    step = cr.compile_train(cr.nn.mlp([4, 3], seed=0))
    x = rng.standard_normal((4, 4)).astype(np.float32)
    t = np.array([0, 1, 2, 0])
    step(x, t)
    x[1, 2] = np.nan
    with pytest.raises(NonFiniteLossError, match="training step 2: the loss is nan"):
        step(x, t)


def test_check_numerics_names_the_first_node_producing_nan(rng):
    step = cr.compile_train(cr.nn.mlp([4, 3], seed=0), check_numerics=True)
    x = rng.standard_normal((4, 4)).astype(np.float32)
    x[0, 0] = np.inf
    w = step.params["fc1.weight"].copy()
    with pytest.raises(NonFiniteLossError, match=r"training step 1: first non-finite value: node %fc1 \(Gemm, forward"):
        step(x, np.array([0, 1, 2, 0]))
    np.testing.assert_array_equal(step.params["fc1.weight"], w)  # stopped before the update


def test_training_pipeline_is_registered():
    assert "training" in cr.passes.PIPELINES
    names = [p.name for p in cr.passes.training_pipeline("loss")]
    assert names.index("autodiff") < names.index("optimizer")


def test_squared_error_on_one_hot_targets_reports_accuracy_by_argmax():
    """The lecture's MLP with squared error on K outputs: accuracy compares argmax(y) with argmax(t)."""
    cr.nn.manual_seed(0)
    step = cr.compile_train(cr.nn.mlp([2, 8, 2], activation="sigmoid", seed=0), loss="squared_error",
                            optimizer=cr.optim.SGD(lr=0.5))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    T = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    res = step.evaluate(X, T)
    assert set(res) == {"loss", "accuracy"} and 0.0 <= res["accuracy"] <= 1.0
    pred = step.predict(X)
    assert res["accuracy"] == np.mean(pred.argmax(1) == T.argmax(1))
    # a single regression output has no accuracy
    reg = cr.compile_train(cr.nn.mlp([2, 4, 1], seed=0), loss="squared_error")
    assert set(reg.evaluate(X, T[:, :1])) == {"loss"}
