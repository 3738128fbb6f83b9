"""Autodiff on whole networks: second order (Hessian-vector products), a 784-256-256-10
MLP against hand-written NumPy backprop and finite differences, and a 1,000-layer MLP."""
import time

import numpy as np

import chainrule as cr
from chainrule.ir import DType, Emitter, verify
from chainrule.passes import backward, dce
from chainrule.runtime import Interpreter


def _mlp_graph(sizes, act, dtype, seed=0, reduction="mean"):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(cr.nn.Linear(a, b, seed=seed + i, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(act())
    model = cr.nn.Sequential(*layers)
    B = cr.GraphBuilder("mlp", dtype=dtype)
    x, t = B.input("x", ("N", sizes[0])), B.input("t", ("N", sizes[-1]))
    L = cr.softmax_cross_entropy(model(x), t, reduction=reduction)
    return B.build(L), model


def test_hessian_vector_product_matches_finite_differences():
    """Hv = ∇⟨∇L, v⟩: backward applied to the backward graph, checked against
    (∇L(θ + εv) − ∇L(θ − εv)) / 2ε in float64."""
    rng = np.random.default_rng(0)
    for act in (cr.nn.Tanh, cr.nn.Sigmoid):
        g, _ = _mlp_graph([3, 5, 4, 2], act, DType.f64, seed=7)
        params = list(g.params)
        L = g.outputs[0]
        grads = backward(g, [L], params)
        e = Emitter(g)
        vs = [g.add_input(f"v_{p.name}", p.type) for p in params]
        dots = [e.ReduceSum(e.Mul(gp, v), axes=None, keepdims=0) for gp, v in zip(grads, vs)]
        gv = e.Sum(*dots, name="g_dot_v")
        hvs = backward(g, [gv], params)
        # the second gradients are new values; the first-order gradients keep their names
        assert [v.name for v in grads] == [f"grad_{p.name}" for p in params]
        assert all(h.name.startswith(f"grad_{p.name}.") for p, h in zip(params, hvs))
        g.set_outputs([L] + grads + hvs)
        verify(g)
        dce(g)
        X, T = rng.standard_normal((6, 3)), np.eye(2)[rng.integers(0, 2, 6)]
        V = [rng.standard_normal(p.type.shape) for p in params]
        theta = {p.name: g.initializers[p.name].copy() for p in params}
        n = len(params)

        def run(shift):
            ps = {k: theta[k] + shift * v for k, v in zip(theta, V)}
            return Interpreter(g, params=ps).run_list([X, T] + V)
        out = run(0.0)
        hv = out[1 + n:]
        eps = 1e-5
        plus, minus = run(eps)[1:1 + n], run(-eps)[1:1 + n]
        for p, h, gp, gm in zip(params, hv, plus, minus):
            np.testing.assert_allclose(h, (gp - gm) / (2 * eps), rtol=1e-5, atol=1e-8,
                                       err_msg=f"Hv for %{p.name} ({act.__name__})")


def _numpy_backprop(Ws, bs, X, T):
    """Hand-written backprop of a ReLU MLP with mean softmax cross-entropy (float64)."""
    hs, zs = [X], []
    for i, (W, b) in enumerate(zip(Ws, bs)):
        z = hs[-1] @ W.T + b
        zs.append(z)
        hs.append(np.maximum(z, 0) if i < len(Ws) - 1 else z)
    z = zs[-1]
    y = np.exp(z - z.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    z_bar = (y - T) / len(X)
    gW, gb = [], []
    for i in reversed(range(len(Ws))):
        gW.append(z_bar.T @ hs[i])
        gb.append(z_bar.sum(0))
        if i:
            h_bar = z_bar @ Ws[i]
            z_bar = h_bar * (zs[i - 1] > 0)
    return gW[::-1], gb[::-1]


def test_784_256_256_10_mlp_gradient_matches_numpy_backprop_float32():
    sizes = [784, 256, 256, 10]
    g, model = _mlp_graph(sizes, cr.nn.ReLU, DType.f32, seed=11)
    exe = cr.compile(g, pipeline="gradient")
    names = [v.name for v in exe.graph.outputs[1:]]
    assert names == ["grad_fc1.weight", "grad_fc1.bias", "grad_fc2.weight", "grad_fc2.bias",
                     "grad_fc3.weight", "grad_fc3.bias"]
    rng = np.random.default_rng(1)
    X = rng.random((32, 784), dtype=np.float32)
    T = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 32)]
    outs = exe(X, T)
    Ws = [m.weight.astype(np.float64) for m in model.modules if isinstance(m, cr.nn.Linear)]
    bs = [m.bias.astype(np.float64) for m in model.modules if isinstance(m, cr.nn.Linear)]
    gW, gb = _numpy_backprop(Ws, bs, X.astype(np.float64), T.astype(np.float64))
    want = [a for pair in zip(gW, gb) for a in pair]
    for name, got, ref in zip(names, outs[1:], want):
        assert got.dtype == np.float32
        # float32 gradients vs the float64 reference: entries are O(1e-2), float32 rounding of
        # 784-term sums is O(1e-7), so an absolute 1e-5 is tight yet robust.
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=name)


def test_784_256_256_10_mlp_gradient_matches_finite_differences_float64():
    sizes = [784, 256, 256, 10]
    g, _ = _mlp_graph(sizes, cr.nn.ReLU, DType.f64, seed=21)
    params = list(g.params)
    grads = backward(g, [g.outputs[0]], params)
    g.set_outputs([g.outputs[0]] + grads)
    dce(g)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((8, 784))
    T = np.eye(10)[rng.integers(0, 10, 8)]
    theta = {p.name: g.initializers[p.name] for p in params}
    base = Interpreter(g, params=theta).run_list([X, T])
    eps = 1e-6
    for _ in range(3):
        D = {k: rng.standard_normal(a.shape) for k, a in theta.items()}

        def loss(s):
            return float(Interpreter(g, params={k: theta[k] + s * D[k] for k in theta}).run_list([X, T])[0])
        fd = (loss(eps) - loss(-eps)) / (2 * eps)
        vjp = sum(float(np.sum(gv * D[p.name])) for p, gv in zip(params, base[1:]))
        assert np.isclose(vjp, fd, rtol=1e-6, atol=1e-9), (vjp, fd)


def test_thousand_layer_mlp_backward_builds_without_recursion():
    """1,000 Linear+Tanh layers: building the backward graph is iterative (no recursion limit).
    The time is printed for the report, never asserted (machines are noisy)."""
    layers = []
    for i in range(1000):
        layers += [cr.nn.Linear(4, 4, seed=i), cr.nn.Tanh()]
    model = cr.nn.Sequential(*layers)
    B = cr.GraphBuilder("deep")
    x, t = B.input("x", ("N", 4)), B.input("t", ("N", 4))
    L = cr.squared_error(model(x), t)
    g = B.build(L)
    t0 = time.perf_counter()
    grads = backward(g, [L.value], list(g.params))
    dt = time.perf_counter() - t0
    print(f"\n1000-layer MLP: backward graph of {len(g.nodes)} nodes built in {dt:.3f} s")
    assert len(grads) == 2000
    g.set_outputs([L.value] + grads)
    verify(g)
    outs = Interpreter(g).run_list([np.full((2, 4), 0.1, np.float32), np.zeros((2, 4), np.float32)])
    assert all(np.all(np.isfinite(o)) for o in outs)
