"""ONNX mappings of ``ir/ops/extrema.py``: Max, Min and Clip one to one, and ``Mean``, which
imports as Sum(x₀, x₁, …) / n.

``Clip``'s bounds are attributes up to opset 10 (defaults ∓FLT_MAX) and optional inputs from
opset 11 on; chainrule's Clip always takes both, so a missing bound becomes the constant that
does not clip: −inf / +inf for floats, the integer type's least / greatest value for integers.
A bound stored in the file (PyTorch's dynamo exporter writes ReLU6's 0 and 6 as initializers)
is a constant, not one of the parameters that training would move.
"""
from __future__ import annotations

import numpy as np

from .table import direct, onnx_op


@onnx_op
def Max(ctx, *xs):
    return ctx.op("Max", *[ctx.v(x) for x in xs])


@onnx_op
def Min(ctx, *xs):
    return ctx.op("Min", *[ctx.v(x) for x in xs])


@onnx_op
def Mean(ctx, *xs):
    vs = [ctx.v(x) for x in xs]
    dt = vs[0].type.dtype
    if not dt.is_float:
        ctx.fail(f"Mean needs float operands, got {vs[0].type}")
    if len(vs) == 1:
        return ctx.op("Identity", vs[0])
    return ctx.op("Div", ctx.op("Sum", *vs), ctx.constant(np.asarray(len(vs), dt.numpy)))


def _no_bound(dt, upper):
    """The bound that clips nothing in dtype ``dt``."""
    if dt.kind == "f":
        return np.asarray(np.inf if upper else -np.inf, dt)
    info = np.iinfo(dt)
    return np.asarray(info.max if upper else info.min, dt)


@onnx_op
def Clip(ctx, input, lo=None, hi=None, *, min=None, max=None):  # noqa: A002 (ONNX's attribute names)
    x = ctx.v(input)
    dt = x.type.dtype.numpy
    if ctx.opset < 11:
        if lo or hi:
            ctx.fail(f"Clip takes min and max as inputs from opset 11 on (this model uses opset {ctx.opset})")
        big = np.finfo(np.float32).max
        bounds = [ctx.constant(np.asarray(-big if min is None else min, dt)),
                  ctx.constant(np.asarray(big if max is None else max, dt))]
    else:
        if min is not None or max is not None:
            ctx.fail(f"Clip's min and max are inputs from opset 11 on, not attributes (this model uses "
                     f"opset {ctx.opset})")
        bounds = [_bound(ctx, b, dt, upper) for b, upper in ((lo, False), (hi, True))]
    return ctx.op("Clip", x, *bounds)


def _bound(ctx, name, dt, upper):
    """A bound known at import (an initializer or a constant) becomes a Constant, not a trained
    parameter: fine-tuning never moves ReLU6's 6. A computed bound or a graph input stays a value."""
    imp = ctx.imp
    if not name:
        return ctx.constant(_no_bound(dt, upper))
    if name in imp.known and name not in imp.shadow and name not in imp.vals:
        return ctx.constant(np.asarray(imp.known[name]))
    return ctx.v(name)


direct("Max", "Min", "Clip")
