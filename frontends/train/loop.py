"""The training loop: epochs of shuffled mini-batches, a record per epoch, a checkpoint after each.

    loop = TrainingLoop(step, Split(Xtr, ttr, ytr), Split(Xval, tval, yval), epochs=20, batch_size=32,
                        checkpoint_path="run/checkpoint.npz", config=settings,
                        best_path="run/best.npz", patience=5)
    stopped = loop.run(stop)        # None unless a signal stopped it; loop.reason says why it ended

Each epoch's record holds the mean training loss over the epoch's steps (measured
while the weights changed), then, measured after the epoch, the training accuracy,
the validation loss and accuracy, and the learning rate the epoch started with. The
test set is not looked at here: it is evaluated once, after training.

With a validation split, ``best_path`` gets the weights of the epoch with the lowest
validation loss, and ``patience`` N stops the run once N epochs in a row have not
improved on it. A signal (``interrupt.StopOnSignal``) stops the loop after the
current batch: the checkpoint then records the epoch and the batch reached, and a
loop started with ``start_epoch``/``start_batch`` from it continues with the same
batches, so the result equals an uninterrupted run. ``chainrule train`` is this loop
plus its flags.
"""
from __future__ import annotations

import math
from typing import Callable, List, NamedTuple, Optional

import numpy as np

from . import checkpoint
from .step import NonFiniteLossError, TrainStep


class Split(NamedTuple):
    """Examples, the targets the loss takes (class indices or one-hot rows), and the class labels."""
    X: np.ndarray
    targets: np.ndarray
    labels: np.ndarray


class Stopped(NamedTuple):
    """Where a signal stopped the loop: in epoch ``epoch`` (1-based) after ``batch`` of ``batches``
    batches (``batch == batches``: at the end of that epoch)."""
    signal: str
    exit_code: int
    epoch: int
    batch: int
    batches: int


def accuracy(step: TrainStep, split: Split) -> float:
    """The share of ``split``'s examples whose highest-scoring class is the label."""
    return float(np.mean(np.argmax(step.predict(split.X, batch_size=4096), axis=1) == split.labels))


def best_epoch(history: List[dict]) -> Optional[dict]:
    """The record with the lowest validation loss (the first of equals), or None without validation."""
    scored = [h for h in history if h.get("val_loss") is not None and math.isfinite(h["val_loss"])]
    return min(scored, key=lambda h: h["val_loss"]) if scored else None


class _Interrupt(Exception):
    """Raised from the batch callback once a signal has arrived (the batch itself is complete)."""


class TrainingLoop:
    """Runs ``step`` over ``train`` for ``epochs`` epochs; ``history`` gets one record per epoch."""

    def __init__(self, step: TrainStep, train: Split, val: Optional[Split], epochs: int, batch_size: int,
                 checkpoint_path: str, config: dict, seed: int = 0, history: Optional[List[dict]] = None,
                 start_epoch: int = 0, start_batch: int = 0,
                 on_batch: Optional[Callable[[int, int, int, float], None]] = None,
                 on_epoch: Optional[Callable[[dict], None]] = None,
                 best_path: Optional[str] = None, patience: Optional[int] = None):
        if patience is not None and val is None:
            raise ValueError("patience needs a validation split to watch")
        self.step, self.train, self.val = step, train, val
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.checkpoint_path, self.config = checkpoint_path, config
        self.best_path, self.patience = best_path, patience
        self.history = list(history or [])
        self.start_epoch, self.start_batch = start_epoch, start_batch
        self.on_batch = on_batch or (lambda epoch, k, batches, loss: None)
        self.on_epoch = on_epoch or (lambda record: None)
        self.batches = -(-len(train.X) // batch_size)
        self.reason = ""  # why run() ended: "completed", "early stopping: ...", or the signal's name

    def save(self, epoch: int, **extra) -> None:
        """Write the checkpoint (atomically): the step's arrays, the position and the history."""
        checkpoint.save(self.checkpoint_path, self.step,
                        {"epoch": epoch, "config": self.config, "history": self.history, **extra})

    def _record(self, epoch: int, train_loss: float, lr: float) -> dict:
        record = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": accuracy(self.step, self.train),
                  "lr": lr}
        if self.val is not None:
            val = self.step.evaluate(self.val.X, self.val.targets, batch_size=4096)
            record.update(val_loss=val["loss"], val_accuracy=accuracy(self.step, self.val))
        return record

    def _patience_ran_out(self) -> bool:
        """Save the best weights when this epoch is the best; True once ``patience`` epochs did not improve."""
        best = best_epoch(self.history)
        if best is None:
            return False
        if best is self.history[-1] and self.best_path:
            checkpoint.save(self.best_path, self.step, {"epoch": best["epoch"], "config": self.config,
                                                        "best": {"val_loss": best["val_loss"]}})
        waited = self.history[-1]["epoch"] - best["epoch"]
        if self.patience is not None and waited >= self.patience:
            self.reason = (f"early stopping: val_loss did not improve for {waited} epochs "
                           f"(best {best['val_loss']:.4f} at epoch {best['epoch']})")
            return True
        return False

    def run(self, stop=None) -> Optional[Stopped]:
        """Run the remaining epochs; returns None, or where ``stop`` (truthy once a signal came) stopped it."""
        self.reason = "completed"
        for ep in range(self.start_epoch, self.epochs):
            done = self.start_batch if ep == self.start_epoch else 0
            lr = self.step.lr

            def on_batch(k, last):
                nonlocal done
                self.on_batch(ep + 1, k, self.batches, last["loss"])
                done = k + 1
                if stop and done < self.batches:  # after the last batch the epoch ends normally (and is saved)
                    raise _Interrupt

            try:
                if stop:
                    raise _Interrupt
                stats = self.step.fit_epoch(self.train.X, self.train.targets, self.batch_size, seed=self.seed,
                                            epoch=ep, on_batch=on_batch, start_batch=done)
            except NonFiniteLossError as err:
                self.reason = f"non-finite loss in epoch {ep + 1}"
                raise NonFiniteLossError(f"epoch {ep + 1}, {err}") from err
            except _Interrupt:
                self.reason = stop.name
                self.save(ep, batch=done, interrupted=stop.name)
                return Stopped(stop.name, stop.exit_code, ep + 1, done, self.batches)
            self.history.append(self._record(ep + 1, stats["loss"], lr))
            self.on_epoch(self.history[-1])
            self.save(ep + 1)
            ran_out = self._patience_ran_out()
            if stop:  # arrived at the end of the epoch: the checkpoint just written is the final one
                self.reason = stop.name
                return Stopped(stop.name, stop.exit_code, ep + 1, self.batches, self.batches)
            if ran_out:
                return None
        return None
