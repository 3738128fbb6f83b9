"""Training objectives by name: a loss emitted as IR on a model's output (with the IR's loss ops), and L2
regularisation. Named ``...Objective`` so that they do not clash with the IR's ``CrossEntropy`` etc.

An ``Objective`` knows the type of its target input, emits the mean loss on the
model output ``%z``, the prediction the user sees (``link``: softmax of the
logits, σ of a logit, or ``%z`` itself) and, for classifiers, the accuracy.

    "cross_entropy"         softmax + cross-entropy on logits (the lecture's softmax
                            regression); targets as class indices or one-hot vectors
    "squared_error"         ℒ = ½‖y − t‖²
    "binary_cross_entropy"  ℒ = −t log σ(z) − (1 − t) log(1 − σ(z)), computed stably
                            from the logit as softplus(z) − t z

The L2 regulariser of the lecture, ℒ_reg = ℒ + λℛ with ℛ = ½Σw², is IR
too (``add_l2``), so autodiff gives its gradient term λw. Biases are not
decayed (the lecture's ℛ = ½w² regularises the weight only).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import numpy as np

from ...ir import DType, Emitter, InputError, IRTypeError, TensorType, Value
from ...ir.errors import ChainruleError


class Objective:
    """Base class: ``emit(e, z, t)`` returns the scalar mean loss as an IR value."""

    name = ""
    targets = "values"  # "indices" (class ids, i64[N]) or "values" (same type as z)

    def target_type(self, z: TensorType) -> TensorType:
        return z

    def emit(self, e: Emitter, z: Value, t: Value) -> Value:
        raise NotImplementedError

    def link(self, e: Emitter, z: Value) -> Value:
        """The prediction shown to the user (probabilities for classifiers)."""
        return z

    def correct(self, e: Emitter, z: Value, t: Value) -> Optional[Value]:
        """A bool tensor: is each prediction right? None if not a classifier."""
        return None

    def is_classifier(self, z: TensorType) -> bool:
        """Does an accuracy metric make sense for model outputs of type ``z``?"""
        return type(self).correct is not Objective.correct

    def prepare_target(self, t, want: TensorType) -> np.ndarray:
        """Convert a user's target array to the graph's target input type, or explain why not."""
        t = np.asarray(t)
        if self.targets == "indices":
            if t.dtype.kind == "f" and t.ndim == 2:
                raise InputError(f"loss {self.name!r} was compiled for class-index targets (shape [N]) but got "
                                 f"a float array of shape {list(t.shape)}; pass t.argmax(1) or compile with "
                                 f"targets='one_hot'")
            if t.dtype.kind not in "iub":
                # a float label is a class index only if finite and whole (inf would cast to -2**63)
                whole = np.isfinite(t) & (t == np.round(t)) if t.dtype.kind == "f" else np.zeros(t.shape, bool)
                if np.all(whole):
                    t = t.astype(np.int64)
                else:
                    at = np.argwhere(~whole)[0] if t.ndim else ()
                    where = f" at position {', '.join(map(str, at))}" if len(at) else ""
                    raise InputError(f"loss {self.name!r}: class-index targets must be finite integers, got {t.dtype} "
                                     f"values such as {t[tuple(at)]!r}{where}")
            return t.astype(np.int64, copy=False)
        t = t.astype(want.dtype.numpy, copy=False)
        if t.ndim == want.rank - 1 and want.shape[-1] == 1:
            t = t.reshape(t.shape + (1,))  # t of shape [N] for an output of shape [N,1]
        return t

    def __repr__(self):
        return f"<loss {self.name}>"


def _mean_over_batch(e: Emitter, per_elem: Value, name: str) -> Value:
    """(1/N) Σ over every element: the per-example sum, averaged over the batch."""
    total = e.ReduceSum(per_elem, axes=None, keepdims=0)
    if per_elem.type.rank == 0:
        return e.Identity(total, name=name)
    return e.Div(total, e.Count(per_elem, axes=(0,)), name=name)


class CrossEntropyObjective(Objective):
    """Softmax cross-entropy: ℒ = −Σₖ tₖ log softmax(z)ₖ, mean over the batch."""

    name = "cross_entropy"

    def __init__(self, targets: str = "indices", from_logits: bool = True):
        if targets not in ("indices", "one_hot"):
            raise IRTypeError(f"cross_entropy targets must be 'indices' or 'one_hot', got {targets!r}")
        self.targets = "indices" if targets == "indices" else "values"
        self.from_logits = from_logits

    def _classes(self, z: TensorType) -> int:
        if z.rank != 2 or not isinstance(z.shape[1], int):
            raise IRTypeError(f"cross_entropy needs a model output of shape [N,K] with K fixed, got {z}")
        return z.shape[1]

    def target_type(self, z):
        self._classes(z)
        return TensorType(z.shape[:1], DType.i64) if self.targets == "indices" else z

    def one_hot(self, e, z, t):
        if self.targets == "indices":
            return e.OneHot(t, depth=self._classes(z.type), dtype=z.dtype, name="t_onehot")
        return t

    def emit(self, e, z, t):
        op = "SoftmaxCrossEntropy" if self.from_logits else "CrossEntropy"
        return e(op, z, self.one_hot(e, z, t), reduction="mean", name="loss")

    def link(self, e, z):
        return e.Softmax(z, axis=-1, name="probs") if self.from_logits else z

    def correct(self, e, z, t):
        labels = t if self.targets == "indices" else e.ArgMax(t, axis=-1, keepdims=0)
        return e.Equal(e.ArgMax(z, axis=-1, keepdims=0, name="predicted"), labels)


class SquaredErrorObjective(Objective):
    """ℒ = ½‖y − t‖², mean over the batch."""

    name = "squared_error"

    def emit(self, e, z, t):
        return e.SquaredError(z, t, reduction="mean", name="loss")

    def is_classifier(self, z):
        # K > 1 outputs with one-hot targets (the lecture's MLP with squared error): argmax is the class
        return z.rank == 2 and isinstance(z.shape[1], int) and z.shape[1] > 1

    def correct(self, e, z, t):
        if not self.is_classifier(z.type):
            return None
        return e.Equal(e.ArgMax(z, axis=-1, keepdims=0, name="predicted"), e.ArgMax(t, axis=-1, keepdims=0))


class BinaryCrossEntropyObjective(Objective):
    """ℒ = −t log y − (1 − t) log(1 − y) with y = σ(z); from the logit it is softplus(z) − t z."""

    name = "binary_cross_entropy"

    def __init__(self, from_logits: bool = True):
        self.from_logits = from_logits

    def emit(self, e, z, t):
        if not self.from_logits:
            return e.BinaryCrossEntropy(z, t, reduction="mean", name="loss")
        # −t log σ(z) − (1−t) log(1−σ(z)) = log(1 + eᶻ) − t z: no log of 0 when σ(z) rounds to 1
        per_elem = e.Sub(e.Softplus(z), e.Mul(t, z), name="bce")
        return _mean_over_batch(e, per_elem, "loss")

    def link(self, e, z):
        return e.Sigmoid(z, name="probs") if self.from_logits else z

    def correct(self, e, z, t):
        half = e.const(0.0 if self.from_logits else 0.5, z.dtype, name="threshold")
        pred = e.Greater(z, half, name="predicted")
        truth = e.Greater(t, e.const(0.5, t.dtype, name="half"))
        return e.Equal(pred, truth)  # one entry per output: accuracy is per output unit


class LossError(ChainruleError, ValueError):
    """A loss asked for by a name chainrule does not know."""


LOSSES = {"cross_entropy": CrossEntropyObjective, "squared_error": SquaredErrorObjective,
          "binary_cross_entropy": BinaryCrossEntropyObjective}


def get_loss(loss: Union[str, Objective], **options) -> Objective:
    """A loss object from its name (with ``options``) or the object itself."""
    if isinstance(loss, Objective):
        return loss
    if loss not in LOSSES:
        raise LossError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[loss](**options)


def decayed_params(params: Sequence[Value]) -> List[Value]:
    """The parameters ℛ regularises: trainable ones that are not biases."""
    return [p for p in params if p.kind == "param" and not p.name.split(".")[-1].startswith("bias")
            and p.name not in ("b", "bias")]


def add_l2(e: Emitter, loss: Value, params: Sequence[Value], lam: float) -> Value:
    """ℒ_reg = ℒ + λℛ with ℛ = ½ Σ_w Σ w², as IR."""
    if not params:
        raise IRTypeError(f"weight decay {lam} needs at least one weight to regularise, and the model has none "
                          f"(biases and optimizer state are not decayed); set weight_decay=0")
    terms = [e.ReduceSum(e.Square(w), axes=None, keepdims=0) for w in params]
    total = terms[0] if len(terms) == 1 else e.Sum(*terms)
    R = e.Mul(e.const(0.5, loss.dtype, name="half"), total, name="R")
    return e.Add(loss, e.Mul(e.const(lam, loss.dtype, name="lambda"), R), name="L_reg")
