"""Convolutions: ``Conv``, its adjoint ``ConvTranspose``, and ``ConvFilterGrad``.

A 2-D convolution (NCHW input, OIHW weight, ONNX attributes) is a linear layer whose
weight is *sparse and tied*: output y[n,o,p,q] reads only the window of x at (p, q), and
every window uses the same kernel W. So its gradient rule has three parts, each again
a convolution, and each an IR node:

    x̄ = ConvTranspose(ȳ, W)     ȳ spread back through the flipped kernel
    W̄ = ConvFilterGrad(x, ȳ)    the correlation of x with ȳ: Σ over every position W is used
    b̄ = Σ ȳ over N, H, W

The kernels are im2col (``window.im2col``: one copy of the windows) plus one batched
GEMM; the adjoint scatters columns back with ``window.col2im``. The copies and the GEMM's
result are the op's ``workspace``: the memory planner counts them at the node's step and
places them in the arena, and the planned executors pass them in, so a step allocates only
its results.
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import TensorType
from . import register
from .base import HOLE, Op, Term, same_dtype
from .linalg import summed
from .window import (channel_major, col2im, col_shape, crop, im2col, padded_last, spatial_sizes,
                     window_of)

CONV_ATTRS = {"kernel_shape": None, "strides": None, "pads": None, "dilations": None, "group": 1}
BIAS_AXES = (0, 2, 3)


def _static(op, d, what):
    if not isinstance(d, int):
        raise IRTypeError(f"{op} needs a static {what}, got {d}")
    return d


def _group(op, attrs, channels, what):
    g = int(attrs["group"])
    if g < 1 or (isinstance(channels, int) and channels % g):
        raise IRTypeError(f"{op}: {what} {channels} is not divisible by group={g}")
    return g


def transpose_output_padding(x_type, y_type, attrs):
    """The ``output_padding`` that makes ConvTranspose(ȳ, W) give x's exact size back: a
    strided Conv drops the last rows that do not fill a window, ConvTranspose adds them as 0."""
    win = window_of("Conv", attrs, attrs["kernel_shape"])
    h, w = x_type.shape[2:]
    ho, wo = y_type.shape[2:]
    return tuple(size + pb + pe - ((o - 1) * s + e) for size, o, s, e, pb, pe in
                 zip((h, w), (ho, wo), win.strides, win.extent, win.pads_begin, win.pads_end))


def _scratch(shapes, dtype, workspace):
    """The planned workspace, or (the interpreter) new arrays of these shapes."""
    return workspace if workspace is not None else [np.empty(s, dtype) for s in shapes]


def _typed(shapes, dtype):
    return [TensorType(tuple(s), dtype) for s in shapes]


def conv_scratch(x_shape, w_shape, attrs):
    """Conv's workspace: the padded batch-last input, its columns, the GEMM's (g, O/g, Ho·Wo, N) result."""
    win = window_of("Conv", attrs, w_shape[2:])
    outs = win.out_sizes(x_shape[2:])
    g = int(attrs["group"])
    return [padded_last(x_shape, win), col_shape(x_shape, win, outs),
            (g, w_shape[0] // g, outs[0] * outs[1], x_shape[0])]


def filter_grad_scratch(x_shape, gy_shape, attrs):
    """ConvFilterGrad's workspace: the padded batch-last input, its columns, ȳ batch-last."""
    win = window_of("ConvFilterGrad", attrs)
    return [padded_last(x_shape, win), col_shape(x_shape, win, gy_shape[2:]), padded_last(gy_shape)]


def transpose_scratch(u_shape, w_shape, full, g):
    """ConvTranspose's workspace: u batch-last, the GEMM's columns, the padded sum col2im makes."""
    n, cin, h, wd = u_shape
    cog, kh, kw = w_shape[1:]
    return [padded_last(u_shape), (g, cog * kh * kw, h * wd, n), (g * cog,) + tuple(full) + (n,)]


def _grad_attrs(node, kernel):
    """Attributes that Conv, ConvTranspose and ConvFilterGrad share for one convolution."""
    a = node.attrs
    return dict(kernel_shape=tuple(kernel), strides=a["strides"], pads=a["pads"],
                dilations=a["dilations"], group=a["group"])


@register
class Conv(Op):
    """y[n,o] = b[o] + Σ_c,i,j W[o,c,i,j] · x_pad[n, c + g·C/g, p·s + i·d, q·s + j·d]  (2-D, NCHW, OIHW)"""
    arity = (2, 3)
    attrs = CONV_ATTRS
    rule = "x̄ = ConvTranspose(ȳ, W), W̄ = ConvFilterGrad(x, ȳ) = Σ over positions, b̄ = Σ ȳ"

    def lecture(self, node, i, n):
        x, w = (n.sym(v) for v in node.inputs[:2])
        return Term(1.0, (f"ConvTranspose({HOLE}, {w})", f"Σ_positions {HOLE} ⊗ window of {x}  (ConvFilterGrad)",
                          f"Σ_n,p,q {HOLE}")[i])

    def _geometry(self, ins, attrs):
        x, w = ins[0], ins[1]
        hw = spatial_sizes(self.name, x)
        if w.rank != 4 or not w.is_static:
            raise IRTypeError(f"Conv needs a static weight [O,C/group,kh,kw], got {w}")
        win = window_of(self.name, attrs, w.shape[2:])
        if attrs["kernel_shape"] is not None and tuple(attrs["kernel_shape"]) != tuple(w.shape[2:]):
            raise IRTypeError(f"Conv kernel_shape {tuple(attrs['kernel_shape'])} differs from the weight {w}")
        return hw, win

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        x, w = ins[0], ins[1]
        hw, win = self._geometry(ins, attrs)
        g = _group(self.name, attrs, w.shape[0], "output channels")
        if isinstance(x.shape[1], int) and x.shape[1] != w.shape[1] * g:
            raise IRTypeError(f"Conv input {x} has {x.shape[1]} channels but the weight {w} with group={g} "
                              f"expects {w.shape[1] * g}")
        if len(ins) == 3 and ins[2].shape != (w.shape[0],):
            raise IRTypeError(f"Conv bias {ins[2]} should be [{w.shape[0]}]")
        return [TensorType((x.shape[0], w.shape[0]) + win.out_sizes(hw), x.dtype)]

    def workspace(self, ins, attrs):
        return _typed(conv_scratch(ins[0].shape, ins[1].shape, attrs), ins[0].dtype)

    def kernel(self, attrs):
        into = self.out_kernel(attrs)

        def conv(x, w, b=None, workspace=None):
            win = window_of(self.name, attrs, w.shape[2:])
            out = np.empty((x.shape[0], w.shape[0]) + win.out_sizes(x.shape[2:]), np.result_type(x, w))
            return into(out, x, w, b, workspace=workspace)
        return conv

    def out_kernel(self, attrs, alias=-1):
        g = int(attrs["group"])

        def conv_into(out, x, w, b=None, workspace=None):
            win = window_of("Conv", attrs, w.shape[2:])
            n, o = x.shape[0], w.shape[0]
            xt, cols, y = _scratch(conv_scratch(x.shape, w.shape, attrs), x.dtype, workspace)
            cols = im2col(x, win, out.shape[2:], g, xt, cols)               # (g, K, Ho·Wo·N)
            y = summed(w.reshape(g, o // g, -1), cols, out=y.reshape(g, o // g, -1))  # one GEMM (two if K needs it)
            np.copyto(out.reshape(n, o, -1), y.reshape(o, -1, n).transpose(2, 0, 1))
            if b is not None:
                out += b.reshape(-1, 1, 1)
            return out
        return conv_into

    def vjp(self, e, node, gys):
        x, w = node.inputs[0], node.inputs[1]
        gy = gys[0]
        a = _grad_attrs(node, w.shape[2:])
        gx = e.ConvTranspose(gy, w, output_padding=transpose_output_padding(x.type, gy.type, a), **a)
        gw = e.ConvFilterGrad(x, gy, **a)
        out = [gx, gw]
        if len(node.inputs) == 3:
            out.append(e.ReduceSum(gy, axes=BIAS_AXES, keepdims=0))
        return out

    def flops(self, ins, outs, attrs, bindings=None):
        """One multiply-add per output element and weight tap it reads: |y| · C/g · kh · kw."""
        n = outs[0].numel(bindings)
        w = ins[1].shape
        return 0 if n is None else n * w[1] * w[2] * w[3]


@register
class ConvTranspose(Op):
    """y = b + the adjoint of Conv(·, W): each input pixel adds W·u[n,c,p,q] to the window it
    would have been computed from (W is [C_in, C_out/group, kh, kw], as in ONNX)"""
    arity = (2, 3)
    attrs = {**CONV_ATTRS, "output_padding": None}
    rule = "ū = Conv(ȳ, W), W̄ = ConvFilterGrad(ȳ, u), b̄ = Σ ȳ"

    def lecture(self, node, i, n):
        u, w = (n.sym(v) for v in node.inputs[:2])
        return Term(1.0, (f"Conv({HOLE}, {w})", f"ConvFilterGrad({HOLE}, {u})", f"Σ_n,p,q {HOLE}")[i])

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        u, w = ins[0], ins[1]
        hw = spatial_sizes(self.name, u)
        if w.rank != 4 or not w.is_static:
            raise IRTypeError(f"ConvTranspose needs a static weight [C_in,C_out/group,kh,kw], got {w}")
        g = _group(self.name, attrs, w.shape[0], "input channels")
        if isinstance(u.shape[1], int) and u.shape[1] != w.shape[0]:
            raise IRTypeError(f"ConvTranspose input {u} has {u.shape[1]} channels, the weight {w} expects {w.shape[0]}")
        if len(ins) == 3 and ins[2].shape != (w.shape[1] * g,):
            raise IRTypeError(f"ConvTranspose bias {ins[2]} should be [{w.shape[1] * g}]")
        return [TensorType((u.shape[0], w.shape[1] * g) + self._out_sizes(hw, w.shape[2:], attrs), u.dtype)]

    def _out_sizes(self, hw, kernel, attrs):
        win = window_of(self.name, attrs, kernel)
        op = tuple(attrs["output_padding"] or (0, 0))
        out = tuple(s * (h - 1) + e + p - pb - pe for h, s, e, p, pb, pe in
                    zip(hw, win.strides, win.extent, op, win.pads_begin, win.pads_end))
        if min(out) < 1:
            raise IRTypeError(f"ConvTranspose output would be {out}")
        return out

    def _full(self, hw, attrs, kernel):
        """The padded size the adjoint's columns are summed into."""
        win = window_of(self.name, attrs, kernel)
        return tuple(s * (o - 1) + e + p for o, s, e, p in
                     zip(hw, win.strides, win.extent, attrs["output_padding"] or (0, 0)))

    def workspace(self, ins, attrs):
        u, w = ins[0].shape, ins[1].shape
        return _typed(transpose_scratch(u, w, self._full(u[2:], attrs, w[2:]), int(attrs["group"])), ins[0].dtype)

    def kernel(self, attrs):
        into = self.out_kernel(attrs)

        def conv_transpose(u, w, b=None, workspace=None):
            out = np.empty((u.shape[0], w.shape[1] * int(attrs["group"]))
                           + self._out_sizes(u.shape[2:], w.shape[2:], attrs), u.dtype)
            return into(out, u, w, b, workspace=workspace)
        return conv_transpose

    def out_kernel(self, attrs, alias=-1):
        g = int(attrs["group"])

        def conv_transpose_into(out, u, w, b=None, workspace=None):
            win = window_of(self.name, attrs, w.shape[2:])
            n, cin, h, wd = u.shape
            cog, (kh, kw) = w.shape[1], w.shape[2:]
            full = self._full((h, wd), attrs, (kh, kw))
            ut, cols, xt = _scratch(transpose_scratch(u.shape, w.shape, full, g), u.dtype, workspace)
            wg = w.reshape(g, cin // g, cog * kh * kw).transpose(0, 2, 1)     # (g, K, C_in/g)
            cols = summed(wg, channel_major(u, g, ut), out=cols.reshape(g, cog * kh * kw, -1))  # (g, K, H·W·N)
            xp = col2im(cols.reshape(g * cog, kh, kw, h, wd, n), win, full, (h, wd), xt)
            np.copyto(out, crop(xp, win, out.shape[2:]))
            if b is not None:
                out += b.reshape(-1, 1, 1)
            return out
        return conv_transpose_into

    def vjp(self, e, node, gys):
        u, w = node.inputs[0], node.inputs[1]
        gy = gys[0]
        a = _grad_attrs(node, w.shape[2:])
        out = [e.Conv(gy, w, **a), e.ConvFilterGrad(gy, u, **a)]
        if len(node.inputs) == 3:
            out.append(e.ReduceSum(gy, axes=BIAS_AXES, keepdims=0))
        return out

    def flops(self, ins, outs, attrs, bindings=None):
        n = ins[0].numel(bindings)
        w = ins[1].shape
        return 0 if n is None else n * w[1] * w[2] * w[3]


@register
class ConvFilterGrad(Op):
    """W̄[o,c,i,j] = Σ_n,p,q ȳ[n,o,p,q] · x_pad[n, c, p·s + i·d, q·s + j·d]: the weight's
    cotangent of Conv(x, W), a correlation of x with ȳ; the sum over (n, p, q) is the
    multivariate chain rule over every position where the tied weight is used"""
    arity = (2, 2)
    attrs = {**CONV_ATTRS, "kernel_shape": None}
    rule = "x̄ = ConvTranspose(ȳ, W̄̄), ȳ̄ = Conv(x, W̄̄)  (bilinear: each operand's cotangent is the other's conv)"

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        x, gy = ins
        hw = spatial_sizes(self.name, x)
        if attrs["kernel_shape"] is None:
            raise IRTypeError("ConvFilterGrad needs attribute 'kernel_shape'")
        win = window_of(self.name, attrs)
        if tuple(gy.shape[2:]) != win.out_sizes(hw) or gy.rank != 4:
            raise IRTypeError(f"ConvFilterGrad: ȳ {gy} is not the output of a Conv of {x} with {attrs}")
        c = _static(self.name, x.shape[1], "channel count")
        o = _static(self.name, gy.shape[1], "channel count")
        g = _group(self.name, attrs, c, "input channels")
        _group(self.name, attrs, o, "output channels")
        return [TensorType((o, c // g) + win.kernel, x.dtype)]

    def workspace(self, ins, attrs):
        return _typed(filter_grad_scratch(ins[0].shape, ins[1].shape, attrs), ins[0].dtype)

    def kernel(self, attrs):
        into = self.out_kernel(attrs)

        def filter_grad(x, gy, workspace=None):
            out = np.empty((gy.shape[1], x.shape[1] // int(attrs["group"])) + tuple(attrs["kernel_shape"]), x.dtype)
            return into(out, x, gy, workspace=workspace)
        return filter_grad

    def out_kernel(self, attrs, alias=-1):
        g = int(attrs["group"])

        def filter_grad_into(out, x, gy, workspace=None):
            win = window_of(self.name, attrs)
            xt, cols, gyt = _scratch(filter_grad_scratch(x.shape, gy.shape, attrs), x.dtype, workspace)
            cols = im2col(x, win, gy.shape[2:], g, xt, cols)                    # (g, K, L·N)
            # Σ over the batch and every output position: one GEMM per group over L·N
            summed(channel_major(gy, g, gyt), cols.transpose(0, 2, 1), out=out.reshape(g, out.shape[0] // g, -1))
            return out
        return filter_grad_into

    def vjp(self, e, node, gys):
        x, gy = node.inputs
        a = _grad_attrs(node, node.attrs["kernel_shape"])
        gw = gys[0]
        return [e.ConvTranspose(gy, gw, output_padding=transpose_output_padding(x.type, gy.type, a), **a),
                e.Conv(x, gw, **a)]

    def flops(self, ins, outs, attrs, bindings=None):
        n = ins[1].numel(bindings)
        w = outs[0].shape
        return 0 if n is None else n * w[1] * w[2] * w[3]
