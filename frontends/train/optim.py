"""``cr.optim``: optimizers and learning-rate schedules as user-facing objects that produce the optimizer pass.

    opt = cr.optim.SGD(lr=0.1, momentum=0.9, weight_decay=1e-4, schedule=cr.optim.CosineLR(total_steps=800))
    step = cr.compile_train(model, optimizer=opt)
    step.lr                  # the %lr state: the rate of the next step

The update itself is IR (``passes/optimizer.py``), and so is the schedule: the
learning rate is a ``state`` value ``%lr`` that schedule nodes update after every
step. ``weight_decay`` λ of SGD and Adam is the lecture's L2 regulariser: the
frontend adds λℛ, ℛ = ½Σw², to the loss before autodiff, so the gradient carries
the λw term. ``AdamW`` instead decays the weights outside the gradient
(decoupled: w ← w − α(m̂/(√v̂+ε) + λw)).

An optimizer's hyperparameters are compiled into the step, so they cannot be
changed afterwards (``opt.lr = 0`` is an error, not silently ignored); the
learning rate of a compiled step is ``step.lr``.
"""
from __future__ import annotations

from ...ir.errors import ChainruleError
from ...passes.optimizer import (SCHEDULES, AdamUpdate, ConstantLR, CosineLR, OptimizerPass, Schedule, SGDUpdate,
                                 StepLR, WarmupCosineLR)


class OptimizerError(ChainruleError, ValueError):
    """An optimizer hyperparameter is out of range, or changed after construction."""


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


def _schedule(schedule):
    if schedule is None:
        return ConstantLR()
    if not isinstance(schedule, Schedule):
        raise OptimizerError(f"schedule must be a cr.optim schedule ({', '.join(c.__name__ for c in SCHEDULES.values())}), "
                             f"got {type(schedule).__name__}")
    return schedule


class Optimizer:
    """Base class: hyperparameters (fixed once made), and ``make_pass()`` giving the IR-emitting pass."""

    kind = ""

    def __setattr__(self, name, value):
        if getattr(self, "_frozen", False):
            raise OptimizerError(f"{type(self).__name__}.{name} cannot change after the optimizer is made: its "
                                 f"hyperparameters are compiled into the training step. Set step.lr for the "
                                 f"learning rate of a compiled step, or make a new optimizer and compile again")
        object.__setattr__(self, name, value)

    def _freeze(self):
        object.__setattr__(self, "_frozen", True)

    @property
    def l2(self) -> float:
        """λ of the L2 term the frontend adds to the loss (0 for decoupled decay)."""
        return self.weight_decay

    def make_pass(self, decay=()) -> OptimizerPass:
        """The pass; ``decay`` names the weights a decoupled weight decay applies to."""
        raise NotImplementedError

    def _fields(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def config(self) -> dict:
        return {"optimizer": self.kind, **self._fields()}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent w ← w − α∇; with momentum μ: v ← μv + ∇, w ← w − αv."""

    kind = "sgd"

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, weight_decay: float = 0.0, schedule=None):
        self.lr = _check("lr", lr, 0.0, lo_open=True)
        self.momentum = _check("momentum", momentum, 0.0, 1.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.schedule = _schedule(schedule)
        self._freeze()

    def make_pass(self, decay=()):
        return SGDUpdate(lr=self.lr, momentum=self.momentum, schedule=self.schedule)


class Adam(Optimizer):
    """Adam with bias-corrected moments; ``weight_decay`` adds λ·½Σw² to the loss."""

    kind = "adam"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 schedule=None):
        self.lr = _check("lr", lr, 0.0, lo_open=True)
        if len(tuple(betas)) != 2:
            raise OptimizerError(f"betas must be a pair (β₁, β₂), got {betas!r}")
        self.betas = (_check("betas[0]", betas[0], 0.0, 1.0), _check("betas[1]", betas[1], 0.0, 1.0))
        self.eps = _check("eps", eps, 0.0, lo_open=True)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.schedule = _schedule(schedule)
        self._freeze()

    def make_pass(self, decay=()):
        return AdamUpdate(lr=self.lr, betas=self.betas, eps=self.eps, schedule=self.schedule)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): w ← w − α(m̂/(√v̂ + ε) + λw) for the
    weights (not the biases); nothing is added to the loss."""

    kind = "adamw"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01,
                 schedule=None):
        super().__init__(lr, betas, eps, weight_decay, schedule)

    @property
    def l2(self) -> float:
        return 0.0

    def make_pass(self, decay=()):
        return AdamUpdate(lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay,
                          decay=decay, schedule=self.schedule)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}

__all__ = ["Adam", "AdamW", "ConstantLR", "CosineLR", "OPTIMIZERS", "Optimizer", "OptimizerError", "SCHEDULES",
           "SGD", "StepLR", "WarmupCosineLR"]
