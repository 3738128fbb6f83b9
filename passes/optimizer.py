"""Optimizers as a pass: each parameter's update is emitted as IR nodes.

Runs after ``autodiff``. For every trainable parameter ``%w`` whose gradient
``%grad_w`` is a graph output, the pass appends ``phase=update`` nodes that
compute the new value, registers ``update %w <- %new_w``, and (unless
``keep_grads``) drops the gradients from the outputs. Optimizer state lives in
graph parameters of kind ``state`` with deterministic names
(``<param>.velocity``, ``<param>.m``, ``<param>.v``, ``adam.step``), so the
runtime keeps it between calls and an exporter sees it as ordinary inputs.

SGD, the lecture's rule w ← w − α ∇ (the mean loss already carries 1/N).
Before::

    %grad_w: f32[1,2] = ...  #[by=autodiff phase=backward ...]
    return %loss, %grad_w

After::

    %lr: f32[] = Constant() {value=dense<f32[]>0.1} #[by=optimizer phase=update ...]
    %step_w: f32[1,2] = Mul(%lr, %grad_w) #[by=optimizer phase=update ...]
    %new_w: f32[1,2] = Sub(%w, %step_w) #[by=optimizer phase=update ...]
    return %loss
    update %w <- %new_w

Momentum: v ← μv + ∇, w ← w − αv. Adam: m ← β₁m + (1−β₁)∇,
v ← β₂v + (1−β₂)∇², t ← t + 1, w ← w − α m̂ / (√v̂ + ε) with
m̂ = m / (1 − β₁ᵗ) and v̂ = v / (1 − β₂ᵗ).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ..ir import Emitter, GradientError, Graph, Value
from .autodiff import grad_name
from .manager import Pass, PassResult


class OptimizerPass(Pass):
    """Base class: finds (param, gradient) pairs and asks ``update`` for each new value."""

    name = "optimizer"
    in_place = True
    rule = ""
    prepare_rule = ""

    def __init__(self, params: Optional[Sequence[str]] = None, keep_grads: bool = False):
        self.params = list(params) if params is not None else None
        self.keep_grads = keep_grads

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
        # shared nodes (hyperparameter constants, Adam's step counter) carry no per-parameter grad_of
        self._shared = Emitter(graph, created_by="optimizer", phase="update", rule="a hyperparameter")
        self._consts: Dict[tuple, Value] = {}
        e = Emitter(graph, created_by="optimizer", phase="update", rule=self.prepare_rule)
        self.prepare(graph, e, pairs[0][0].dtype)
        for p, g in pairs:
            pe = Emitter(graph, created_by="optimizer", phase="update", grad_of=p.name, rule=self.rule)
            new = self.update(graph, pe, p, g)
            graph.add_update(p, new)
        if not self.keep_grads:
            used = {id(g) for _, g in pairs}
            graph.outputs = [v for v in graph.outputs if id(v) not in used]
        return PassResult(graph, True)

    # -- helpers ---------------------------------------------------------------
    def const(self, e: Emitter, name: str, value: float, dtype) -> Value:
        """One shared, named Constant per hyperparameter and dtype."""
        key = (name, dtype)
        if key not in self._consts:
            self._consts[key] = self._shared.const(value, dtype, name=name)
        return self._consts[key]

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
        lr = self.const(e, "lr", self.lr, p.dtype)
        if self.momentum:
            v = self.state(graph, f"{p.name}.velocity", p)
            mu = self.const(e, "momentum", self.momentum, p.dtype)
            v_new = e.Add(e.Mul(mu, v), g, name=f"new_{v.name}")
            graph.add_update(v, v_new)
            g = v_new
        return e.Sub(p, e.Mul(lr, g, name=f"step_{p.name}"), name=f"new_{p.name}")


class AdamUpdate(OptimizerPass):
    """Adam (Kingma & Ba): bias-corrected moment estimates m̂, v̂; w ← w − α m̂ / (√v̂ + ε)."""

    rule = "m ← β₁m + (1−β₁)∇, v ← β₂v + (1−β₂)∇², w ← w − α m̂ / (√v̂ + ε)"
    prepare_rule = "t ← t + 1; bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, **kw):
        super().__init__(**kw)
        self.lr, self.eps = float(lr), float(eps)
        self.beta1, self.beta2 = (float(b) for b in betas)

    def prepare(self, graph, e, dtype):
        t = graph.add_param("adam.step", np.zeros((), dtype.numpy), kind="state")
        t_new = e.Add(t, self.const(e, "one", 1.0, dtype), name="new_adam.step")
        graph.add_update(t, t_new)
        one = self.const(e, "one", 1.0, dtype)
        # the bias corrections 1 − βᵗ are shared by every parameter
        self.c1 = e.Sub(one, e.Pow(self.const(e, "beta1", self.beta1, dtype), t_new), name="adam.c1")
        self.c2 = e.Sub(one, e.Pow(self.const(e, "beta2", self.beta2, dtype), t_new), name="adam.c2")

    def update(self, graph, e, p, g):
        dt = p.dtype
        b1, b2 = self.const(e, "beta1", self.beta1, dt), self.const(e, "beta2", self.beta2, dt)
        m = self.state(graph, f"{p.name}.m", p)
        v = self.state(graph, f"{p.name}.v", p)
        a1 = self.const(e, "one_minus_beta1", 1.0 - self.beta1, dt)
        a2 = self.const(e, "one_minus_beta2", 1.0 - self.beta2, dt)
        m_new = e.Add(e.Mul(b1, m), e.Mul(a1, g), name=f"new_{m.name}")
        v_new = e.Add(e.Mul(b2, v), e.Mul(a2, e.Square(g)), name=f"new_{v.name}")
        graph.add_update(m, m_new)
        graph.add_update(v, v_new)
        m_hat = e.Div(m_new, self.c1)
        v_hat = e.Div(v_new, self.c2)
        denom = e.Add(e.Sqrt(v_hat), self.const(e, "eps", self.eps, dt))
        step = e.Mul(self.const(e, "lr", self.lr, dt), e.Div(m_hat, denom), name=f"step_{p.name}")
        return e.Sub(p, step, name=f"new_{p.name}")


__all__: List[str] = ["AdamUpdate", "OptimizerPass", "SGDUpdate"]
