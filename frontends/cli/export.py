"""``chainrule export``: the inference model of a ``chainrule train`` run folder (the MLP of its
summary.json with the trained weights of its checkpoint.npz), or an IR text file such as its
``train_step.ir`` with the arrays of a ``--params`` .npz, as ONNX."""
from __future__ import annotations

import json
import os

import numpy as np

from ...ir import parse_graph
from .common import CliInputError, read_npz


def add_parser(sub):
    p = sub.add_parser("export", help="write a model trained by chainrule train (or an IR graph) as ONNX",
                       description="Export the inference model of a folder written by chainrule train (the MLP "
                                   "of its summary.json with the trained weights of its checkpoint.npz; it "
                                   "computes what the training step's predict computes), or an IR text file "
                                   "(such as that folder's train_step.ir) with its parameters from --params.")
    p.add_argument("ir", metavar="RUN_DIR|IR", help="a chainrule train --out folder, or an IR text file")
    p.add_argument("--params", help="with an IR file (required): checkpoint.npz or .npz of arrays by name; "
                                    "with a run folder: another checkpoint.npz to take the weights from")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.set_defaults(run=run)


def _run_checkpoint(run_dir):
    path = os.path.join(run_dir, "checkpoint.npz")
    if not os.path.exists(path):
        raise CliInputError(f"{run_dir}: no checkpoint.npz in this folder; is it a folder written by chainrule "
                            f"train --out? (an IR file to export goes with --params)")
    return path


def trained_model(run_dir, ckpt=None):
    """The inference graph of a ``chainrule train`` run folder: the MLP its settings describe,
    with its trained weights and the loss's link (softmax for cross-entropy), as ``step.predict``."""
    from ..train import checkpoint
    from ..python.nn import mlp
    from ..train.optim import SGD
    from ..train.step import compile_train
    meta, arrays = checkpoint.read(ckpt or _run_checkpoint(run_dir))
    config = meta.get("config")
    summary = os.path.join(run_dir, "summary.json")
    if os.path.isfile(summary):  # a finished run; an interrupted one has only the checkpoint
        with open(summary, encoding="utf-8") as f:
            config = json.load(f).get("config", config)
    if not isinstance(config, dict) or not all(k in config for k in ("hidden", "activation", "loss")):
        raise CliInputError(f"{run_dir}: neither summary.json nor the checkpoint records the model's settings "
                            f"(hidden, activation, loss); is it a folder written by chainrule train?")
    last = f"fc{len(config['hidden']) + 1}.weight"
    if "fc1.weight" not in arrays or last not in arrays:
        raise CliInputError(f"{run_dir}: the checkpoint lacks {'fc1.weight' if 'fc1.weight' not in arrays else last} "
                            f"for an MLP with hidden layers {config['hidden']}")
    sizes = [arrays["fc1.weight"].shape[1], *config["hidden"], arrays[last].shape[0]]
    step = compile_train(mlp(sizes, config["activation"]), loss=config["loss"], optimizer=SGD(0.1), metrics=[])
    g = step.predict_graph
    for p in g.params:
        a = arrays.get(p.name)
        if a is None or tuple(a.shape) != tuple(p.type.shape) or a.dtype != p.type.dtype.numpy:
            got = "missing" if a is None else f"{a.dtype}{list(a.shape)}"
            raise CliInputError(f"{run_dir}: checkpoint array {p.name} is {got}, the model of its settings wants "
                                f"{p.type}")
        g.initializers[p.name] = np.array(a)
    return g


def _export_run(args):
    from ..onnx.exporter import export_onnx
    g = trained_model(args.ir, args.params)
    export_onnx(g, args.output)
    print(f"wrote {args.output}: the trained model of {args.ir} ({len(g.nodes)} IR nodes, {len(g.params)} "
          f"parameters; input {g.inputs[0].name}: {g.inputs[0].type}, output {g.outputs[0].name}: {g.outputs[0].type})")
    return 0


def _need_params(args):
    if not args.params:
        raise CliInputError(f"{args.ir}: exporting an IR file needs --params (its arrays); a run folder of "
                            f"chainrule train needs none")


def run(args):
    from ..onnx.exporter import export_onnx
    if os.path.isdir(args.ir):
        return _export_run(args)
    _need_params(args)
    try:
        with open(args.ir, encoding="utf-8") as f:
            g = parse_graph(f.read())
    except FileNotFoundError:
        raise CliInputError(f"{args.ir}: no such file") from None
    arrays = read_npz(args.params)
    missing = [p.name for p in g.params if p.name not in arrays]
    if missing:
        raise CliInputError(f"{args.params} lacks arrays for parameters of {args.ir}: {', '.join(missing)}")
    for p in g.params:
        a = arrays[p.name]
        if tuple(a.shape) != tuple(p.type.shape) or a.dtype != p.type.dtype.numpy:
            raise CliInputError(f"{args.params}: {p.name} is {a.dtype}{list(a.shape)}, the graph wants {p.type}")
        g.initializers[p.name] = a
    export_onnx(g, args.output)
    print(f"wrote {args.output}: {len(g.nodes)} IR nodes, {len(g.params)} parameters"
          + (f", {len(g.updates)} updates (outputs <param>.next)" if g.updates else ""))
    return 0
