"""CNNs through ONNX: the training step of a CNN with batch norm exported and run in onnxruntime equals
chainrule, the exported inference model round-trips, and (when torch is installed) CNNs exported by
PyTorch's TorchScript exporter import and run equal to PyTorch."""
import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import chainrule as cr
from chainrule.frontends.onnx.exporter import export_model

nn = cr.nn


def bn_cnn(seed=0):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, stride=2, padding=(1, 1), groups=2, seed=seed + 1),
                         nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(), nn.Linear(6, 10, seed=seed + 2))


def _session(m):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def test_cnn_training_step_in_onnxruntime_equals_chainrule():
    rng = np.random.default_rng(0)
    step = cr.compile_train(bn_cnn(), input_shape=("N", 1, 8, 8), optimizer=cr.optim.SGD(lr=0.1, momentum=0.9))
    m = export_model(step)
    onnx.checker.check_model(m, full_check=True)
    names = [o.name for o in m.graph.output]
    sess = _session(m)
    state = {p.name: np.array(step.graph.initializers[p.name]) for p in step.graph.params}
    for _ in range(3):
        x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
        t = rng.integers(0, 10, 8)
        outs = dict(zip(names, sess.run(None, {"x": x, "t": t, **state})))
        np.testing.assert_allclose(outs["loss"], step(x, t), rtol=1e-5)
        state = {p: outs.get(p + ".next", v) for p, v in state.items()}  # %lr without a schedule has no update
    for p, v in state.items():  # weights, momentum and the running statistics
        np.testing.assert_allclose(v, step.graph.initializers[p], rtol=1e-4, atol=1e-6, err_msg=p)


def test_cnn_inference_model_round_trips_and_runs_in_onnxruntime():
    rng = np.random.default_rng(1)
    model = bn_cnn()
    for mod in model.modules:
        if hasattr(mod, "running_var"):
            mod.running_mean[:] = rng.standard_normal(4)
            mod.running_var[:] = rng.uniform(0.5, 2, 4)
    exe = cr.compile(model, input_shape=("N", 1, 8, 8))
    m = export_model(cr.nn.Sequential(*model.modules).to_graph(("N", 1, 8, 8)))
    onnx.checker.check_model(m, full_check=True)
    x = rng.standard_normal((3, 1, 8, 8)).astype(np.float32)
    want = exe(x)
    np.testing.assert_allclose(_session(m).run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cr.compile(cr.import_onnx(m))(x), want, rtol=1e-6, atol=1e-7)


def test_gradient_ops_export_as_onnx_sub_graphs_equal_to_chainrule():
    """ConvFilterGrad, MaxPoolGrad and AveragePoolGrad (with ceil_mode and pads) as ONNX."""
    rng = np.random.default_rng(2)
    b = cr.GraphBuilder("grads", dtype="f32")
    x = b.input("x", (2, 4, 7, 6))
    w = b.param("w", rng.standard_normal((6, 2, 3, 2)).astype(np.float32))
    y = b.op("Conv", x, w, strides=(2, 1), pads=(1, 0, 1, 1), group=2)
    p = b.op("MaxPool", x, kernel_shape=(2, 2), strides=(2, 2), ceil_mode=1)
    a = b.op("AveragePool", x, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), ceil_mode=1)
    L = (y * y).sum() + (p * p).sum() + (a * a * a).sum()
    g = b.build(L)
    from chainrule.passes import backward
    (gx, gw) = backward(g, [g.outputs[0]], [g.inputs[0], g.params[0]])
    g.set_outputs([g.outputs[0], gx, gw])
    ops = {n.op.name for n in g.nodes}
    assert {"ConvFilterGrad", "MaxPoolGrad", "AveragePoolGrad", "ConvTranspose"} <= ops
    xv = rng.standard_normal((2, 4, 7, 6)).astype(np.float32)
    want = cr.Interpreter(g).run_list([xv])
    m = export_model(g)
    onnx.checker.check_model(m, full_check=True)
    got = _session(m).run(None, {"x": xv})
    for a_, b_ in zip(got, want):
        np.testing.assert_allclose(a_, b_, rtol=1e-4, atol=1e-5)
    g2 = cr.import_onnx(m)
    assert {n.op.name for n in g2.nodes} >= {"ConvFilterGrad", "MaxPoolGrad", "AveragePoolGrad"}




try:
    import torch  # noqa: F811
except ImportError:  # pragma: no cover
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch==2.13.0)")
try:
    import onnxscript  # noqa: F401  (what torch.onnx.export(dynamo=True) writes ONNX with)
except ImportError:  # pragma: no cover
    onnxscript = None
needs_dynamo = pytest.mark.skipif(torch is None or onnxscript is None,
                                  reason="PyTorch's dynamo exporter needs pip install torch==2.13.0 onnxscript")


def _torch_cnn():
    tn = torch.nn
    torch.manual_seed(0)
    m = tn.Sequential(tn.Conv2d(1, 4, 3, padding=1), tn.BatchNorm2d(4), tn.ReLU(), tn.MaxPool2d(2, ceil_mode=True),
                      tn.Conv2d(4, 6, 3, stride=2, groups=2, dilation=1),
                      tn.AvgPool2d(2, padding=1, count_include_pad=False), tn.ConvTranspose2d(6, 3, 2, stride=2),
                      tn.ReLU(), tn.AdaptiveAvgPool2d(1), tn.Flatten(), tn.Linear(3, 5), tn.Dropout(0.5))
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    return m.eval()


@needs_torch
def test_torch_exported_cnn_imports_equal_to_torch():
    m = _torch_cnn()
    x = torch.randn(3, 1, 9, 9)
    f = io.BytesIO()
    torch.onnx.export(m, (x,), f, opset_version=17, dynamo=False, input_names=["x"], do_constant_folding=False,
                      dynamic_axes={"x": {0: "N"}})
    g = cr.import_onnx(f.getvalue())
    ops = {n.op.name for n in g.nodes}
    assert {"Conv", "BatchNormalization", "MaxPool", "AveragePool", "ConvTranspose", "GlobalAveragePool"} <= ops
    with torch.no_grad():
        want = m(x).numpy()
    np.testing.assert_allclose(cr.compile(g)(x.numpy()), want, rtol=1e-5, atol=1e-5)


def _cnn_with_loss(seed):
    """A small torch CNN and its cross-entropy loss in one module class (instances share the net)."""
    tn = torch.nn
    torch.manual_seed(seed)
    net = tn.Sequential(tn.Conv2d(1, 3, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(3, 4, 3, stride=2),
                        tn.AvgPool2d(1), tn.Flatten(), tn.Linear(4, 5))

    class WithLoss(tn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, t):
            return tn.functional.cross_entropy(self.net(x), t)
    return WithLoss


@needs_torch
def test_chainrule_grad_of_a_torch_exported_cnn_loss_equals_torch_autograd(tmp_path):
    from chainrule.frontends.cli import main as cli
    WithLoss = _cnn_with_loss(seed=1)
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([0, 3, 1, 4])
    path = tmp_path / "loss.onnx"
    torch.onnx.export(WithLoss(), (x, t), str(path), opset_version=17, dynamo=False, input_names=["x", "t"],
                      export_params=True, do_constant_folding=False)
    np.savez(tmp_path / "in.npz", x=x.numpy(), t=t.numpy())
    assert cli.main(["grad", str(path), "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "g.npz")]) == 0
    loss = WithLoss()(x, t)
    loss.backward()
    got = np.load(tmp_path / "g.npz")
    for name, p in WithLoss().named_parameters():
        np.testing.assert_allclose(got[name], p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def _dynamo_export(module, args, optimize):
    """ONNX bytes from PyTorch's dynamo exporter (torch.export, then onnxscript)."""
    program = torch.onnx.export(module, args, dynamo=True, optimize=optimize, verbose=False,
                                dynamic_shapes=({0: torch.export.Dim("N")},) if len(args) == 1 else None)
    return program.model_proto.SerializeToString()


@needs_dynamo
@pytest.mark.parametrize("optimize", [False, True], ids=["as-traced", "optimized"])
def test_dynamo_exported_cnn_imports_equal_to_torch(optimize):
    m = _torch_cnn()
    x = torch.randn(3, 1, 9, 9)
    g = cr.import_onnx(_dynamo_export(m, (x,), optimize))
    ops = {n.op.name for n in g.nodes}
    assert {"Conv", "MaxPool", "AveragePool", "ConvTranspose"} <= ops
    if not optimize:   # the optimizer folds the batch norm into the convolution before it
        assert "BatchNormalization" in ops
    with torch.no_grad():
        for n in (3, 5):   # the batch dimension stays symbolic
            xn = torch.randn(n, 1, 9, 9)
            np.testing.assert_allclose(cr.compile(g)(xn.numpy()), m(xn).numpy(), rtol=1e-5, atol=1e-5)


@needs_dynamo
def test_chainrule_grad_of_a_dynamo_exported_cnn_loss_equals_torch_autograd(tmp_path):
    from chainrule.frontends.cli import main as cli
    WithLoss = _cnn_with_loss(seed=2)
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([0, 3, 1, 4])
    path = tmp_path / "loss.onnx"
    path.write_bytes(_dynamo_export(WithLoss(), (x, t), optimize=True))
    np.savez(tmp_path / "in.npz", x=x.numpy(), t=t.numpy())
    assert cli.main(["grad", str(path), "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "g.npz")]) == 0
    model = WithLoss()
    model(x, t).backward()
    got = np.load(tmp_path / "g.npz")
    for name, p in model.named_parameters():
        np.testing.assert_allclose(got[name], p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
