"""Softmax + cross-entropy fusion: golden IR, results preserved, never fires when unsafe, ±1000 logits."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.passes import backward
from chainrule.passes.fusion import fuse_softmax_ce
from golden import check_golden


def _loss_graph(loss_fn, classes=4, name="ce", extra_outputs=False):
    b = cr.GraphBuilder(name, dtype="f64")
    z = b.input("z", ("N", classes))
    t = b.input("t", ("N", classes))
    out = loss_fn(z, t)
    return b.build(*(out if isinstance(out, tuple) else (out,)))


LOSSES = {
    "ce_mean": lambda z, t: cr.cross_entropy(cr.softmax(z), t),
    "ce_sum": lambda z, t: cr.cross_entropy(cr.softmax(z), t, reduction="sum"),
    "ce_none": lambda z, t: cr.cross_entropy(cr.softmax(z), t, reduction="none"),
    "nll_mean": lambda z, t: -(t * cr.log_softmax(z)).sum(axis=1).mean(),
    "nll_sum": lambda z, t: -(t * cr.log_softmax(z)).sum(),
    "nll_none": lambda z, t: (-(cr.log_softmax(z) * t)).sum(axis=1),
}


def _data(rng, n=5, k=4, scale=1.0):
    z = rng.standard_normal((n, k)) * scale
    t = np.eye(k)[rng.integers(0, k, n)]
    return z, t


def _grad_graph(g):
    z = g.value("z")
    out = g.outputs[0]
    if out.type.shape != ():
        e = cr.Emitter(g)
        out = e.ReduceSum(out, keepdims=0)
        g.outputs.append(out)
    gz, = backward(g, [out], [z])
    g.outputs.append(gz)
    return g


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_fusion_fires_and_preserves_loss_and_gradient(kind, rng):
    g = _loss_graph(LOSSES[kind])
    before = cr.print_graph(g)
    fused = g.clone()
    assert fuse_softmax_ce(fused).changed
    cr.verify(fused)
    assert [n.op.name for n in fused.nodes] == ["SoftmaxCrossEntropy"]
    want_red = kind.split("_")[1]
    assert fused.nodes[0].attrs["reduction"] == want_red
    assert fused.outputs[0].name == g.outputs[0].name  # the loss keeps its name
    check_golden(f"fusion_softmax_ce_{kind}", before + "// after fuse-softmax-ce\n" + cr.print_graph(fused))
    z, t = _data(rng)
    a = cr.Interpreter(_grad_graph(g.clone())).run_list([z, t])
    b = cr.Interpreter(_grad_graph(fused)).run_list([z, t])
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


UNSAFE = {
    # the probabilities are also returned: fusing would lose them
    "probs_returned": lambda z, t: (cr.cross_entropy(cr.softmax(z), t), cr.softmax(z) * 1.0),
    # softmax over the batch axis is not the class softmax
    "softmax_axis0": lambda z, t: cr.cross_entropy(cr.softmax(z, axis=0), t),
    # the log-probabilities have a second use
    "logp_reused": lambda z, t: (lambda lp: -(t * lp).sum() + lp.sum())(cr.log_softmax(z)),
    # a mean over the classes is not the cross-entropy
    "mean_over_classes": lambda z, t: -(t * cr.log_softmax(z)).mean(),
    # no minus sign: not a negative log-likelihood
    "no_minus": lambda z, t: (t * cr.log_softmax(z)).sum(),
    # a plain loss of softmax (squared error) is not fused
    "squared_error": lambda z, t: cr.squared_error(cr.softmax(z), t),
}


@pytest.mark.parametrize("kind", sorted(UNSAFE))
def test_fusion_never_fires_where_unsafe(kind):
    g = _loss_graph(UNSAFE[kind])
    if kind == "probs_returned":  # the same softmax value feeds the loss and an output
        sm = next(n for n in g.nodes if n.op.name == "Softmax")
        other = [n for n in g.nodes if n.op.name == "Softmax" and n is not sm]
        for n in other:
            n.outputs[0].replace_all_uses_with(sm.outputs[0])
        g.remove_nodes(other)
    before = cr.print_graph(g)
    assert not fuse_softmax_ce(g).changed
    assert cr.print_graph(g) == before


def test_logits_of_1000_nan_unfused_finite_fused():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 500.0]])
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    g = _loss_graph(LOSSES["ce_mean"], classes=3)
    fused = g.clone()
    assert fuse_softmax_ce(fused).changed
    with np.errstate(all="ignore"):
        L0, gz0 = cr.Interpreter(_grad_graph(g)).run_list([z, t])
    L1, gz1 = cr.Interpreter(_grad_graph(fused)).run_list([z, t])
    assert not np.all(np.isfinite(gz0)) or not np.isfinite(L0)  # -t / softmax(z) divides by 0
    assert np.all(np.isfinite(gz1)) and np.isfinite(L1)
    sm = np.exp(z - z.max(1, keepdims=True))
    sm /= sm.sum(1, keepdims=True)
    np.testing.assert_allclose(gz1, (sm - t) / 2, atol=1e-12)  # the closed form (y − t)/N
    np.testing.assert_allclose(L1, (2000.0 + 2000.0) / 2)


def test_fused_loss_gradient_matches_finite_differences(rng):
    g = _loss_graph(LOSSES["nll_mean"])
    assert fuse_softmax_ce(g).changed
    g = _grad_graph(g)
    z, t = _data(rng)
    run = cr.Interpreter(g)
    _, gz = run.run_list([z, t])
    eps, num = 1e-6, np.zeros_like(z)
    for i in np.ndindex(z.shape):
        d = np.zeros_like(z)
        d[i] = eps
        num[i] = (run.run_list([z + d, t])[0] - run.run_list([z - d, t])[0]) / (2 * eps)
    np.testing.assert_allclose(gz, num, rtol=1e-6, atol=1e-8)


def test_fused_gradient_is_exact_for_targets_that_do_not_sum_to_one():
    """Soft or padded targets (rows not summing to 1): the fused rule keeps softmax(z)·Σt − t."""
    import chainrule as cr
    from chainrule.passes import backward
    from chainrule.passes.fusion import fuse_softmax_ce

    def grads(fuse):
        b = cr.GraphBuilder("g", dtype="f64")
        z, t = b.input("z", (3, 4)), b.input("t", (3, 4))
        L = cr.cross_entropy(cr.softmax(z), t)
        g = b.build(L)
        if fuse:
            fuse_softmax_ce(g)
            assert [n.op.name for n in g.nodes][-1] == "SoftmaxCrossEntropy"
        (gz,) = backward(g, [g.outputs[0]], [g.inputs[0]])
        g.set_outputs([g.outputs[0], gz])
        return cr.Interpreter(g).run_list([Z, T])
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((3, 4))
    T = np.abs(rng.standard_normal((3, 4)))
    T[1] = 0.0  # a padded row
    (l0, g0), (l1, g1) = grads(False), grads(True)
    np.testing.assert_allclose(l1, l0, rtol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-12)
