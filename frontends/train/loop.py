"""The training loop: epochs of shuffled mini-batches, a record per epoch, a checkpoint after each.

    loop = TrainingLoop(step, Split(Xtr, ttr, ytr), Split(Xte, tte, yte), epochs=20, batch_size=32,
                        checkpoint_path="run/checkpoint.npz", config=settings)
    stopped = loop.run(stop)        # None when every epoch ran; else where a signal stopped it

A signal (``interrupt.StopOnSignal``) stops the loop after the current batch: the
checkpoint then records the epoch and the batch reached, and a loop started with
``start_epoch``/``start_batch`` from it continues with the same batches, so the
result equals an uninterrupted run. ``chainrule train`` is this loop plus its flags.
"""
from __future__ import annotations

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


class _Interrupt(Exception):
    """Raised from the batch callback once a signal has arrived (the batch itself is complete)."""


class TrainingLoop:
    """Runs ``step`` over ``train`` for ``epochs`` epochs; ``history`` gets one record per epoch."""

    def __init__(self, step: TrainStep, train: Split, test: Split, epochs: int, batch_size: int,
                 checkpoint_path: str, config: dict, seed: int = 0, history: Optional[List[dict]] = None,
                 start_epoch: int = 0, start_batch: int = 0,
                 on_batch: Optional[Callable[[int, int, int, float], None]] = None,
                 on_epoch: Optional[Callable[[dict], None]] = None):
        self.step, self.train, self.test = step, train, test
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.checkpoint_path, self.config = checkpoint_path, config
        self.history = list(history or [])
        self.start_epoch, self.start_batch = start_epoch, start_batch
        self.on_batch = on_batch or (lambda epoch, k, batches, loss: None)
        self.on_epoch = on_epoch or (lambda record: None)
        self.batches = -(-len(train.X) // batch_size)

    def save(self, epoch: int, **extra) -> None:
        """Write the checkpoint (atomically): the step's arrays, the position and the history."""
        checkpoint.save(self.checkpoint_path, self.step,
                        {"epoch": epoch, "config": self.config, "history": self.history, **extra})

    def run(self, stop=None) -> Optional[Stopped]:
        """Run the remaining epochs; returns None, or where ``stop`` (truthy once a signal came) stopped it."""
        for ep in range(self.start_epoch, self.epochs):
            done = self.start_batch if ep == self.start_epoch else 0

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
                raise NonFiniteLossError(f"epoch {ep + 1}, {err}") from err
            except _Interrupt:
                self.save(ep, batch=done, interrupted=stop.name)
                return Stopped(stop.name, stop.exit_code, ep + 1, done, self.batches)
            test = self.step.evaluate(self.test.X, self.test.targets, batch_size=4096)
            record = {"epoch": ep + 1, "train_loss": stats["loss"], "train_accuracy": accuracy(self.step, self.train),
                      "test_loss": test["loss"], "test_accuracy": accuracy(self.step, self.test)}
            self.history.append(record)
            self.on_epoch(record)
            self.save(ep + 1)
            if stop:  # arrived at the end of the epoch: the checkpoint just written is the final one
                return Stopped(stop.name, stop.exit_code, ep + 1, self.batches, self.batches)
        return None
