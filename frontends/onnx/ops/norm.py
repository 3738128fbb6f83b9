"""ONNX mappings of ``ir/ops/norm.py``: BatchNormalization in both modes, and DropoutMask.

ONNX's ``BatchNormalization`` with ``training_mode=1`` returns the *updated* running statistics,
r' = momentum·r + (1 − momentum)·(batch statistic) with the biased variance; chainrule's
``BatchNormTraining`` returns the batch statistics, so import adds that update arithmetic, and
export asks ONNX for the batch statistics with momentum 0 and running statistics (0, 1).
"""
from __future__ import annotations

import numpy as np

from ..common import OnnxExportError
from .table import direct, export_op, onnx_op


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


@export_op("DropoutMask")
def _dropout_mask(ex, n, x, step, *, ratio, seed):
    raise OnnxExportError(f"node {n.name}: DropoutMask (chainrule's counter-based RNG) has no ONNX form; export the "
                          f"model in inference mode (dropout is the identity there), or feed the mask as an input")
