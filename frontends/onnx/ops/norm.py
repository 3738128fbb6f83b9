"""ONNX mappings of ``ir/ops/norm.py``: BatchNormalization in both modes, LayerNormalization, and
Dropout.

ONNX's ``BatchNormalization`` with ``training_mode=1`` returns the *updated* running statistics,
r' = momentum·r + (1 − momentum)·(batch statistic) with the biased variance; chainrule's
``BatchNormTraining`` returns the batch statistics, so import adds that update arithmetic, and
export asks ONNX for the batch statistics with momentum 0 and running statistics (0, 1).

ONNX's ``Dropout`` with ``training_mode=1`` draws its mask at random; chainrule imports it as its
own dropout, ``Mul(x, DropoutMask(x, step))`` with the counter-based RNG keyed by (``seed``,
step), where ``step`` is a new ``state`` value that each run advances. So the masks differ from
onnxruntime's, but their statistics and the outputs' meaning are ONNX's: each element is dropped
with probability ``ratio``, y = x·mask/(1 − ratio), and the optional mask output is bool (True:
kept). With ratio 0 or ``training_mode=0`` Dropout is the identity (and the mask all True).
The other way, ``DropoutMask`` exports as a graph input named after the mask: ONNX has no
seeded RNG to reproduce it, so the caller feeds chainrule's mask and gets chainrule's numbers.
"""
from __future__ import annotations

import numpy as np

from ....ir import DType, Emitter
from .table import direct, export_op, f32_attr, onnx_op


@onnx_op
def BatchNormalization(ctx, X, scale, B, input_mean, input_var, *, epsilon=1e-5, momentum=0.9,
                       training_mode=0, spatial=1, is_test=None, consumed_inputs=None):
    if not spatial:
        ctx.unsupported("BatchNormalization with spatial=0 (statistics per element, not per channel)")
    x, s, b = ctx.v(X), ctx.v(scale), ctx.v(B)
    if not training_mode:
        return ctx.op("BatchNormalization", x, s, b, ctx.v(input_mean), ctx.v(input_var), epsilon=float(epsilon))
    y = ctx.e.emit("BatchNormTraining", [x, s, b], {"epsilon": float(epsilon)},
                   name=f"{ctx.node.output[0]}/batchnormtraining")
    ctx.made.append(y)
    y, mean, var = y.outputs
    if ctx.n_outputs == 1:
        return y
    keep = ctx.constant(np.asarray(momentum, x.type.dtype.numpy))
    new = ctx.constant(np.asarray(1.0 - momentum, x.type.dtype.numpy))
    running = [ctx.op("Add", ctx.op("Mul", keep, ctx.v(r)), ctx.op("Mul", new, stat))
               for r, stat in ((input_mean, mean), (input_var, var))]
    return (y, *running)


direct("BatchNormalization")


@export_op("BatchNormTraining", onnx="BatchNormalization")
def _batch_norm_training(ex, n, x, scale, bias, *, epsilon):
    from onnx import helper
    c = n.inputs[1].type.shape[0]
    dt = n.inputs[0].type.dtype.numpy
    outs = [o.name for o in n.outputs]
    node = helper.make_node("BatchNormalization", [x, scale, bias, ex.const(np.zeros(c, dt), "mean0"),
                                                   ex.const(np.ones(c, dt), "var1")], outs, name=outs[0],
                            epsilon=float(epsilon), momentum=0.0, training_mode=1)
    ex.nodes.append(node)
    ex.group.append(node)


@onnx_op
def LayerNormalization(ctx, X, Scale, B=None, *, axis=-1, epsilon=1e-5, stash_type=1):
    if stash_type != 1:  # ONNX's reference implements only 1 (statistics in float32) too
        ctx.unsupported(f"LayerNormalization with stash_type={stash_type} (chainrule computes the statistics in "
                        f"float32 or wider, stash_type=1)")
    ins = [ctx.v(X), ctx.v(Scale)] + ([ctx.v(B)] if B else [])
    y, mean, inv = ctx.op("LayerNormalization", *ins, axis=int(axis), epsilon=f32_attr(epsilon))
    if mean.dtype == DType.f64:  # ONNX's Mean and InvStdDev are float32 (or bfloat16), whatever X is
        mean, inv = ctx.op("Cast", mean, to=DType.f32), ctx.op("Cast", inv, to=DType.f32)
    return y, mean, inv


# its three results Y, Mean, InvStdDev; chainrule's statistics of a float64 x are float64, ONNX's
# float32: exported through a Cast, and tagged, so that import rebuilds the one node
@export_op("LayerNormalization", onnx="LayerNormalization", composite=True)
def _layer_norm(ex, n, x, scale, bias=None, *, axis, epsilon):
    ins = [x, scale] + ([bias] if bias else [])
    outs = ex.outs
    wide = n.outputs[1].dtype == DType.f64
    stats = [ex.fresh(f"{o}/float32") for o in outs[1:]] if wide else outs[1:]
    ex.make("LayerNormalization", ins, outs[:1] + stats, axis=int(axis), epsilon=float(epsilon))
    if wide:
        for s, o in zip(stats, outs[1:]):
            ex.make("Cast", [s], o, to=ex.dtype(DType.f64))


@onnx_op
def Dropout(ctx, data, ratio_in=None, training_mode=None, *, seed=0, is_test=None, consumed_inputs=None,
            ratio=0.5):
    # opset ≥ 12: ratio and training_mode are inputs; before, ratio was an attribute and
    # Dropout was always the identity at inference
    x = ctx.v(data)
    p = ratio if not ratio_in else float(ctx.static(ratio_in, "ratio").reshape(-1)[0])
    training = bool(training_mode) and bool(ctx.static(training_mode, "training_mode").reshape(-1)[0])
    if not 0.0 <= p < 1.0:
        ctx.fail(f"Dropout ratio must be in [0, 1), got {p}")
    if not training or p == 0.0:  # nothing is dropped
        y = ctx.op("Identity", x)
        if ctx.n_outputs < 2:
            return y
        if not x.type.is_static:
            ctx.unsupported("the mask output of Dropout with a symbolic shape outside training mode")
        ctx.check_size(x.type.shape, bool, "the mask")
        return y, ctx.constant(np.ones(x.type.shape, bool))
    g = ctx.imp.g
    step = g.add_param(f"{ctx.node.output[0]}.step", np.zeros((), np.int64), kind="state")
    m = ctx.op("DropoutMask", x, step, ratio=p, seed=int(seed))
    up = Emitter(g, created_by="frontend", phase="update", rule="step ← step + 1 (a new mask next run)")
    g.add_update(step, up.Add(step, up.const(1, DType.i64), name=f"new_{step.name}"))
    y = ctx.op("Mul", x, m)
    if ctx.n_outputs < 2:
        return y
    return y, ctx.op("Greater", m, ctx.constant(np.zeros((), x.type.dtype.numpy)))


@export_op("DropoutMask", becomes="a graph input the caller feeds")
def _dropout_mask(ex, n, x, step, *, ratio, seed):
    ex.graph_input(n.outputs[0])  # the caller feeds chainrule's mask (ONNX cannot draw it)
