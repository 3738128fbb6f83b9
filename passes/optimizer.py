"""Optimizers as a pass: each parameter's update is emitted as IR nodes, and so is the learning rate.

Runs after ``autodiff``. For every trainable parameter ``%w`` whose gradient
``%grad_w`` is a graph output, the pass appends ``phase=update`` nodes that
compute the new value, registers ``update %w <- %new_w``, and (unless
``keep_grads``) drops the gradients from the outputs. Optimizer state lives in
graph parameters of kind ``state`` with deterministic names
(``<param>.velocity``, ``<param>.m``, ``<param>.v``, ``adam.step``), so the
runtime keeps it between calls and an exporter sees it as ordinary inputs.

The learning rate α is state too: ``%lr`` holds the rate of the step about to
run, so a step's ``lr`` can be read and set between calls and is never a
constant baked into the update. A schedule (``StepLR``, ``CosineLR``,
``WarmupCosineLR``) adds a step counter ``%lr.step`` and nodes that compute the
next step's rate, ``update %lr <- %new_lr``; with ``ConstantLR`` there are none.

SGD, the lecture's rule w ← w − α ∇ (the mean loss already carries 1/N).
Before::

    %grad_w: f32[1,2] = ...  #[by=autodiff phase=backward ...]
    return %loss, %grad_w

After::

    state %lr: f32[]
    %step_w: f32[1,2] = Mul(%lr, %grad_w) #[by=optimizer phase=update ...]
    %new_w: f32[1,2] = Sub(%w, %step_w) #[by=optimizer phase=update ...]
    return %loss
    update %w <- %new_w

With ``CosineLR(total_steps=100)`` the pass also emits (``%one``, ``%T`` … are
hyperparameter Constants)::

    %new_lr.step: f32[] = Add(%lr.step, %one)          # k ← k + 1
    %new_lr: f32[] = ...Cos(...)...                     # α_k = ½α₀(1 + cos(π min(k,T)/T))
    update %lr.step <- %new_lr.step
    update %lr <- %new_lr

Momentum: v ← μv + ∇, w ← w − αv. Adam: m ← β₁m + (1−β₁)∇,
v ← β₂v + (1−β₂)∇², t ← t + 1, w ← w − α m̂ / (√v̂ + ε) with
m̂ = m / (1 − β₁ᵗ) and v̂ = v / (1 − β₂ᵗ). AdamW adds the decoupled decay:
w ← w − α (m̂ / (√v̂ + ε) + λw) for the weights named in ``decay``.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..ir import DType, Emitter, GradientError, GraphError, Graph, Value
from .autodiff import grad_name
from .manager import Pass, PassResult


# -- learning-rate schedules -----------------------------------------------------
class Schedule:
    """α_k, the learning rate of step k = 0, 1, …: ``value(lr, k)`` in Python (the reference the
    tests compare with) and ``emit(...)`` the same formula as IR nodes."""

    name = "constant"
    rule = ""
    changes = False  # True when emit() makes nodes (and the pass a step counter %lr.step)

    def value(self, lr: float, k: int) -> float:
        return float(lr)

    def emit(self, opt: "OptimizerPass", e: Emitter, lr0: Value, k: Value, name: str) -> Optional[Value]:
        """Nodes computing α_k (the last one named ``name``) from the step counter ``k`` (f32);
        None: the rate stays as it is."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def _positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise GraphError(f"{name} must be a whole number at least 1, got {value!r}")
    return int(value)


class ConstantLR(Schedule):
    """α_k = α₀: no schedule nodes; ``%lr`` changes only when the user sets it."""


class StepLR(Schedule):
    """α_k = α₀ γ^⌊k/s⌋: the rate drops by γ every ``step_size`` steps (⌊·⌋ by a cast to an integer)."""

    name = "step"
    changes = True
    rule = "α_k = α₀ γ^⌊k/s⌋"

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = _positive_int("step_size", step_size)
        if not 0 < gamma <= 1:
            raise GraphError(f"gamma must be in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)

    def value(self, lr, k):
        return float(lr) * self.gamma ** (k // self.step_size)

    def emit(self, opt, e, lr0, k, name):
        c = opt.const
        drops = e.Cast(e.Cast(e.Div(k, c(e, "lr.step_size", self.step_size)), to=DType.i64), to=lr0.dtype,
                       name="lr.drops")
        return e.Mul(lr0, e.Pow(c(e, "lr.gamma", self.gamma), drops), name=name)


def _cosine(opt, e, lr0, p, min_lr, name=None):
    """α = α_min + (α₀ − α_min)·½(1 + cos(π p)) for the progress p, clamped to [0, 1]."""
    c = opt.const
    one = c(e, "one", 1.0)
    p = e.Where(e.Greater(p, one), one, p)
    p = e.Where(e.Greater(c(e, "zero", 0.0), p), c(e, "zero", 0.0), p, name="lr.progress")
    half_cos = e.Mul(c(e, "half", 0.5), e.Add(one, e.Cos(e.Mul(c(e, "pi", math.pi), p))))
    lo = c(e, "lr.min", min_lr)
    return e.Add(lo, e.Mul(e.Sub(lr0, lo), half_cos), name=name)


def _cosine_value(lr, p, min_lr):
    p = min(max(p, 0.0), 1.0)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * p))


class CosineLR(Schedule):
    """α_k = α_min + (α₀ − α_min)·½(1 + cos(π min(k, T)/T)) over ``total_steps`` T."""

    name = "cosine"
    changes = True
    rule = "α_k = α_min + (α₀ − α_min)·½(1 + cos(π min(k,T)/T))"

    def __init__(self, total_steps: int, min_lr: float = 0.0):
        self.total_steps = _positive_int("total_steps", total_steps)
        self.min_lr = float(min_lr)

    def value(self, lr, k):
        return _cosine_value(float(lr), k / self.total_steps, self.min_lr)

    def emit(self, opt, e, lr0, k, name):
        return _cosine(opt, e, lr0, e.Div(k, opt.const(e, "lr.total_steps", self.total_steps)), self.min_lr, name)


class WarmupCosineLR(Schedule):
    """A linear warm-up α_k = α₀ (k+1)/W for the first ``warmup_steps`` W, then cosine decay to α_min
    over the remaining ``total_steps`` − W steps."""

    name = "warmup-cosine"
    changes = True
    rule = "α_k = α₀ (k+1)/W for k < W, then α_min + (α₀ − α_min)·½(1 + cos(π (k−W)/(T−W)))"

    def __init__(self, warmup_steps: int, total_steps: int, min_lr: float = 0.0):
        self.warmup_steps = _positive_int("warmup_steps", warmup_steps)
        self.total_steps = _positive_int("total_steps", total_steps)
        if self.warmup_steps >= self.total_steps:
            raise GraphError(f"warmup_steps ({warmup_steps}) must be fewer than total_steps ({total_steps})")
        self.min_lr = float(min_lr)

    def value(self, lr, k):
        W, T = self.warmup_steps, self.total_steps
        if k < W:
            return float(lr) * (k + 1) / W
        return _cosine_value(float(lr), (k - W) / (T - W), self.min_lr)

    def emit(self, opt, e, lr0, k, name):
        c = opt.const
        W, T = self.warmup_steps, self.total_steps
        warm = e.Div(e.Mul(lr0, e.Add(k, c(e, "one", 1.0))), c(e, "lr.warmup_steps", W), name="lr.warmup")
        p = e.Div(e.Sub(k, c(e, "lr.warmup_steps", W)), c(e, "lr.decay_steps", T - W))
        return e.Where(e.Greater(c(e, "lr.warmup_steps", W), k), warm, _cosine(opt, e, lr0, p, self.min_lr), name=name)


# -- the pass --------------------------------------------------------------------
class OptimizerPass(Pass):
    """Base class: finds (param, gradient) pairs, makes ``%lr`` (and its schedule), and asks
    ``update`` for each parameter's new value."""

    name = "optimizer"
    in_place = True
    rule = ""
    prepare_rule = ""

    def __init__(self, params: Optional[Sequence[str]] = None, keep_grads: bool = False,
                 schedule: Optional[Schedule] = None):
        self.params = list(params) if params is not None else None
        self.keep_grads = keep_grads
        self.schedule = schedule or ConstantLR()

    def pairs(self, graph: Graph):
        grads = {v.name: v for v in graph.outputs}
        if self.params is None:
            chosen = [p for p in graph.params if p.kind == "param" and grad_name(p) in grads]
            if not chosen:
                raise GradientError(f"optimizer: graph {graph.name} has no gradient outputs grad_<param>; "
                                    f"run the autodiff pass first")
        else:
            chosen = [graph.param(n) for n in self.params]
            missing = [p.name for p in chosen if grad_name(p) not in grads]
            if missing:
                raise GradientError(f"optimizer: no gradient output for {', '.join(missing)}; "
                                    f"run autodiff with these parameters in wrt")
        return [(p, grads[grad_name(p)]) for p in chosen]

    def run(self, graph: Graph) -> PassResult:
        pairs = self.pairs(graph)
        dtype = pairs[0][0].dtype
        # shared nodes (hyperparameter constants, step counters) carry no per-parameter grad_of
        self._shared = Emitter(graph, created_by="optimizer", phase="update", rule="a hyperparameter")
        self._consts: Dict[str, Value] = {}
        self._dtype = dtype
        self.lr_value = self.learning_rate(graph, dtype)
        e = Emitter(graph, created_by="optimizer", phase="update", rule=self.prepare_rule)
        self.prepare(graph, e, dtype)
        for p, g in pairs:
            pe = Emitter(graph, created_by="optimizer", phase="update", grad_of=p.name, rule=self.rule)
            new = self.update(graph, pe, p, g)
            graph.add_update(p, new)
        if not self.keep_grads:
            used = {id(g) for _, g in pairs}
            graph.outputs = [v for v in graph.outputs if id(v) not in used]
        return PassResult(graph, True)

    def learning_rate(self, graph: Graph, dtype) -> Value:
        """``state %lr`` (holding α₀ = the schedule's α at step 0) and the schedule's nodes."""
        lr = graph.add_param("lr", np.asarray(self.schedule.value(self.lr, 0), dtype.numpy), kind="state")
        se = Emitter(graph, created_by="optimizer", phase="update", rule=self.schedule.rule)
        if not self.schedule.changes:
            return lr
        k = graph.add_param("lr.step", np.zeros((), dtype.numpy), kind="state")
        k_new = se.Add(k, self.const(se, "one", 1.0), name="new_lr.step")
        graph.add_update(k, k_new)
        graph.add_update(lr, self.schedule.emit(self, se, self.const(se, "lr.base", self.lr), k_new, "new_lr"))
        return lr

    # -- helpers ---------------------------------------------------------------
    def const(self, e: Emitter, name: str, value: float, dtype=None) -> Value:
        """One shared, named Constant per hyperparameter (in the parameters' dtype)."""
        if name not in self._consts:
            self._consts[name] = self._shared.const(value, dtype or self._dtype, name=name)
        return self._consts[name]

    @staticmethod
    def state(graph: Graph, name: str, like: Value) -> Value:
        """A zero-initialised optimizer state buffer of ``like``'s type."""
        arr = np.zeros([int(d) for d in like.shape], like.dtype.numpy)
        return graph.add_param(name, arr, kind="state")

    def prepare(self, graph: Graph, e: Emitter, dtype) -> None:
        """Emit anything shared by all parameters (e.g. Adam's step counter)."""

    def update(self, graph: Graph, e: Emitter, p: Value, g: Value) -> Value:
        raise NotImplementedError


class SGDUpdate(OptimizerPass):
    """w ← w − α∇ ; with momentum μ > 0: v ← μv + ∇, w ← w − αv."""

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, **kw):
        super().__init__(**kw)
        self.lr, self.momentum = float(lr), float(momentum)
        self.rule = ("v ← μv + ∇, w ← w − αv" if self.momentum else "w ← w − α∇  (α = lr)")

    def update(self, graph, e, p, g):
        if self.momentum:
            v = self.state(graph, f"{p.name}.velocity", p)
            mu = self.const(e, "momentum", self.momentum)
            v_new = e.Add(e.Mul(mu, v), g, name=f"new_{v.name}")
            graph.add_update(v, v_new)
            g = v_new
        return e.Sub(p, e.Mul(self.lr_value, g, name=f"step_{p.name}"), name=f"new_{p.name}")


class AdamUpdate(OptimizerPass):
    """Adam (Kingma & Ba): bias-corrected moment estimates m̂, v̂; w ← w − α m̂ / (√v̂ + ε).

    ``weight_decay`` λ > 0 with ``decay`` (parameter names) is AdamW's decoupled decay
    (Loshchilov & Hutter): w ← w − α (m̂ / (√v̂ + ε) + λw), outside the gradient."""

    rule = "m ← β₁m + (1−β₁)∇, v ← β₂v + (1−β₂)∇², w ← w − α m̂ / (√v̂ + ε)"
    prepare_rule = "t ← t + 1; bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 decay: Sequence[str] = (), **kw):
        super().__init__(**kw)
        self.lr, self.eps = float(lr), float(eps)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.weight_decay, self.decay = float(weight_decay), list(decay)

    def prepare(self, graph, e, dtype):
        t = graph.add_param("adam.step", np.zeros((), dtype.numpy), kind="state")
        one = self.const(e, "one", 1.0)
        t_new = e.Add(t, one, name="new_adam.step")
        graph.add_update(t, t_new)
        # the bias corrections 1 − βᵗ are shared by every parameter
        self.c1 = e.Sub(one, e.Pow(self.const(e, "beta1", self.beta1), t_new), name="adam.c1")
        self.c2 = e.Sub(one, e.Pow(self.const(e, "beta2", self.beta2), t_new), name="adam.c2")

    def update(self, graph, e, p, g):
        b1, b2 = self.const(e, "beta1", self.beta1), self.const(e, "beta2", self.beta2)
        m = self.state(graph, f"{p.name}.m", p)
        v = self.state(graph, f"{p.name}.v", p)
        a1 = self.const(e, "one_minus_beta1", 1.0 - self.beta1)
        a2 = self.const(e, "one_minus_beta2", 1.0 - self.beta2)
        m_new = e.Add(e.Mul(b1, m), e.Mul(a1, g), name=f"new_{m.name}")
        v_new = e.Add(e.Mul(b2, v), e.Mul(a2, e.Square(g)), name=f"new_{v.name}")
        graph.add_update(m, m_new)
        graph.add_update(v, v_new)
        m_hat = e.Div(m_new, self.c1)
        v_hat = e.Div(v_new, self.c2)
        direction = e.Div(m_hat, e.Add(e.Sqrt(v_hat), self.const(e, "eps", self.eps)))
        if self.weight_decay and p.name in self.decay:
            de = Emitter(graph, created_by="optimizer", phase="update", grad_of=p.name,
                         rule="w ← w − α (m̂ / (√v̂ + ε) + λw)  (decoupled weight decay)")
            direction = de.Add(direction, de.Mul(self.const(e, "weight_decay", self.weight_decay), p))
        step = e.Mul(self.lr_value, direction, name=f"step_{p.name}")
        return e.Sub(p, step, name=f"new_{p.name}")


SCHEDULES = {"constant": ConstantLR, "step": StepLR, "cosine": CosineLR, "warmup-cosine": WarmupCosineLR}

__all__: List[str] = ["AdamUpdate", "ConstantLR", "CosineLR", "OptimizerPass", "SCHEDULES", "SGDUpdate",
                      "Schedule", "StepLR", "WarmupCosineLR"]
