"""Convolutional and normalisation layers with PyTorch's names, arguments and default initialisation.

    model = cr.nn.Sequential(cr.nn.Conv2d(1, 8, 3, padding=1), cr.nn.BatchNorm2d(8), cr.nn.ReLU(),
                             cr.nn.MaxPool2d(2), cr.nn.Flatten(), cr.nn.Linear(8 * 4 * 4, 10))
    exe = cr.compile(model, input_shape=("N", 1, 8, 8))

A module lowers to different IR in the two modes of a graph builder (``training``):
batch norm uses the batch's statistics in training and updates its running statistics
(``state`` values, the module's own arrays) with ``phase=update`` nodes, and the running
statistics in inference; dropout multiplies by a random mask in training and is the
identity in inference. ``compile_train`` lowers a model in training mode for the step and in
inference mode for ``predict``/``evaluate``; ``cr.compile`` and the exporters use inference.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...ir import DType, Emitter, IRTypeError
from ...ir.ops.norm import stat_axes
from . import functional as F
from .nn import Module, _next_rng
from .tracer import user_source


def _pair(v, what):
    v = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(v) != 2 or not all(isinstance(a, (int, np.integer)) for a in v):
        raise IRTypeError(f"{what} must be an int or a pair of ints, got {v!r}")
    return tuple(int(a) for a in v)


def _check_image(module, x, channels=None):
    if len(x.shape) != 4 or (channels is not None and x.shape[1] != channels):
        src = user_source()
        want = f"[N,{channels},H,W]" if channels is not None else "[N,C,H,W]"
        raise IRTypeError(f"{src + ': ' if src else ''}{module.name} expects an image batch {want}, "
                          f"got a tensor of shape [{','.join(map(str, x.shape))}]")


class Conv2d(Module):
    """y = Conv(x, W, b): W is [out, in/groups, kh, kw]. PyTorch's default initialisation:
    W and b uniform in ±1/√fan_in (Kaiming-uniform with a = √5), fan_in = in/groups·kh·kw."""

    kind = "conv"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, name: str = "conv", seed: Optional[int] = None, dtype=DType.f32):
        if in_channels % groups or out_channels % groups:
            raise IRTypeError(f"Conv2d({in_channels}, {out_channels}): channels are not divisible by groups={groups}")
        self.name = name
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
        self.padding, self.dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
        rng = _next_rng(seed)
        fan_in = self.in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / np.sqrt(fan_in)
        dt = DType.of(dtype).numpy
        shape = (self.out_channels, self.in_channels // groups) + self.kernel_size
        self.weight = rng.uniform(-bound, bound, shape).astype(dt)
        self.bias = rng.uniform(-bound, bound, self.out_channels).astype(dt) if bias else None

    def named_parameters(self):
        ps = [(f"{self.name}.weight", self.weight)]
        return ps + ([(f"{self.name}.bias", self.bias)] if self.bias is not None else [])

    def forward(self, x):
        _check_image(self, x, self.in_channels)
        b = x.builder
        ins = [x, b.param(f"{self.name}.weight", self.weight)]
        if self.bias is not None:
            ins.append(b.param(f"{self.name}.bias", self.bias))
        return b.op("Conv", *ins, strides=self.stride, pads=self.padding * 2, dilations=self.dilation,
                    group=self.groups, name=self.name)

    def __repr__(self):
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding})")


class _Pool2d(Module):
    opname = ""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, name: str = ""):
        self.name = name or self.kind
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")  # PyTorch: stride = kernel
        self.padding, self.ceil_mode = _pair(padding, "padding"), bool(ceil_mode)

    def attrs(self):
        return dict(kernel_shape=self.kernel_size, strides=self.stride, pads=self.padding * 2,
                    ceil_mode=int(self.ceil_mode))

    def forward(self, x):
        _check_image(self, x)
        return x.builder.op(self.opname, x, name=self.name, **self.attrs())

    def __repr__(self):
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool2d(_Pool2d):
    """y = the maximum of each window (stride defaults to the kernel size)"""
    kind, opname = "maxpool", "MaxPool"


class AvgPool2d(_Pool2d):
    """y = the mean of each window; ``count_include_pad=True`` (PyTorch's default) divides by the
    whole window, padding included"""
    kind, opname = "avgpool", "AveragePool"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, name: str = ""):
        super().__init__(kernel_size, stride, padding, ceil_mode, name)
        self.count_include_pad = bool(count_include_pad)

    def attrs(self):
        return {**super().attrs(), "count_include_pad": int(self.count_include_pad)}


class AdaptiveAvgPool2d(Module):
    """y = the mean over all positions, [N,C,1,1]: only output size 1 (global average pooling)"""
    kind = "avgpool"

    def __init__(self, output_size=1, name: str = ""):
        if _pair(output_size, "output_size") != (1, 1):
            raise IRTypeError(f"AdaptiveAvgPool2d supports output_size=1 (global average pooling), got {output_size}")
        self.name = name or self.kind

    def forward(self, x):
        _check_image(self, x)
        return x.builder.op("GlobalAveragePool", x, name=self.name)


class _BatchNorm(Module):
    """Batch normalisation per channel: γ (weight) starts at 1, β (bias) at 0; the running mean
    and variance (buffers) start at 0 and 1 and follow r ← (1 − momentum)·r + momentum·batch
    statistic, the variance unbiased (·n/(n−1)), as in PyTorch."""

    kind = "bn"
    rank = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, name: str = "bn",
                 dtype=DType.f32):
        self.name, self.num_features = name, int(num_features)
        self.eps, self.momentum = float(eps), float(momentum)
        dt = DType.of(dtype).numpy
        self.weight, self.bias = np.ones(self.num_features, dt), np.zeros(self.num_features, dt)
        self.running_mean, self.running_var = np.zeros(self.num_features, dt), np.ones(self.num_features, dt)

    def named_parameters(self):
        return [(f"{self.name}.weight", self.weight), (f"{self.name}.bias", self.bias)]

    def named_buffers(self):
        return [(f"{self.name}.running_mean", self.running_mean), (f"{self.name}.running_var", self.running_var)]

    def forward(self, x):
        if len(x.shape) != self.rank or x.shape[1] != self.num_features:
            src = user_source()
            raise IRTypeError(f"{src + ': ' if src else ''}{type(self).__name__}({self.num_features}) {self.name} "
                              f"expects {self.rank}-d input with {self.num_features} channels, "
                              f"got [{','.join(map(str, x.shape))}]")
        b = x.builder
        w, beta = b.param(f"{self.name}.weight", self.weight), b.param(f"{self.name}.bias", self.bias)
        rm = b.param(f"{self.name}.running_mean", self.running_mean, kind="state")
        rv = b.param(f"{self.name}.running_var", self.running_var, kind="state")
        if not b.training:
            return b.op("BatchNormalization", x, w, beta, rm, rv, epsilon=self.eps, name=self.name)
        y, mean, var = b.op("BatchNormTraining", x, w, beta, epsilon=self.eps, name=self.name)
        e = Emitter(b.graph, created_by="frontend", phase="update", source=user_source,
                    rule="r ← (1 − m)·r + m·(batch statistic), σ² unbiased: ·n/(n − 1)")
        m, keep = e.scalar_like(self.momentum, x.value), e.scalar_like(1.0 - self.momentum, x.value)
        n = e.Count(x.value, axes=stat_axes(self.rank))
        unbiased = e.Div(e.Mul(var.value, n), e.Sub(n, e.scalar_like(1.0, x.value)))
        for r, stat in ((rm.value, mean.value), (rv.value, unbiased)):
            b.graph.add_update(r, e.Add(e.Mul(keep, r), e.Mul(m, stat), name=f"new_{r.name}"))
        return y


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of [N, C] features"""
    rank = 2


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of [N, C, H, W] images, per channel over N, H, W"""
    rank = 4


class LayerNorm(Module):
    """y = γ (x − μ) / √(σ² + ε) + β over each example's last ``len(normalized_shape)`` axes, as
    PyTorch's ``nn.LayerNorm``: γ (weight) starts at 1, β (bias) at 0; one ``LayerNormalization``
    node (the same in training and inference: there are no running statistics)."""

    kind = "ln"

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 name: str = "ln", dtype=DType.f32):
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise IRTypeError(f"LayerNorm normalized_shape must be a positive int or a tuple of them, "
                              f"got {normalized_shape!r}")
        self.name, self.normalized_shape, self.eps = name, tuple(int(d) for d in shape), float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = DType.of(dtype).numpy
        self.weight = np.ones(self.normalized_shape, dt) if self.elementwise_affine else None
        self.bias = np.zeros(self.normalized_shape, dt) if self.elementwise_affine and bias else None

    def named_parameters(self):
        return [(f"{self.name}.{k}", v) for k, v in (("weight", self.weight), ("bias", self.bias)) if v is not None]

    def in_features(self):
        return self.normalized_shape[0] if len(self.normalized_shape) == 1 else None

    def forward(self, x):
        b = x.builder
        w = b.param(f"{self.name}.weight", self.weight) if self.weight is not None else None
        beta = b.param(f"{self.name}.bias", self.bias) if self.bias is not None else None
        return F.layer_norm(x, self.normalized_shape, w, beta, self.eps, name=self.name)

    def __repr__(self):
        return f"LayerNorm({self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine})"


class Dropout(Module):
    """y = x ∘ mask / (1 − p) in training (each unit dropped with probability p), y = x in
    inference. The mask comes from a counter-based RNG keyed by (seed, step); ``step`` is a
    ``state`` value the training step advances, so a resumed run draws the same masks."""

    kind = "dropout"

    def __init__(self, p: float = 0.5, name: str = "dropout", seed: Optional[int] = None):
        if not 0.0 <= float(p) < 1.0:
            raise IRTypeError(f"Dropout probability must be in [0, 1), got {p}")
        self.name, self.p = name, float(p)
        self.seed = int(_next_rng(seed).integers(0, 2 ** 31))
        self.step = np.zeros((), np.int64)

    def named_buffers(self):
        return [(f"{self.name}.step", self.step)]

    def forward(self, x):
        b = x.builder
        if not b.training or self.p == 0.0:
            return x
        step = b.param(f"{self.name}.step", self.step, kind="state")
        mask = b.op("DropoutMask", x, step, ratio=self.p, seed=self.seed, name=f"{self.name}.mask")
        e = Emitter(b.graph, created_by="frontend", phase="update", rule="step ← step + 1 (a new mask next step)")
        b.graph.add_update(step.value, e.Add(step.value, e.const(1, DType.i64), name=f"new_{step.name}"))
        return b.op("Mul", x, mask, name=self.name)

    def __repr__(self):
        return f"Dropout(p={self.p})"
