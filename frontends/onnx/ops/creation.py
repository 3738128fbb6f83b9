"""ONNX mappings of ``ir/ops/creation.py``: ConstantOfShape and Range. Their shape and bounds are
inputs in ONNX and attributes in the IR, so import needs them as constants; the size they ask for
is checked against ``max_tensor_bytes`` and the memory limit before anything is made."""
from __future__ import annotations

import numpy as np

from ....ir import DType
from ....ir.ops.creation import range_count
from .table import export_op, onnx_op, static_ints


@onnx_op
def ConstantOfShape(ctx, input, *, value=None):
    shape = static_ints(ctx, input, "shape")
    if any(d < 0 for d in shape):
        ctx.fail(f"shape {shape} has a negative size")
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value)
    if fill.size != 1:
        ctx.fail(f"attribute 'value' must hold one number, got shape {list(fill.shape)}")
    dt = DType.of(fill.dtype)
    ctx.check_size(shape, dt.numpy, "the result")
    return ctx.op("ConstantOfShape", shape=tuple(shape), value=fill.reshape(-1)[0].item(), dtype=dt)


@export_op("ConstantOfShape", onnx="ConstantOfShape")  # the shape is an input in ONNX
def _constant_of_shape(ex, n, *, shape, value, dtype):
    ex.make("ConstantOfShape", [ex.ints(shape, "shape")], ex.out,
            value=ex.tensor(np.asarray([value], DType.of(dtype).numpy)))


@onnx_op
def Range(ctx, start, limit, delta, *, stash_type=None):
    bounds = []
    for name, what in ((start, "start"), (limit, "limit"), (delta, "delta")):
        a = ctx.static(name, what)
        if a.size != 1:
            ctx.fail(f"input {what!r} must hold one number, got shape {list(a.shape)}")
        bounds.append(a.reshape(-1)[0])
    dt = DType.of(bounds[0].dtype)
    if any(DType.of(b.dtype) != dt for b in bounds):
        ctx.fail(f"start, limit and delta differ in type: {', '.join(str(b.dtype) for b in bounds)}")
    if bounds[2] == 0:
        ctx.fail("delta is 0")
    n = range_count(*bounds, dt)
    if n < 0:
        ctx.fail(f"the range from {bounds[0]} to {bounds[1]} by {bounds[2]} has no finite length")
    ctx.check_size([n], dt.numpy, "the range")
    start_v, limit_v, delta_v = (b.item() for b in bounds)
    return ctx.op("Range", start=start_v, limit=limit_v, delta=delta_v, dtype=dt)


@export_op("Range", onnx="Range")  # the bounds are scalar inputs in ONNX
def _range(ex, n, *, start, limit, delta, dtype):
    dt = DType.of(dtype).numpy
    ex.make("Range", [ex.const(np.asarray(v, dt), k) for k, v in (("start", start), ("limit", limit),
                                                                   ("delta", delta))], ex.out)
