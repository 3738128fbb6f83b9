"""ONNX Dropout in training mode, both ways.

Import: ``Dropout`` with ``training_mode=1`` becomes chainrule's own dropout (the seeded,
counter-based ``DropoutMask``), so its masks differ from onnxruntime's but mean the same:
each element dropped with probability ratio, y = x·mask/(1 − ratio), the mask output bool.
Export: a training step with dropout takes the mask as a graph input, so onnxruntime fed
chainrule's mask computes chainrule's step (here a CNN with batch norm and dropout)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import chainrule as cr
from chainrule.frontends.onnx.exporter import export_model

nn = cr.nn
SHAPE = (200, 500)


def dropout_model(ratio=0.3, training=True, seed=None, mask=True, ratio_as_input=True, opset=17):
    ins = ["x"]
    inits = []
    if ratio_as_input:
        inits.append(helper.make_tensor("ratio", TensorProto.FLOAT, [], [ratio]))
        ins.append("ratio")
    if training is not None:
        inits.append(helper.make_tensor("training_mode", TensorProto.BOOL, [], [training]))
        ins += [""] * (2 - len(ins)) + ["training_mode"]
    outs = ["y", "mask"] if mask else ["y"]
    attrs = {} if seed is None else {"seed": seed}
    if not ratio_as_input:
        attrs["ratio"] = ratio
    node = helper.make_node("Dropout", ins, outs, name="drop", **attrs)
    out_vi = [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(SHAPE))]
    if mask:
        out_vi.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, list(SHAPE)))
    g = helper.make_graph([node], "dropout", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                          out_vi, initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def run(m, x, calls=1):
    exe = cr.compile(cr.import_onnx(m))
    return [exe(x) for _ in range(calls)]


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(1, 2, SHAPE).astype(np.float32)  # no zeros: kept ⇔ y ≠ 0


@pytest.mark.parametrize("ratio", [0.3, 0.75])
def test_training_dropout_drops_ratio_scales_by_1_over_1_minus_p_and_returns_the_bool_mask(x, ratio):
    (y, mask), = run(dropout_model(ratio, seed=7), x)
    assert mask.dtype == np.bool_ and mask.shape == SHAPE
    se = np.sqrt(ratio * (1 - ratio) / x.size)
    assert abs((y == 0).mean() - ratio) < 4 * se  # the fraction of zeros is the ratio
    np.testing.assert_array_equal(mask, y != 0)  # True: kept
    np.testing.assert_allclose(y[mask], x[mask] / (1 - ratio), rtol=1e-6)  # y = x·mask/(1 − p)
    # onnxruntime's mask is another draw with the same statistics and the same meaning
    ry, rmask = ort.InferenceSession(dropout_model(ratio, seed=7).SerializeToString(),
                                     providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert abs((ry == 0).mean() - (y == 0).mean()) < 8 * se
    np.testing.assert_allclose(ry[rmask], x[rmask] / (1 - ratio), rtol=1e-6)


def test_training_dropout_is_seeded_and_advances_its_step(x):
    a1, a2 = run(dropout_model(0.5, seed=3, mask=False), x, calls=2)
    b1, = run(dropout_model(0.5, seed=3, mask=False), x)
    c1, = run(dropout_model(0.5, seed=4, mask=False), x)
    np.testing.assert_array_equal(a1, b1)  # same seed, same first mask: deterministic
    assert not np.array_equal(a1, a2)  # the state step advanced: a new mask next run
    assert not np.array_equal(a1, c1)
    g = cr.import_onnx(dropout_model(0.5, seed=3))
    assert [p.name for p in g.params if p.kind == "state"] == ["y.step"]
    assert any(n.op.name == "DropoutMask" and n.attrs["seed"] == 3 for n in g.nodes)


@pytest.mark.parametrize("case", [dict(ratio=0.0), dict(training=False), dict(training=None),
                                  dict(ratio=0.5, training=None, ratio_as_input=False, opset=10)])
def test_ratio_0_or_inference_mode_is_the_identity(x, case):
    mask = case.get("opset", 17) >= 12
    out, = run(dropout_model(**{"mask": mask, **case}), x)
    y = out[0] if mask else out
    np.testing.assert_array_equal(y, x)
    if mask:
        assert out[1].dtype == np.bool_ and out[1].all()


def test_a_ratio_outside_0_1_is_refused_naming_the_node():
    with pytest.raises(cr.ChainruleError, match=r"Dropout.*ratio must be in \[0, 1\), got 1.0"):
        cr.import_onnx(dropout_model(1.0))


def bn_dropout_cnn(seed=0):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, stride=2, padding=(1, 1), groups=2, seed=seed + 1),
                         nn.ReLU(), nn.Flatten(), nn.Dropout(0.5, seed=seed + 3), nn.Linear(24, 10, seed=seed + 2))


def test_cnn_training_step_with_batch_norm_and_dropout_runs_in_onnxruntime_fed_chainrules_mask():
    rng = np.random.default_rng(0)
    step = cr.compile_train(bn_dropout_cnn(), input_shape=("N", 1, 8, 8), optimizer=cr.optim.SGD(lr=0.1, momentum=0.9))
    g = step.graph
    drop = next(n for n in g.nodes if n.op.name == "DropoutMask")
    m = export_model(step)
    onnx.checker.check_model(m, full_check=True)
    mask_name = drop.outputs[0].name
    assert [i.name for i in m.graph.input][:3] == ["x", "t", mask_name]
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in m.graph.output]
    state = {p.name: np.array(g.initializers[p.name]) for p in g.params}
    draw = drop.op.kernel(dict(drop.attrs))  # chainrule's mask at a given step
    masks = set()
    for _ in range(3):
        x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
        t = rng.integers(0, 10, 8)
        mask = draw(np.empty((8, 24), np.float32), g.initializers[drop.inputs[1].name])
        masks.add(mask.tobytes())
        outs = dict(zip(names, sess.run(None, {"x": x, "t": t, mask_name: mask, **state})))
        np.testing.assert_allclose(outs["loss"], step(x, t), rtol=1e-5)
        state = {p: outs.get(p + ".next", v) for p, v in state.items()}  # %lr without a schedule has no update
    assert len(masks) == 3  # a new mask every step
    for p, v in state.items():  # weights, momentum, running statistics and the dropout step
        np.testing.assert_allclose(v, g.initializers[p], rtol=1e-4, atol=1e-6, err_msg=p)
