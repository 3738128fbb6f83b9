"""PyTorch MLPs exported by both of PyTorch's ONNX exporters import into chainrule, run equal to
PyTorch, and differentiate equal to ``torch.autograd``.

The "zoo" is built here: MLPs with the activations and layers everyday models use (Tanh,
Sigmoid, LeakyReLU, ELU, GELU in both modes, Softplus, ReLU6, BatchNorm1d and Dropout in eval
mode, LogSoftmax, the ONNX-era activations SELU, CELU, Hardsigmoid, Hardswish, Mish, Softsign,
PReLU, Hardtanh) and a Linear over a 3-D (N, T, F) input. Each is exported by the TorchScript
exporter at opset 17 (``dynamo=False``) and by the dynamo exporter (``dynamo=True``), which write
different ONNX: the TorchScript one spells GELU as Erf arithmetic and keeps BatchNormalization;
the dynamo one writes ``Gelu`` (opset 20), folds the batch norm into the Gemm and guards Softplus
with a Where. Needs ``pip install torch==2.13.0 onnxscript`` (skipped otherwise).
"""
import io
import warnings

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
nn = torch.nn

RTOL, ATOL = 1e-5, 1e-6


class Sequence3d(nn.Module):
    """Linear layers over the last axis of an (N, T, F) input: PyTorch exports MatMul + Add."""

    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _with_statistics(bn):
    """A BatchNorm1d whose running statistics and affine parameters are not the defaults (PyTorch's
    TorchScript exporter would write the default ones as aliases of each other)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
        bn.weight.copy_(torch.randn(bn.num_features, generator=g))
        bn.bias.copy_(torch.randn(bn.num_features, generator=g))
    return bn


#: name -> (model builder, input shape); inputs are scaled by 3 so that ReLU6 and Hardtanh clip
ZOO = {
    "tanh_sigmoid": (lambda: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(),
                                           nn.Linear(8, 3)), (6,)),
    "leakyrelu_elu": (lambda: nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.1), nn.Linear(8, 8), nn.ELU(0.7),
                                            nn.Linear(8, 3)), (6,)),
    "gelu_both": (lambda: nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 8), nn.GELU(approximate="tanh"),
                                        nn.Linear(8, 3)), (6,)),
    "softplus_relu6": (lambda: nn.Sequential(nn.Linear(6, 8), nn.Softplus(), nn.Linear(8, 8), nn.ReLU6(),
                                             nn.Linear(8, 3)), (6,)),
    "batchnorm_dropout_logsoftmax": (lambda: nn.Sequential(nn.Linear(6, 8), _with_statistics(nn.BatchNorm1d(8)),
                                                           nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3),
                                                           nn.LogSoftmax(dim=1)), (6,)),
    "onnx_activations": (lambda: nn.Sequential(nn.Linear(6, 8), nn.SELU(), nn.Linear(8, 8), nn.CELU(0.5),
                                               nn.Hardsigmoid(), nn.Linear(8, 8), nn.Hardswish(), nn.Mish(),
                                               nn.Softsign(), nn.Linear(8, 8), nn.PReLU(8), nn.Hardtanh(-0.5, 0.5),
                                               nn.Linear(8, 3)), (6,)),
    "sequence_3d": (Sequence3d, (7, 4)),
}
EXPORTERS = ("torchscript", "dynamo")
_CACHE = {}


def _model(name):
    torch.manual_seed(0)
    build, feature_shape = ZOO[name]
    return build().eval(), feature_shape


def _export(name, exporter):
    """(model, ONNX bytes) of zoo model ``name``, exported once per test session."""
    if (name, exporter) in _CACHE:
        return _CACHE[name, exporter]
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    model, shape = _model(name)
    x = torch.randn(5, *shape)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, dynamo's progress
        if exporter == "torchscript":
            torch.onnx.export(model, (x,), f, dynamo=False, opset_version=17, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
        else:
            torch.onnx.export(model, (x,), f, dynamo=True, input_names=["x"], output_names=["y"],
                              dynamic_shapes=({0: torch.export.Dim("N")},), verbose=False)
    _CACHE[name, exporter] = model, f.getvalue()
    return _CACHE[name, exporter]


def _inputs(name, n, seed):
    _, shape = ZOO[name]
    return (3 * np.random.default_rng(seed).standard_normal((n, *shape))).astype(np.float32)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_imports_and_runs_equal_to_torch(name, exporter):
    model, data = _export(name, exporter)
    g = cr.import_onnx(data)
    assert g.inputs[0].type.shape[0] == "N"  # the batch stays symbolic
    exe = cr.compile(g)
    for n, seed in ((5, 0), (11, 1)):
        x = _inputs(name, n, seed)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(exe(x), want, rtol=RTOL, atol=ATOL, err_msg=f"{name} ({exporter})")


def test_the_exporters_write_the_ops_chainrule_imports():
    """What the two exporters make of GELU and ReLU6 (the ops that differ between them)."""
    ops = {e: [n.op_type for n in cr.frontends.onnx.importer.parse_model_bytes(_export("gelu_both", e)[1]).graph.node]
           for e in EXPORTERS}
    assert "Erf" in ops["torchscript"] and "Gelu" not in ops["torchscript"]
    assert ops["dynamo"].count("Gelu") == 2
    relu6 = [n.op_type for n in cr.frontends.onnx.importer.parse_model_bytes(_export("softplus_relu6", "torchscript")[1])
             .graph.node]
    assert "Clip" in relu6


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", ["leakyrelu_elu", "gelu_both", "softplus_relu6", "batchnorm_dropout_logsoftmax",
                                  "onnx_activations"])
def test_gradient_of_an_imported_model_equals_torch_autograd(name, exporter):
    """L = Σ y ∘ c through the imported model, differentiated by chainrule (``cr.backward``, as
    ``chainrule grad`` does) with respect to every initializer that is a PyTorch parameter (same
    name and value: the dynamo exporter folds the batch norm into the first Gemm's weights)."""
    model, data = _export(name, exporter)
    g = cr.import_onnx(data)
    x = _inputs(name, 6, 2)
    c = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
    torch_params = dict(model.named_parameters())
    wrt = [p for p in g.params if p.name in torch_params
           and np.array_equal(g.initializers[p.name], torch_params[p.name].detach().numpy())]
    assert len(wrt) >= 2, f"{name} ({exporter}): initializers {[p.name for p in g.params]}"
    e = cr.Emitter(g)
    cot = g.add_input("c", g.outputs[0].type)
    loss = e.ReduceSum(e.Mul(g.outputs[0], cot), axes=None, keepdims=0, name="L")
    grads = cr.backward(g, [loss], wrt)
    g.set_outputs([loss] + grads)
    got = cr.compile(g)(x, c)

    model.zero_grad()
    ref = (model(torch.from_numpy(x)) * torch.from_numpy(c)).sum()
    ref.backward()
    np.testing.assert_allclose(got[0], ref.item(), rtol=RTOL, atol=1e-5)
    for p, gp in zip(wrt, got[1:]):
        np.testing.assert_allclose(gp, torch_params[p.name].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{name} ({exporter}): gradient of {p.name}")
