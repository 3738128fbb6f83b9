"""``cr.optim``: optimizers as user-facing objects that produce the optimizer pass.

    opt = cr.optim.SGD(lr=0.1, momentum=0.9, weight_decay=1e-4)
    step = cr.compile_train(model, optimizer=opt)

The update itself is IR (``passes/optimizer.py``). ``weight_decay`` λ is the
lecture's L2 regulariser: the frontend adds λℛ, ℛ = ½Σw², to the loss
before autodiff, so the gradient carries the λw term (for Adam this is L2
regularisation, not the decoupled "AdamW" decay).
"""
from __future__ import annotations

from ...ir.errors import ChainruleError
from ...passes.optimizer import AdamUpdate, OptimizerPass, SGDUpdate


class OptimizerError(ChainruleError, ValueError):
    """An optimizer hyperparameter is out of range."""


def _check(name, value, lo, hi=None, lo_open=False, hi_open=True):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise OptimizerError(f"{name} must be a number, got {value!r}") from None
    bad = value < lo or (lo_open and value == lo) or (hi is not None and (value > hi or (hi_open and value == hi)))
    if bad or value != value:
        rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else '∞'}{')' if hi_open else ']'}"
        raise OptimizerError(f"{name} must be in {rng}, got {value}")
    return value


class Optimizer:
    """Base class: hyperparameters, and ``make_pass()`` giving the IR-emitting pass."""

    kind = ""

    def make_pass(self) -> OptimizerPass:
        raise NotImplementedError

    def config(self) -> dict:
        return {"optimizer": self.kind, **{k: v for k, v in vars(self).items()}}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent w ← w − α∇; with momentum μ: v ← μv + ∇, w ← w − αv."""

    kind = "sgd"

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, weight_decay: float = 0.0):
        self.lr = _check("lr", lr, 0.0, lo_open=True)
        self.momentum = _check("momentum", momentum, 0.0, 1.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)

    def make_pass(self):
        return SGDUpdate(lr=self.lr, momentum=self.momentum)


class Adam(Optimizer):
    """Adam with bias-corrected moments; ``weight_decay`` adds λ·½Σw² to the loss."""

    kind = "adam"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.lr = _check("lr", lr, 0.0, lo_open=True)
        if len(tuple(betas)) != 2:
            raise OptimizerError(f"betas must be a pair (β₁, β₂), got {betas!r}")
        self.betas = (_check("betas[0]", betas[0], 0.0, 1.0), _check("betas[1]", betas[1], 0.0, 1.0))
        self.eps = _check("eps", eps, 0.0, lo_open=True)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)

    def make_pass(self):
        return AdamUpdate(lr=self.lr, betas=self.betas, eps=self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}

__all__ = ["Adam", "OPTIMIZERS", "Optimizer", "OptimizerError", "SGD"]
