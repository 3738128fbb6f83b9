"""nn-style modules that lower to IR with named parameters.

    model = cr.nn.Sequential(cr.nn.Linear(784, 256), cr.nn.ReLU(), cr.nn.Linear(256, 10))
    g = model.to_graph()     # params %fc1.weight: f32[256,784], %fc1.bias, %fc2.weight, ...

A module owns its parameter arrays; the graph's initializers are those same
arrays, so training updates the module in place. Initialisation is seeded
(``seed=`` on a module, else a per-process counter starting from
``cr.nn.manual_seed``), so the same script gives the same numbers every run.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ...ir import ArgumentError, DType, Graph, IRTypeError
from . import functional as F
from .tracer import GraphBuilder, Tensor, user_source

__all__ = ["Module", "Linear", "Sequential", "mlp", "manual_seed", "ACTIVATIONS", "ReLU", "Sigmoid", "Tanh",
           "Softplus", "HardThreshold", "Identity", "Softmax", "LogSoftmax", "Flatten", "Standardize"]

_SEED = [0]


def __dir__():
    """``dir(cr.nn)`` (and tab completion) lists the modules, not this file's imports."""
    return list(__all__)


def manual_seed(seed: int) -> None:
    """Seed the initialisation of modules created from now on."""
    _SEED[0] = int(seed)


def _next_rng(seed: Optional[int]) -> np.random.Generator:
    if seed is None:
        seed = _SEED[0]
        _SEED[0] += 1
    return np.random.default_rng(seed)


class Module:
    """Base class: ``__call__(x)`` lowers the module onto ``x``'s graph."""

    name: str = ""
    kind: str = ""  # the prefix Sequential numbers layers by (fc1, conv1, bn1...); default: the class name

    def named_parameters(self) -> List[Tuple[str, np.ndarray]]:
        return []

    def named_buffers(self) -> List[Tuple[str, np.ndarray]]:
        """State that is not trained but changes in training (batch norm's running statistics)."""
        return []

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise IRTypeError(f"{type(self).__name__} was called on a {type(x).__name__}: modules are traced into "
                              f"IR, not run; compile the model and call that, cr.compile(model)(x)")
        return self.forward(x)

    def in_features(self) -> Optional[int]:
        return None

    def to_graph(self, input_shape=None, name: Optional[str] = None, dtype=DType.f32,
                 training: bool = False) -> Graph:
        """Lower the module on an input ``%x`` of ``input_shape`` (default ``(N, in_features)``);
        ``training`` picks the training-mode lowering (batch statistics, dropout masks)."""
        if input_shape is None:
            n = self.in_features()
            if n is None:
                raise IRTypeError(f"{type(self).__name__} cannot infer its input shape; pass input_shape=")
            input_shape = ("N", n)
        b = GraphBuilder(name or type(self).__name__.lower(), dtype, training=training)
        x = b.input("x", input_shape)
        return b.build(self(x))

    def __repr__(self):
        return f"{type(self).__name__}()"


class Linear(Module):
    """z = x Wᵀ + b with W of shape (out, in): one ``Gemm {transB=1}`` node.

    Weights start uniform in ±1/√in (as in common frameworks); biases at zero.
    """

    kind = "fc"

    def __init__(self, in_features: int, out_features: int, bias: bool = True, name: str = "linear",
                 seed: Optional[int] = None, dtype=DType.f32):
        if int(in_features) < 1 or int(out_features) < 1:
            raise IRTypeError(f"Linear needs positive sizes, got Linear({in_features}, {out_features})")
        self.name = name
        self.in_f, self.out_f = int(in_features), int(out_features)
        rng = _next_rng(seed)
        bound = 1.0 / np.sqrt(self.in_f)
        dt = DType.of(dtype).numpy
        self.weight = rng.uniform(-bound, bound, (self.out_f, self.in_f)).astype(dt)
        self.bias = np.zeros(self.out_f, dt) if bias else None

    def named_parameters(self):
        ps = [(f"{self.name}.weight", self.weight)]
        if self.bias is not None:
            ps.append((f"{self.name}.bias", self.bias))
        return ps

    def in_features(self):
        return self.in_f

    def forward(self, x):
        if x.shape[-1] != self.in_f:
            src = user_source()  # the user's line, as the Emitter does for op type errors
            raise IRTypeError(f"{src + ': ' if src else ''}{self.name} expects {self.in_f} input features, "
                              f"got a tensor of shape [{','.join(map(str, x.shape))}]")
        b = x.builder
        w = b.param(f"{self.name}.weight", self.weight)
        bias = b.param(f"{self.name}.bias", self.bias) if self.bias is not None else None
        return b.op("Gemm", *([x, w] + ([bias] if bias is not None else [])), transB=1, name=self.name)

    def __repr__(self):
        return f"Linear({self.in_f}, {self.out_f})"


def _activation(cls_name, fn, doc):
    """A module class named ``cls_name`` (what ``repr`` prints) applying ``fn``; instances are
    named after the class in lower case (relu, sigmoid), as Sequential numbers them."""
    class Act(Module):
        __doc__ = doc

        def __init__(self, name: str = cls_name.lower()):
            self.name = name

        def forward(self, x):
            return fn(x)
    Act.__name__ = Act.__qualname__ = cls_name
    return Act


ReLU = _activation("ReLU", F.relu, "y = max(0, z)")
Sigmoid = _activation("Sigmoid", F.sigmoid, "y = σ(z), the logistic function")
Tanh = _activation("Tanh", F.tanh, "y = tanh z")
Softplus = _activation("Softplus", F.softplus, "y = log(1 + eᶻ), the soft ReLU")
HardThreshold = _activation("HardThreshold", F.hard_threshold, "y = 𝕀[z > 0]")
Identity = _activation("Identity", F.identity, "y = z")
Softmax = _activation("Softmax", F.softmax, "y = softmax(z) over the last axis")
LogSoftmax = _activation("LogSoftmax", F.log_softmax, "y = log softmax(z) over the last axis")
Flatten = _activation("Flatten", F.flatten, "y = x flattened to [N, features]")

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softplus": Softplus,
               "hard_threshold": HardThreshold, "identity": Identity}


class Sequential(Module):
    """Modules applied in order. Linear layers are named fc1, fc2, …; others by kind."""

    def __init__(self, *modules: Module, name: str = "sequential"):
        self.name = name
        self.modules = list(modules)
        counts = {}
        for m in self.modules:
            if not isinstance(m, Module):
                raise IRTypeError(f"Sequential takes modules, got {type(m).__name__}")
            kind = m.kind or type(m).__name__.lower()
            counts[kind] = counts.get(kind, 0) + 1
            if m.name in ("linear", kind, type(m).__name__.lower()):
                m.name = f"{kind}{counts[kind]}"

    def named_parameters(self):
        return [p for m in self.modules for p in m.named_parameters()]

    def named_buffers(self):
        return [b for m in self.modules for b in m.named_buffers()]

    def in_features(self):
        for m in self.modules:
            n = m.in_features()
            if n is not None:
                return n
        return None

    def forward(self, x):
        for m in self.modules:
            x = m(x)
        return x

    def __repr__(self):
        return "Sequential(" + ", ".join(map(repr, self.modules)) + ")"


class Standardize(Module):
    """y = (x − μ) / σ per feature, with μ and σ as Constants in the graph (``%preprocess.mean``,
    ``%preprocess.std``): the preprocessing a trainer fitted becomes part of the model, so the
    compiled, checkpointed and exported model takes raw inputs.

        mean, std = cr.datasets.feature_stats(Xtrain)
        model = cr.nn.Sequential(cr.nn.Standardize(mean, std), cr.nn.mlp([64, 64, 10]))
    """

    def __init__(self, mean, std, name: str = "preprocess"):
        self.name = name
        self.mean = np.asarray(mean, dtype=np.float32).ravel()
        self.std = np.asarray(std, dtype=np.float32).ravel()
        if self.mean.shape != self.std.shape or not len(self.mean):
            raise IRTypeError(f"Standardize needs mean and std of one length, got {self.mean.shape[0]} and "
                              f"{self.std.shape[0]}")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise IRTypeError("Standardize needs finite means and positive standard deviations")

    def in_features(self):
        return len(self.mean)

    def forward(self, x):
        b, dt = x.builder, x.dtype.numpy
        shape = tuple(x.shape[1:])  # per feature; for images, the features are the pixels of C×H×W
        if len(shape) > 1 and all(isinstance(d, int) for d in shape) and int(np.prod(shape)) == len(self.mean):
            mean, std = self.mean.reshape(shape), self.std.reshape(shape)
        else:
            mean, std = self.mean, self.std
        mean = b.constant(mean.astype(dt), name=f"{self.name}.mean")
        std = b.constant(std.astype(dt), name=f"{self.name}.std")
        return b.op("Div", b.op("Sub", x, mean, name=f"{self.name}.centered"), std, name=self.name)

    def __repr__(self):
        return f"Standardize({len(self.mean)} features)"


def mlp(sizes, activation: str = "relu", seed: Optional[int] = None) -> Sequential:
    """An MLP with layer ``sizes`` (e.g. ``[64, 32, 10]``) and ``activation`` between layers."""
    if activation not in ACTIVATIONS:
        raise ArgumentError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    layers: List[Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b, seed=None if seed is None else seed + i))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(*layers)


# The convolutional layers live in layers.py (they build on Module); cr.nn holds them all.
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout,  # noqa: E402,F401
                     MaxPool2d)
from .layers import LayerNorm  # noqa: E402,F401
