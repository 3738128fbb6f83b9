"""``chainrule train``: train an MLP (default: on the bundled 8×8 digits) end to end.

Compiles one training-step graph (forward, loss, backward, update), runs it
over shuffled mini-batches, prints a progress bar per epoch on stderr and the
final accuracies on stdout, and writes to ``--out``: ``checkpoint.npz``
(after every epoch, atomically), ``summary.json``, ``train_step.ir`` (the
compiled step), and with matplotlib ``curves.png`` and ``features.png``.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from ...ir import print_graph
from ...ir.errors import ChainruleError
from ...ir.files import write_file
from ..train import checkpoint, datasets, plots
from ..train.datasets import DatasetError
from ..train.interrupt import StopOnSignal, Terminated, TerminateRaises
from ..train.objectives import LOSSES
from ..python.nn import ACTIVATIONS, mlp
from ..train.optim import OPTIMIZERS, Adam, OptimizerError, SGD
from ..train.loop import Split, TrainingLoop, accuracy
from ..train.step import compile_train

DEFAULT_LR = {"sgd": 0.1, "adam": 0.01}
# squared error on the logits has larger gradients early on: SGD with momentum 0.9 at 0.1 (and
# 0.05) diverges on the digits in the second epoch; 0.02 reaches about 0.98
DEFAULT_LR_SQUARED_ERROR_SGD = 0.02
# settings a resumed run must share with the checkpoint (the rest may change, e.g. --epochs)
ARCH_KEYS = ("data", "hidden", "activation", "loss", "optimizer", "lr", "momentum", "weight_decay",
             "batch_size", "seed", "test_fraction")


class TrainConfigError(ChainruleError, ValueError):
    """A ``chainrule train`` option is invalid or conflicts with the checkpoint being resumed."""


def _hidden(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()] if text.strip() else []
    except ValueError:
        raise TrainConfigError(f"--hidden takes comma-separated layer sizes like 64,32, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise TrainConfigError(f"--hidden layer sizes must be positive, got {text!r}")
    return sizes


def add_parser(sub):
    p = sub.add_parser(
        "train", help="train an MLP classifier (default: the bundled handwritten digits)",
        description="Train a multilayer perceptron end to end. The whole training step (forward, loss, "
                    "backward, optimizer update) is one compiled IR graph, written to OUT/train_step.ir. "
                    "Defaults reach about 0.97 test accuracy on the bundled 8x8 digits in a few seconds.")
    p.add_argument("--hidden", default="64", metavar="SIZES",
                   help="hidden layer sizes, comma-separated (default 64; e.g. 64,32 for two layers; '' for none)")
    p.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS),
                   help="activation between layers (default relu)")
    p.add_argument("--loss", default="cross_entropy", choices=list(LOSSES),
                   help="loss: softmax cross-entropy on the logits (default), squared error on one-hot "
                        "targets, or binary cross-entropy per class on a logistic output")
    p.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS),
                   help="sgd (w <- w - lr*grad, with --momentum) or adam (default sgd)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate alpha (default 0.1 for sgd, 0.02 for sgd with --loss squared_error, "
                        "0.01 for adam)")
    p.add_argument("--momentum", type=float, default=0.9,
                   help="SGD momentum mu: v <- mu*v + grad, w <- w - lr*v (default 0.9; 0 for plain SGD)")
    p.add_argument("--weight-decay", type=float, default=0.0, metavar="LAMBDA",
                   help="L2 regularisation: minimise L + LAMBDA * 1/2 sum w^2 over the weights (default 0)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training set (default 20)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per training step (default 32)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for the weights, the train/test split and the batch order (default 0)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of the digits held out for testing, stratified by class (default 0.2)")
    p.add_argument("--mnist", metavar="DIR", default=None,
                   help="train on MNIST IDX files in DIR (train-images-idx3-ubyte[.gz] and the t10k files) "
                        "instead of the bundled digits; nothing is downloaded")
    p.add_argument("--out", default="chainrule-run", metavar="DIR",
                   help="output folder for checkpoint.npz, summary.json, train_step.ir and the PNGs "
                        "(default ./chainrule-run)")
    p.add_argument("--resume", metavar="CHECKPOINT", default=None,
                   help="continue from a checkpoint.npz written by an earlier run with the same settings; "
                        "the result equals an uninterrupted run")
    p.add_argument("--check-numerics", action="store_true",
                   help="check every node's result for NaN/Inf and name the first one (forward or backward)")
    p.set_defaults(run=run)


def _data(args):
    if args.mnist:
        Xtr, ytr = datasets.load_mnist(*datasets.find_mnist(args.mnist, "train"))
        Xte, yte = datasets.load_mnist(*datasets.find_mnist(args.mnist, "test"))
        name = f"mnist:{os.path.abspath(args.mnist)}"
    else:
        X, y = datasets.load_digits()
        Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, args.test_fraction, seed=args.seed)
        name = "digits"
    Xtr, Xte = datasets.standardize(Xtr, Xte)
    return name, Xtr, Xte, ytr, yte


def _flag_checked(*makers):
    """Call each maker; a range error from the library ("lr must be in (0.0, ∞), got -1.0")
    is reported with the flag the user typed ("--lr must be ...")."""
    try:
        return [make() for make in makers]
    except (OptimizerError, DatasetError) as err:
        name, _, rest = str(err).partition(" ")
        if rest.startswith("must be") and name in ("lr", "momentum", "weight_decay", "test_fraction"):
            raise TrainConfigError(f"--{name.replace('_', '-')} {rest}") from None
        raise


def _out_dir(path):
    if os.path.exists(path) and not os.path.isdir(path):
        raise TrainConfigError(f"--out {path}: exists and is not a folder (give a folder for the run's files)")
    os.makedirs(path, exist_ok=True)


def _targets(loss, y, k):
    """Class indices for cross-entropy; one-hot rows for the other losses."""
    return y if loss == "cross_entropy" else np.eye(k, dtype=np.float32)[y]


class Progress:
    """A one-line text progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, epochs, stream=None, width=24):
        self.epochs, self.width = epochs, width
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def bar(self, frac):
        n = int(round(frac * self.width))
        return "[" + "#" * n + "." * (self.width - n) + "]"

    def batch(self, epoch, k, nbatches, loss):
        if self.tty:
            self.stream.write(f"\repoch {epoch:>3}/{self.epochs} {self.bar((k + 1) / nbatches)} loss {loss:.4f}")
            self.stream.flush()

    def epoch(self, stats):
        epoch = stats["epoch"]
        line = (f"epoch {epoch:>3}/{self.epochs} {self.bar(epoch / self.epochs)} loss {stats['train_loss']:.4f} "
                f"acc {stats['train_accuracy']:.4f} test_acc {stats['test_accuracy']:.4f}")
        self.stream.write(("\r" if self.tty else "") + line + "\n")
        self.stream.flush()


def run(args):
    try:  # SIGTERM outside the loop (start-up, plotting): a message and 143, not a silent kill
        with TerminateRaises():
            return _train(args)
    except Terminated as t:
        print("chainrule train: terminated by SIGTERM outside a training step; the files written so far are "
              "complete", file=sys.stderr)
        return t.exit_code


def _train(args):
    t0 = time.perf_counter()
    hidden = _hidden(args.hidden)
    for flag, v in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if v < 1:
            raise TrainConfigError(f"{flag} must be at least 1, got {v}")
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    if args.lr is None and args.optimizer == "sgd" and args.loss == "squared_error":
        lr = DEFAULT_LR_SQUARED_ERROR_SGD
    opt, (data_name, Xtr, Xte, ytr, yte) = _flag_checked(
        lambda: (SGD(lr, momentum=args.momentum, weight_decay=args.weight_decay) if args.optimizer == "sgd"
                 else Adam(lr, weight_decay=args.weight_decay)),
        lambda: _data(args))
    k = int(max(ytr.max(), yte.max())) + 1
    config = {"data": data_name, "hidden": hidden, "activation": args.activation, "loss": args.loss,
              "optimizer": args.optimizer, "lr": lr, "momentum": args.momentum if args.optimizer == "sgd" else None,
              "weight_decay": args.weight_decay, "batch_size": args.batch_size, "seed": args.seed,
              "test_fraction": args.test_fraction if not args.mnist else None, "epochs": args.epochs}

    model = mlp([Xtr.shape[1], *hidden, k], args.activation, seed=args.seed)
    step = compile_train(model, loss=args.loss, optimizer=opt, metrics=[], check_numerics=args.check_numerics)
    train, test = Split(Xtr, _targets(args.loss, ytr, k), ytr), Split(Xte, _targets(args.loss, yte, k), yte)
    _out_dir(args.out)
    ckpt_path = os.path.join(args.out, "checkpoint.npz")
    history, start, skip = [], 0, 0
    if args.resume:
        meta = checkpoint.read(args.resume)[0]
        old = meta.get("config", {})
        diff = [f"{key}: checkpoint {old.get(key)!r}, now {config[key]!r}" for key in ARCH_KEYS
                if old.get(key) != config[key]]
        if diff:
            raise TrainConfigError(f"{args.resume}: cannot resume with different settings ({'; '.join(diff)})")
        meta = checkpoint.load(args.resume, step)
        # skip: batches of epoch start+1 done before an interruption
        start, skip, history = checkpoint.resume_point(args.resume, meta, args.epochs, -(-len(Xtr) // args.batch_size))
        print(f"resuming from {args.resume} at epoch {start}" + (f", batch {skip}" if skip else "")
              + f" (step {step.steps})", file=sys.stderr)
    write_file(os.path.join(args.out, "train_step.ir"), print_graph(step.graph))

    progress = Progress(args.epochs)
    loop = TrainingLoop(step, train, test, args.epochs, args.batch_size, ckpt_path, config, seed=args.seed,
                        history=history, start_epoch=start, start_batch=skip,
                        on_batch=progress.batch, on_epoch=progress.epoch)
    with StopOnSignal() as stop:  # SIGINT/SIGTERM: finish the batch, checkpoint, exit 130/143
        stopped = loop.run(stop)
    history = loop.history
    if stopped is not None:
        where = (f"after epoch {stopped.epoch}" if stopped.batch == stopped.batches else
                 f"in epoch {stopped.epoch} after batch {stopped.batch} of {stopped.batches}")
        print(("" if stopped.batch == stopped.batches else "\n") + f"interrupted by {stopped.signal} {where}; "
              f"wrote {ckpt_path}; continue with --resume {ckpt_path}", file=sys.stderr)
        return stopped.exit_code

    final = {"train_accuracy": accuracy(step, train), "test_accuracy": accuracy(step, test)}
    written, skipped = ["checkpoint.npz", "train_step.ir"], []
    if not os.path.exists(ckpt_path):  # zero epochs left to run (resumed a finished run)
        checkpoint.save(ckpt_path, step, {"epoch": start, "config": config, "history": history})
    for name, draw in (("curves.png", lambda p: plots.plot_curves(history, p, args.loss)),
                       ("features.png", lambda p: plots.plot_first_layer(
                           step.params["fc1.weight"], p, kind="hidden units (feature detectors)" if hidden
                           else "output units (no hidden layer: one template per class)"))):
        try:
            draw(os.path.join(args.out, name))
            written.append(name)
        except plots.PlotUnavailable as err:
            skipped.append(f"{name} ({err})")
        except ValueError as err:  # e.g. inputs that do not form a square image
            skipped.append(f"{name} ({err})")
    summary = {"config": config, "final": final, "epochs_run": args.epochs - start, "steps": step.steps,
               "history": history, "files": written + ["summary.json"], "skipped": skipped,
               "seconds": round(time.perf_counter() - t0, 3)}
    write_file(os.path.join(args.out, "summary.json"), json.dumps(summary, indent=2))
    print(f"train accuracy {final['train_accuracy']:.4f}")
    print(f"test accuracy  {final['test_accuracy']:.4f}")
    print(f"wrote {', '.join(written + ['summary.json'])} to {args.out}")
    for s in skipped:
        print(f"skipped {s}")
    return 0
