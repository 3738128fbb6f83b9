"""Convolutional networks end to end: cr.nn layers, the backward IR of a small CNN (golden),
training and inference modes, checkpoints with running statistics, and (when torch is
installed, ``pip install torch``; never a dependency) equality with PyTorch."""
import numpy as np
import pytest

import chainrule as cr
from golden import check_golden

nn = cr.nn


def small_cnn(seed=0):
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * 2 * 2, 3, seed=seed + 1))


def bn_cnn(seed=0, p=0.25):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(p, seed=seed + 1), nn.Linear(4 * 4 * 4, 10, seed=seed + 2))


def test_small_cnn_backward_ir_is_golden():
    """x̄ of the conv is pruned (x is data); W̄ is one ConvFilterGrad: the Σ over positions."""
    step = cr.compile_train(small_cnn(), input_shape=("N", 1, 4, 4), optimizer=cr.optim.SGD(lr=0.1))
    text = cr.print_graph(step.graph)
    check_golden("cnn_small_train_step", text)
    assert "ConvFilterGrad(%x, " in text and "MaxPoolGrad(" in text


def test_conv_input_gradient_is_a_conv_transpose():
    g = small_cnn().to_graph(("N", 1, 4, 4))
    x = g.inputs[0]
    from chainrule.passes import backward
    e = cr.Emitter(g)
    loss = e.ReduceSum(g.outputs[0], axes=None, keepdims=0)
    (gx,) = backward(g, [loss], [x])
    assert gx.producer.op.name == "ConvTranspose"
    assert gx.producer.prov.rule.startswith("x̄ = ConvTranspose(ȳ, W)")


def test_named_parameters_and_buffers_in_pytorch_order():
    m = bn_cnn()
    assert [n for n, _ in m.named_parameters()] == [
        "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "fc1.weight", "fc1.bias"]
    assert [n for n, _ in m.named_buffers()] == ["bn1.running_mean", "bn1.running_var", "dropout1.step"]
    w = dict(m.named_parameters())["conv1.weight"]
    assert w.shape == (4, 1, 3, 3) and np.abs(w).max() <= 1 / 3  # Kaiming-uniform a=√5: ±1/√fan_in
    np.testing.assert_array_equal(w, bn_cnn().named_parameters()[0][1])  # seeded


def test_training_mode_steps_and_inference_mode_predicts():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    t = rng.integers(0, 10, 16)
    m = bn_cnn()
    step = cr.compile_train(m, input_shape=("N", 1, 8, 8), optimizer=cr.optim.SGD(lr=0.1))
    ops = {n.op.name for n in step.graph.nodes}
    assert {"BatchNormTraining", "DropoutMask"} <= ops
    assert {n.op.name for n in step.predict_graph.nodes}.isdisjoint({"BatchNormTraining", "DropoutMask"})
    updated = {p.name for p, _ in step.graph.updates}
    assert {"bn1.running_mean", "bn1.running_var", "dropout1.step"} <= updated
    bn = m.modules[1]
    step(x, t)
    mean = x.mean(axis=(0, 2, 3))  # conv1's output statistics, not x's: only check they moved
    assert not np.allclose(bn.running_mean, 0) and int(m.modules[5].step) == 1 and mean.shape == (1,)
    # predict is deterministic (inference mode: running statistics, no dropout)
    np.testing.assert_array_equal(step.predict(x), step.predict(x))
    line = [ln for ln in cr.print_graph(step.graph).splitlines() if "new_bn1.running_var" in ln][0]
    assert "phase=update" in line


def test_checkpoint_holds_running_statistics_and_resume_is_bit_exact(tmp_path):
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((4, 8, 1, 8, 8)).astype(np.float32)
    ts = rng.integers(0, 10, (4, 8))

    def fresh():
        return cr.compile_train(bn_cnn(), input_shape=("N", 1, 8, 8), optimizer=cr.optim.SGD(lr=0.1, momentum=0.9))
    a = fresh()
    for k in range(2):
        a(xs[k], ts[k])
    path = cr.checkpoint.save(str(tmp_path / "ckpt.npz"), a)
    with np.load(path) as f:
        assert {"bn1.running_mean", "bn1.running_var", "dropout1.step"} <= set(f.files)
    rest_a = [a(xs[k], ts[k]) for k in (2, 3)]
    b = fresh()
    cr.checkpoint.load(path, b)
    rest_b = [b(xs[k], ts[k]) for k in (2, 3)]
    assert rest_a == rest_b


def test_compile_with_input_shape_and_cost_counts_conv_multiply_adds():
    m = nn.Sequential(nn.Conv2d(1, 6, 5, seed=0))
    exe = cr.compile(m, input_shape=("N", 1, 28, 28))
    y = exe(np.zeros((2, 1, 28, 28), np.float32))
    assert y.shape == (2, 6, 24, 24)
    conv = [n for n in exe.graph.nodes if n.op.name == "Conv"][0]
    ins = [v.type for v in conv.inputs]
    assert conv.op.flops(ins, [conv.outputs[0].type], conv.attrs, {"N": 2}) == 2 * 6 * 24 * 24 * 25


def test_backward_of_a_cnn_costs_about_twice_the_forward():
    """The lecture's ≈ 2×: each linear op's backward is two products of its forward's size."""
    from chainrule.frontends.inspect.cost import cost_ledger
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, seed=0), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1, seed=1),
                      nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10, seed=2))
    step = cr.compile_train(m, input_shape=("N", 3, 8, 8))
    ratio = cost_ledger(step.graph, {"N": 32}).backward_forward_ratio
    assert 1.6 < ratio < 2.2, ratio


# -- against PyTorch (skipped without torch) ------------------------------------------
try:
    import torch  # noqa: F811
except ImportError:  # pragma: no cover
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch)")


def _torch_model(m):
    """The same model in PyTorch, with chainrule's parameter arrays copied in."""
    tn = torch.nn
    layers = []
    for mod in m.modules:
        name = type(mod).__name__
        if name == "Conv2d":
            t = tn.Conv2d(mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                          mod.groups, mod.bias is not None)
        elif name == "Linear":
            t = tn.Linear(mod.in_f, mod.out_f, mod.bias is not None)
        elif name in ("BatchNorm1d", "BatchNorm2d"):
            t = getattr(tn, name)(mod.num_features, eps=mod.eps, momentum=mod.momentum)
        elif name == "MaxPool2d":
            t = tn.MaxPool2d(mod.kernel_size, mod.stride, mod.padding, ceil_mode=mod.ceil_mode)
        elif name == "AvgPool2d":
            t = tn.AvgPool2d(mod.kernel_size, mod.stride, mod.padding, ceil_mode=mod.ceil_mode,
                             count_include_pad=mod.count_include_pad)
        elif name == "AdaptiveAvgPool2d":
            t = tn.AdaptiveAvgPool2d(1)
        else:
            t = {"Relu": tn.ReLU, "ReLU": tn.ReLU, "Flatten": tn.Flatten}[name]()
        for pname, arr in mod.named_parameters():
            getattr(t, pname.rsplit(".", 1)[1]).data = torch.tensor(np.array(arr, np.float64))
        layers.append(t)
    return tn.Sequential(*layers).double()


def _model_zoo():
    return [
        nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, seed=0), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                      nn.Flatten(), nn.Linear(4 * 2 * 2, 3, seed=1)),
        nn.Sequential(nn.Conv2d(2, 4, 3, dilation=2, groups=2, seed=2), nn.AvgPool2d(3, 2, padding=1),
                      nn.Conv2d(4, 4, 1, bias=False, seed=3), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, seed=4), nn.BatchNorm2d(3), nn.ReLU(),
                      nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), nn.Flatten(), nn.BatchNorm1d(48)),
    ]


@needs_torch
@pytest.mark.parametrize("k", range(3))
@pytest.mark.parametrize("training", [False, True])
def test_layers_and_gradients_equal_pytorch(k, training):
    m = _model_zoo()[k]
    rng = np.random.default_rng(k)
    for mod in m.modules:  # float64 copies, so the comparison is of the maths, not of rounding
        for attr in ("weight", "bias", "running_mean", "running_var"):
            if getattr(mod, attr, None) is not None:
                setattr(mod, attr, np.array(getattr(mod, attr), np.float64))
        if hasattr(mod, "running_var"):
            mod.running_mean[:] = rng.standard_normal(mod.running_mean.shape)
            mod.running_var[:] = rng.uniform(0.5, 2, mod.running_var.shape)
    x = rng.standard_normal((4, 2, 7, 7))
    g = m.to_graph((4, 2, 7, 7), dtype=cr.DType.f64, training=training)
    tm = _torch_model(m)
    tm.train(training)
    for mod, t in zip(m.modules, tm):
        if hasattr(mod, "running_var"):
            t.running_mean.data = torch.tensor(mod.running_mean.copy())
            t.running_var.data = torch.tensor(mod.running_var.copy())
    params = [v for v in g.params if v.kind == "param"]
    e = cr.Emitter(g)
    c = rng.standard_normal(g.outputs[0].shape)
    ct = g.add_input("cot", cr.TensorType(c.shape, cr.DType.f64))
    loss = e.ReduceSum(e.Mul(g.outputs[0], ct), axes=None, keepdims=0)
    from chainrule.passes import backward
    grads = backward(g, [loss], params)
    g.set_outputs([g.outputs[0]] + grads)
    outs = cr.Interpreter(g).run_list([x, c])
    xt = torch.tensor(x)
    yt = tm(xt)
    (yt * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(outs[0], yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    tparams = [p for p in tm.parameters()]
    assert len(tparams) == len(grads)
    for (name, _), gv, tp in zip([(v.name, 0) for v in params], outs[1:], tparams):
        np.testing.assert_allclose(gv, tp.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    for mod, t in zip(m.modules, tm):  # the run updated the module's own arrays in place (training only),
        if hasattr(mod, "running_var"):  # with PyTorch's momentum and unbiased variance
            np.testing.assert_allclose(g.initializers[f"{mod.name}.running_var"], t.running_var.numpy(), rtol=1e-9)
            np.testing.assert_allclose(g.initializers[f"{mod.name}.running_mean"], t.running_mean.numpy(),
                                       rtol=1e-9, atol=1e-12)


@needs_torch
def test_default_init_has_pytorch_bounds():
    c = nn.Conv2d(3, 8, 5, seed=0)
    t = torch.nn.Conv2d(3, 8, 5)
    bound = 1 / np.sqrt(3 * 25)
    assert np.abs(c.weight).max() <= bound and np.abs(t.weight.detach().numpy()).max() <= bound
    assert np.abs(c.weight).max() > 0.9 * bound and np.abs(c.bias).max() <= bound


def test_chainrule_train_model_cnn_learns_the_digits_and_draws_its_filters(tmp_path, capsys):
    from chainrule.frontends.cli import main as cli
    out = tmp_path / "run"
    assert cli.main(["train", "--model", "cnn", "--epochs", "6", "--out", str(out)]) == 0
    acc = float(capsys.readouterr().out.split("test accuracy")[1].split()[0])
    assert acc >= 0.95, acc  # the default 20 epochs reach about 0.99
    import json
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["model"] == "cnn"
    assert "conv1.weight" in (out / "train_step.ir").read_text()
    assert "features.png" in summary["files"] or any("features.png" in s for s in summary["skipped"])


def test_explain_grad_of_a_conv_weight_shows_the_filter_gradient(capsys):
    from chainrule.frontends.cli import main as cli
    assert cli.main(["explain", "--grad", "conv1.weight", "cnn"]) == 0
    text = capsys.readouterr().out
    assert "%grad_conv1.weight: f32[4,1,3,3] = ConvFilterGrad(%x, %grad_conv1)" in text
    assert "Σ over positions" in text


def test_dump_and_cost_work_on_a_cnn(tmp_path, capsys):
    from chainrule.frontends.cli import main as cli
    assert cli.main(["dump", "cnn", "--out", str(tmp_path / "d")]) == 0
    assert any("= Conv(%x, %conv1.weight" in p.read_text(encoding="utf-8") for p in (tmp_path / "d").glob("*.ir"))
    assert "ConvFilterGrad" in (tmp_path / "d" / "report.html").read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["cost", "cnn"]) == 0
    out = capsys.readouterr().out
    assert "ConvFilterGrad" in out and "backward / forward multiply-adds" in out
