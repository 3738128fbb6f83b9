"""``chainrule train [MODEL.py]``: train a classifier (default: an MLP on the bundled 8×8 digits) end to end.

Compiles one training-step graph (forward, loss, backward, update, learning-rate
schedule), runs it over shuffled mini-batches with a validation split, prints a
progress line per epoch on stderr and the final accuracies on stdout, and writes to
``--out``: ``checkpoint.npz`` (after every epoch, atomically), ``best.npz`` (the
epoch with the lowest validation loss; with ``--patience`` the run's model), ``model.ir`` (the inference
model, taking raw inputs: the standardisation fitted on the training split is its
first nodes), ``train_step.ir``, ``summary.json``, and with matplotlib
``curves.png``, ``features.png``, ``confusion.png`` and ``misclassified.png``.
A run stopped early (patience, NaN, SIGINT/SIGTERM) still writes ``summary.json``
and the curves, with the reason.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time

import numpy as np

from ...ir import print_graph
from ...ir.files import write_file
from ...ir.errors import ChainruleError, IRTypeError, ReadError
from ..train import checkpoint, datasets, plots
from ..train.datasets import DatasetError
from ..train.interrupt import StopOnSignal, Terminated, TerminateRaises
from ..train.objectives import LOSSES
from ..python.nn import (ACTIVATIONS, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU,
                         Sequential, Standardize, mlp)
from ..train.optim import OPTIMIZERS, SCHEDULES, OptimizerError
from .common import read_python, run_python
from ..train.loop import Split, TrainingLoop, accuracy, best_epoch
from ..train.step import NonFiniteLossError, compile_train

# the optimizers' own defaults (cr.optim.SGD(lr=0.1), Adam/AdamW(lr=1e-3)): the CLI and the library agree
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
DEFAULT_LR_CNN_SGD = 0.05  # batch norm's larger effective step: 0.1 oscillates late on the digits
# squared error on the logits has larger gradients early on: SGD with momentum 0.9 at 0.1 (and
# 0.05) diverges on the digits in the second epoch; 0.02 reaches about 0.98
DEFAULT_LR_SQUARED_ERROR_SGD = 0.02
# HardThreshold's derivative is 0 almost everywhere: gradient descent cannot train through it
TRAINABLE_ACTIVATIONS = sorted(a for a in ACTIVATIONS if a != "hard_threshold")
# settings a resumed run must share with the checkpoint (the rest may change, e.g. --epochs)
ARCH_KEYS = ("data", "model", "hidden", "activation", "loss", "optimizer", "lr", "lr_schedule", "momentum",
             "weight_decay", "batch_size", "seed", "test_fraction", "val_fraction")


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


def _image_side(features):
    side = int(round(math.sqrt(features)))
    if side * side != features:
        raise TrainConfigError(f"--model cnn needs square images; these examples have {features} features")
    return side


def digits_cnn(side: int, classes: int, seed: int = 0) -> Sequential:
    """The default CNN: two conv3-bn-relu-maxpool2 blocks (16, 32 channels), dropout, one linear layer."""
    after = side // 4
    return Sequential(Conv2d(1, 16, 3, padding=1, seed=seed), BatchNorm2d(16), ReLU(), MaxPool2d(2),
                      Conv2d(16, 32, 3, padding=1, seed=seed + 1), BatchNorm2d(32), ReLU(), MaxPool2d(2),
                      Flatten(), Dropout(0.25, seed=seed + 2), Linear(32 * after * after, classes, seed=seed + 3))


def _plot_features(step, path, hidden):
    """The first layer's weights as images: the MLP's rows as input images, the CNN's filters."""
    if "conv1.weight" in step.params:
        w = step.params["conv1.weight"]
        return plots.plot_first_layer(w.reshape(w.shape[0], -1), path, image_shape=w.shape[2:],
                                      kind="first-layer convolution filters")
    first = next((p for p in step.graph.params if p.kind == "param" and p.name.endswith(".weight")
                  and len(p.type.shape) == 2), None)
    if first is None:
        raise ValueError("the model has no first-layer weight matrix to draw")
    return plots.plot_first_layer(step.params[first.name], path, kind="hidden units (feature detectors)" if hidden
                                  else "output units (no hidden layer: one template per class)")


def add_parser(sub):
    p = sub.add_parser(
        "train", help="train a classifier: an MLP, or the model of MODEL.py (default data: the bundled digits)",
        description="Train a classifier end to end. The whole training step (forward, loss, backward, optimizer "
                    "update, learning-rate schedule) is one compiled IR graph, written to OUT/train_step.ir; the "
                    "inference model, standardisation included, to OUT/model.ir. Defaults reach about 0.96 test "
                    "accuracy on the bundled 8x8 digits in a few seconds.")
    p.add_argument("model", nargs="?", default=None, metavar="MODEL.py",
                   help="a Python file defining `model` (a cr.nn module) or `model()` returning one; "
                        "default: the built-in model of --model")
    p.add_argument("--model", dest="arch", default="mlp", choices=("mlp", "cnn"),
                   help="the built-in model: mlp, the multilayer perceptron of --hidden (default); cnn, a small "
                        "convolutional network (conv3-bn-relu-pool twice, dropout, linear) on the images as 1xHxW")
    p.add_argument("--hidden", default=None, metavar="SIZES",
                   help="hidden layer sizes of the MLP, comma-separated (default 64; e.g. 64,32 for two layers; "
                        "'' for none)")
    p.add_argument("--activation", default=None, choices=TRAINABLE_ACTIVATIONS,
                   help="activation between the MLP's layers (default relu)")
    p.add_argument("--loss", default="cross_entropy", choices=list(LOSSES),
                   help="loss: softmax cross-entropy on the logits (default), squared error on one-hot "
                        "targets, or binary cross-entropy per class on a logistic output")
    p.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS),
                   help="sgd (w <- w - lr*grad, with --momentum), adam, or adamw (Adam with decoupled "
                        "--weight-decay) (default sgd)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate alpha (default 0.1 for sgd, 0.05 for sgd with --model cnn, 0.02 for sgd "
                        "with --loss squared_error, 0.001 for adam and adamw, as in cr.optim)")
    p.add_argument("--lr-schedule", default="constant", choices=list(SCHEDULES),
                   help="learning rate over the run, as IR nodes updating the %%lr state: constant (default), "
                        "step (x0.1 after each third of the epochs), cosine (to 0 at the last step), "
                        "warmup-cosine (linear warm-up over the first epoch, then cosine)")
    p.add_argument("--momentum", type=float, default=0.9,
                   help="SGD momentum mu: v <- mu*v + grad, w <- w - lr*v (default 0.9; 0 for plain SGD)")
    p.add_argument("--weight-decay", type=float, default=0.0, metavar="LAMBDA",
                   help="sgd/adam: L2 regularisation, minimise L + LAMBDA * 1/2 sum w^2 over the weights; "
                        "adamw: decoupled decay w <- w - lr*LAMBDA*w (default 0)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training set (default 20)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per training step (default 32)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for the weights, the splits and the batch order (default 0)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of the data held out for the final test, stratified by class (default 0.2)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the training split held out for validation after every epoch (default 0.1; "
                        "0 for none); the test set is evaluated once, at the end")
    p.add_argument("--patience", type=int, default=None, metavar="N",
                   help="early stopping: stop once the validation loss has not improved for N epochs, and make "
                        "the best epoch's weights (best.npz, kept with any validation) the run's model")
    p.add_argument("--data", metavar="FILE", default=None,
                   help="train on FILE.csv (a header row, the integer label in the last column or "
                        "--label-column) or FILE.npz (arrays X and y) instead of the bundled digits")
    p.add_argument("--label-column", metavar="NAME", default=None, help="with --data FILE.csv: the label column")
    p.add_argument("--mnist", metavar="DIR", default=None,
                   help="train on MNIST IDX files in DIR (train-images-idx3-ubyte[.gz] and the t10k files) "
                        "instead of the bundled digits; nothing is downloaded")
    p.add_argument("--out", default="chainrule-run", metavar="DIR",
                   help="output folder for the checkpoints, model.ir, summary.json, train_step.ir and the PNGs "
                        "(default ./chainrule-run)")
    p.add_argument("--resume", metavar="CHECKPOINT", default=None,
                   help="continue from a checkpoint.npz written by an earlier run with the same settings; "
                        "the result equals an uninterrupted run")
    p.add_argument("--check-numerics", action="store_true",
                   help="check every node's result for NaN/Inf and name the first one (forward or backward)")
    p.add_argument("--executor", default="sequential", choices=["sequential", "dataflow", "interpreter"],
                   help="how the training step runs (default sequential; dataflow: list-scheduled threads)")
    p.add_argument("--backend", default="numpy", choices=["numpy", "numba"],
                   help="numba: compile the step, evaluation and prediction each into one numba function "
                        '(pip install "chainrule[numba]"; the first run compiles, later runs load it)')
    p.set_defaults(run=run)


class Data:
    """The run's splits, raw (the model standardises): train, validation (or None) and test."""

    def __init__(self, name, train, val, test):
        self.name, self.train, self.val, self.test = name, train, val, test


def _data(args):
    if args.label_column and not args.data:
        raise TrainConfigError("--label-column goes with --data FILE.csv")
    if args.data and args.mnist:
        raise TrainConfigError("give --data or --mnist, not both")
    if args.mnist:
        Xtr, ytr = datasets.load_mnist(*datasets.find_mnist(args.mnist, "train"))
        Xte, yte = datasets.load_mnist(*datasets.find_mnist(args.mnist, "test"))
        name = f"mnist:{os.path.abspath(args.mnist)}"
    else:
        X, y = datasets.load_table(args.data, args.label_column) if args.data else datasets.load_digits()
        Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, args.test_fraction, seed=args.seed)
        name = f"file:{os.path.abspath(args.data)}" if args.data else "digits"
    val = None
    if args.val_fraction:
        try:  # train_test_split refuses an empty side, in the words of its own argument
            Xtr, Xval, ytr, yval = datasets.train_test_split(Xtr, ytr, args.val_fraction, seed=args.seed)
        except DatasetError:
            raise TrainConfigError(f"--val-fraction {args.val_fraction} leaves an empty split of {len(Xtr)} "
                                   f"training examples; raise it, or give 0 for no validation") from None
        val = (Xval, yval)
    return Data(name, (Xtr, ytr), val, (Xte, yte))


def _user_model(path):
    """The cr.nn module of a Python file: its ``model``, or what its ``model()`` returns."""
    try:
        code = read_python(path, what="model file") if path.endswith(".py") else None
    except ReadError as err:
        raise TrainConfigError(str(err)) from None
    if code is None:
        raise TrainConfigError(f"{path}: a model file is Python (.py) defining `model`; to train on data, "
                               f"use --data FILE.csv|FILE.npz")
    ns = run_python(code, path)
    model = ns.get("model")
    if callable(model) and not isinstance(model, Module):
        model = model()
    if not isinstance(model, Module):
        raise TrainConfigError(f"{path}: defines no `model` that is a cr.nn module (or `model()` returning one), "
                               f"got {type(model).__name__}")
    return model


def _flag_checked(make):
    """Call ``make``; a range error from the library ("lr must be in (0.0, ∞), got -1.0")
    is reported with the flag the user typed ("--lr must be ...")."""
    try:
        return make()
    except (OptimizerError, DatasetError) as err:
        name, _, rest = str(err).partition(" ")
        if rest.startswith("must be") and name in ("lr", "momentum", "weight_decay", "test_fraction"):
            raise TrainConfigError(f"--{name.replace('_', '-')} {rest}") from None
        raise


def _optimizer(args, lr, batches):
    total = args.epochs * batches
    if args.lr_schedule == "step":
        schedule = SCHEDULES["step"](max(1, math.ceil(args.epochs / 3)) * batches)
    elif args.lr_schedule == "cosine":
        schedule = SCHEDULES["cosine"](total)
    elif args.lr_schedule == "warmup-cosine":
        if total < 2:
            raise TrainConfigError("--lr-schedule warmup-cosine needs at least 2 training steps")
        schedule = SCHEDULES["warmup-cosine"](batches if args.epochs > 1 else max(1, total // 10), total)
    else:
        schedule = None
    cls = OPTIMIZERS[args.optimizer]
    if args.optimizer == "sgd":
        return cls(lr, momentum=args.momentum, weight_decay=args.weight_decay, schedule=schedule)
    return cls(lr, weight_decay=args.weight_decay, schedule=schedule)


def _out_dir(path):
    if os.path.exists(path) and not os.path.isdir(path):
        raise TrainConfigError(f"--out {path}: exists and is not a folder (give a folder for the run's files)")
    os.makedirs(path, exist_ok=True)


def _targets(loss, y, k):
    """Class indices for cross-entropy; one-hot rows for the other losses."""
    return y if loss == "cross_entropy" else np.eye(k, dtype=np.float32)[y]


def number(x) -> str:
    """A loss for a progress line: 4 decimals, or 3 significant digits once it is huge (diverging)."""
    return "n/a" if x is None else (f"{x:.4f}" if abs(x) < 1e4 else f"{x:.3e}")


def _duration(s: float) -> str:
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


class Progress:
    """A progress line per epoch on stderr (and a bar redrawn in place on a terminal), with the
    elapsed time, the estimated time left and the training steps per second."""

    def __init__(self, epochs, start_epoch=0, start_batch=0, batches=1, stream=None, width=24):
        self.epochs, self.width, self.batches = epochs, width, batches
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.t0 = time.perf_counter()
        self.todo = max((epochs - start_epoch) * batches - start_batch, 1)  # steps this session
        self.done = 0

    def bar(self, frac):
        n = int(round(frac * self.width))
        return "[" + "#" * n + "." * (self.width - n) + "]"

    def timing(self):
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.todo - self.done) / rate if rate else 0.0
        return f"{_duration(elapsed)} elapsed, ETA {_duration(max(eta, 0.0))}, {rate:.0f} steps/s"

    def batch(self, epoch, k, nbatches, loss):
        self.done += 1
        if self.tty:
            self.stream.write(f"\repoch {epoch:>3}/{self.epochs} {self.bar((k + 1) / nbatches)} "
                              f"loss {number(loss)} | {self.timing()}\x1b[K")
            self.stream.flush()

    def epoch(self, r):
        line = (f"epoch {r['epoch']:>3}/{self.epochs} {self.bar(r['epoch'] / self.epochs)} "
                f"loss {number(r['train_loss'])} (epoch mean) train_acc {r['train_accuracy']:.4f}")
        if "val_loss" in r:
            line += f" val_loss {number(r['val_loss'])} val_acc {r['val_accuracy']:.4f}"
        line += f" lr {r['lr']:.4g} | {self.timing()}"
        self.stream.write(("\r" if self.tty else "") + line + ("\x1b[K" if self.tty else "") + "\n")
        self.stream.flush()


def _config(args, data, hidden, lr):
    return {"data": data.name, "model": os.path.abspath(args.model) if args.model else args.arch,
            "hidden": hidden, "activation": args.activation, "loss": args.loss,
            "optimizer": args.optimizer, "lr": lr, "lr_schedule": args.lr_schedule,
            "momentum": args.momentum if args.optimizer == "sgd" else None,
            "weight_decay": args.weight_decay, "batch_size": args.batch_size, "seed": args.seed,
            "test_fraction": args.test_fraction if not args.mnist else None,
            "val_fraction": args.val_fraction, "patience": args.patience, "epochs": args.epochs,
            "executor": args.executor, "backend": getattr(args, "backend", "numpy"),
            "input": "raw: the model standardises (%preprocess.mean, %preprocess.std in model.ir)"}


def _check_args(args):
    for flag, v in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if v < 1:
            raise TrainConfigError(f"{flag} must be at least 1, got {v}")
    if args.patience is not None and args.patience < 1:
        raise TrainConfigError(f"--patience must be at least 1, got {args.patience}")
    if not 0 <= args.val_fraction < 1:
        raise TrainConfigError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if args.patience is not None and not args.val_fraction:
        raise TrainConfigError("--patience watches the validation loss: it needs --val-fraction above 0")
    if args.model and args.arch != "mlp":
        raise TrainConfigError(f"--model {args.arch} names a built-in model; {args.model} defines its own")
    if (args.model or args.arch == "cnn") and (args.hidden is not None or args.activation is not None):
        raise TrainConfigError(f"--hidden and --activation shape the built-in MLP; "
                               f"{args.model or '--model ' + args.arch} defines its own model")


def _resume(args, config, step, ckpt_dir, batches):
    meta = checkpoint.read_meta(args.resume)  # the arrays are read (and checked) by load, below
    old = meta.get("config", {})
    old.setdefault("model", "mlp")  # checkpoints from before --model were MLPs
    diff = [f"{key}: checkpoint {old.get(key)!r}, now {config[key]!r}" for key in ARCH_KEYS
            if old.get(key) != config[key]]
    if diff:
        raise TrainConfigError(f"{args.resume}: cannot resume with different settings ({'; '.join(diff)})")
    meta = checkpoint.load(args.resume, step)
    best = os.path.join(os.path.dirname(os.path.abspath(args.resume)), "best.npz")
    if os.path.exists(best) and os.path.abspath(ckpt_dir) != os.path.dirname(best):
        shutil.copyfile(best, os.path.join(ckpt_dir, "best.npz"))  # the best epoch may be before the resume
    # skip: batches of epoch start+1 done before an interruption
    start, skip, history = checkpoint.resume_point(args.resume, meta, args.epochs, batches)
    print(f"resuming from {args.resume} at epoch {start}" + (f", batch {skip}" if skip else "")
          + f" (step {step.steps})", file=sys.stderr)
    return history, start, skip


def _draw(out, drawings, written, skipped):
    for name, draw in drawings:
        try:
            draw(os.path.join(out, name))
            written.append(name)
        except plots.PlotUnavailable as err:
            skipped.append(f"{name} ({err})")
        except ValueError as err:  # e.g. inputs that do not form a square image
            skipped.append(f"{name} ({err})")


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
    _check_args(args)
    builtin_mlp = not args.model and args.arch == "mlp"
    hidden = _hidden(args.hidden if args.hidden is not None else "64") if builtin_mlp else None
    if builtin_mlp:
        args.activation = args.activation or "relu"
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    if args.lr is None and args.optimizer == "sgd" and args.loss == "squared_error":
        lr = DEFAULT_LR_SQUARED_ERROR_SGD
    elif args.lr is None and args.optimizer == "sgd" and args.arch == "cnn":
        lr = DEFAULT_LR_CNN_SGD
    data = _flag_checked(lambda: _data(args))
    (Xtr, ytr), (Xte, yte) = data.train, data.test
    k = int(max(ytr.max(), yte.max(), data.val[1].max() if data.val else 0)) + 1
    batches = -(-len(Xtr) // args.batch_size)
    opt = _flag_checked(lambda: _optimizer(args, lr, batches))
    config = _config(args, data, hidden, lr)

    stats = datasets.feature_stats(Xtr)
    side = _image_side(Xtr.shape[1]) if args.arch == "cnn" and not args.model else None
    if side:  # the CNN sees each example as a 1×side×side image
        Xtr, Xte = Xtr.reshape(-1, 1, side, side), Xte.reshape(-1, 1, side, side)
        if data.val:
            data.val = (data.val[0].reshape(-1, 1, side, side), data.val[1])
        core = digits_cnn(side, k, seed=args.seed)
    elif args.model:
        core = _user_model(args.model)
    else:
        core = mlp([Xtr.shape[1], *hidden, k], args.activation, seed=args.seed)
    model = Sequential(Standardize(stats.mean, stats.std), core)  # raw inputs in, everywhere
    if getattr(args, "backend", "numpy") == "numba":  # else a first run is silent for seconds
        print("compiling the training step with numba (seconds on a first run; later runs load it from the cache)",
              flush=True)
    try:
        step = compile_train(model, loss=args.loss, optimizer=opt, metrics=[], check_numerics=args.check_numerics,
                             input_shape=("N", 1, side, side) if side else None, executor=args.executor,
                             backend=getattr(args, "backend", "numpy"))
    except IRTypeError as err:  # tracing the user's model on the data's features: say which file
        if args.model and args.model not in str(err):
            err.args = (f"{args.model}: {err}",)
        raise
    train = Split(Xtr, _targets(args.loss, ytr, k), ytr)
    val = Split(data.val[0], _targets(args.loss, data.val[1], k), data.val[1]) if data.val else None
    test = Split(Xte, _targets(args.loss, yte, k), yte)
    _out_dir(args.out)
    ckpt_path, best_path = os.path.join(args.out, "checkpoint.npz"), os.path.join(args.out, "best.npz")
    history, start, skip = _resume(args, config, step, args.out, batches) if args.resume else ([], 0, 0)
    for name, graph in (("train_step.ir", step.graph), ("model.ir", step.model_graph)):
        write_file(os.path.join(args.out, name), print_graph(graph))

    progress = Progress(args.epochs, start, skip, batches)
    loop = TrainingLoop(step, train, val, args.epochs, args.batch_size, ckpt_path, config, seed=args.seed,
                        history=history, start_epoch=start, start_batch=skip,
                        on_batch=progress.batch, on_epoch=progress.epoch,
                        best_path=best_path if val else None, patience=args.patience)
    report = Report(args, config, step, loop, t0)
    try:
        with StopOnSignal() as stop:  # SIGINT/SIGTERM: finish the batch, checkpoint, exit 130/143
            stopped = loop.run(stop)
    except NonFiniteLossError as err:
        report.write(None, stopped={"reason": loop.reason, "error": str(err)})
        raise
    if stopped is not None:
        where = (f"after epoch {stopped.epoch}" if stopped.batch == stopped.batches else
                 f"in epoch {stopped.epoch} after batch {stopped.batch} of {stopped.batches}")
        report.write(None, stopped={"reason": f"interrupted by {stopped.signal}", "epoch": stopped.epoch,
                                    "batch": stopped.batch})
        print(("" if stopped.batch == stopped.batches else "\n") + f"interrupted by {stopped.signal} {where}; "
              f"wrote {ckpt_path} and summary.json; continue with --resume {ckpt_path}", file=sys.stderr)
        return stopped.exit_code

    if not os.path.exists(ckpt_path):  # zero epochs left to run (resumed a finished run)
        checkpoint.save(ckpt_path, step, {"epoch": start, "config": config, "history": history})
    best = best_epoch(loop.history)
    if args.patience and best is not None and os.path.exists(best_path):  # early stopping keeps the best epoch
        checkpoint.load_weights(best_path, step)
    final = {"train_accuracy": accuracy(step, train), "val_accuracy": accuracy(step, val) if val else None,
             "test_loss": step.evaluate(test.X, test.targets, batch_size=4096)["loss"],
             "test_accuracy": accuracy(step, test)}
    predicted = np.argmax(step.predict(test.X, batch_size=4096), axis=1)
    report.write(final, stopped={"reason": loop.reason, "epoch": loop.history[-1]["epoch"] if loop.history else start},
                 best=best, test=(test, predicted, k))
    print(f"train accuracy {final['train_accuracy']:.4f}")
    if val:
        print(f"val accuracy   {final['val_accuracy']:.4f}" + (f" (the best epoch's, {best['epoch']})"
                                                                 if args.patience and best else ""))
    print(f"test accuracy  {final['test_accuracy']:.4f}")
    if loop.reason != "completed":
        print(loop.reason)
    print(f"wrote {', '.join(report.written + ['summary.json'])} to {args.out}")
    for s in report.skipped:
        print(f"skipped {s}")
    return 0


class Report:
    """Writes what a run leaves besides its checkpoints: the PNGs and summary.json (also for a stopped run)."""

    def __init__(self, args, config, step, loop, t0):
        self.args, self.config, self.step, self.loop, self.t0 = args, config, step, loop, t0
        self.written, self.skipped = [], []

    def write(self, final, stopped, best=None, test=None):
        out, loop = self.args.out, self.loop
        self.written = [f for f in ("checkpoint.npz", "best.npz", "model.ir", "train_step.ir")
                        if os.path.exists(os.path.join(out, f))]
        drawings = [("curves.png", lambda p: plots.plot_curves(loop.history, p, self.args.loss))]
        if final is not None:
            drawings.append(("features.png", lambda p: _plot_features(self.step, p, self.config["hidden"])))
            split, predicted, k = test
            drawings.append(("confusion.png", lambda p: plots.plot_confusion(split.labels, predicted, p, k)))
            drawings.append(("misclassified.png", lambda p: plots.plot_misclassified(split.X, split.labels,
                                                                                      predicted, p)))
        _draw(out, drawings, self.written, self.skipped)
        summary = {"config": self.config, "final": final, "stopped": stopped,
                   "best_epoch": best["epoch"] if best else None,
                   "epochs_run": max(len(loop.history) - loop.start_epoch, 0),
                   "steps": self.step.steps, "history": loop.history,
                   "history_keys": {"train_loss": "mean over the epoch's training steps, while the weights change",
                                    "train_accuracy": "measured after the epoch", "val_loss": "after the epoch",
                                    "val_accuracy": "after the epoch", "lr": "the learning rate the epoch began with"},
                   "files": self.written + ["summary.json"], "skipped": self.skipped,
                   "seconds": round(time.perf_counter() - self.t0, 3)}
        write_file(os.path.join(out, "summary.json"), json.dumps(summary, indent=2))
