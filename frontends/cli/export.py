"""``chainrule export``: the inference model of a ``chainrule train`` run folder (its model.ir, which
takes raw inputs, with the trained weights), or an IR text file such as its ``train_step.ir`` with the
arrays of a ``--params`` .npz, as ONNX."""
from __future__ import annotations

import os

import numpy as np

from ...ir import parse_graph
from ...ir.errors import ReadError
from ...ir.files import open_regular
from .common import CliInputError, read_npz


def add_parser(sub):
    p = sub.add_parser("export", help="write a model trained by chainrule train (or an IR graph) as ONNX",
                       description="Export the inference model of a folder written by chainrule train (its "
                                   "model.ir with the trained weights: raw inputs in, the standardisation "
                                   "fitted in training as its first nodes, class probabilities out, as the "
                                   "training step's predict computes), or an IR text file "
                                   "(such as that folder's train_step.ir) with its parameters from --params.")
    p.add_argument("ir", metavar="RUN_DIR|IR", help="a chainrule train --out folder, or an IR text file")
    p.add_argument("--params", help="with an IR file (required): checkpoint.npz or .npz of arrays by name; "
                                    "with a run folder: another checkpoint.npz to take the weights from")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.set_defaults(run=run)


def _read_ir(path):
    try:
        with open_regular(path, text=True) as f:  # a FIFO is refused, not waited on
            return f.read()
    except ReadError as err:
        raise CliInputError(str(err)) from None


def _run_checkpoint(run_dir):
    path = os.path.join(run_dir, "checkpoint.npz")
    if not os.path.exists(path):
        raise CliInputError(f"{run_dir}: no checkpoint.npz in this folder; is it a folder written by chainrule "
                            f"train --out? (an IR file to export goes with --params)")
    return path


def trained_model(run_dir, ckpt=None):
    """The inference graph of a ``chainrule train`` run folder: its ``model.ir`` (the model as trained,
    raw inputs in: the standardisation is its first nodes, the loss's link such as softmax its last)
    with the weights of ``best.npz`` when the run stopped early on ``--patience``, else of
    ``checkpoint.npz`` (or of ``ckpt``), compiled as ``step.predict`` runs it."""
    from ...passes import PassManager, inference_pipeline
    from ..train import checkpoint
    default = _run_checkpoint(run_dir)
    path = os.path.join(run_dir, "model.ir")
    if not os.path.exists(path):
        raise CliInputError(f"{run_dir}: no model.ir in this folder; is it a folder written by chainrule train "
                            f"--out? (an IR file to export goes with --params)")
    if ckpt is None:
        meta = checkpoint.read_meta(default)
        best = os.path.join(run_dir, "best.npz")
        ckpt = best if (meta.get("config") or {}).get("patience") and os.path.exists(best) else default
    g = parse_graph(_read_ir(path))
    like = {p.name: np.broadcast_to(np.zeros((), p.type.dtype.numpy), p.type.shape) for p in g.params}
    meta, arrays = checkpoint.read(ckpt, expect=like, exact=False)  # checked before any array is read
    for p in g.params:
        a = arrays.get(p.name)
        if a is None or tuple(a.shape) != tuple(p.type.shape) or a.dtype != p.type.dtype.numpy:
            got = "missing" if a is None else f"{a.dtype}{list(a.shape)}"
            raise CliInputError(f"{ckpt}: array {p.name} is {got}, {path} wants {p.type}")
        g.initializers[p.name] = np.array(a)
    return PassManager(inference_pipeline(freeze_params=False)).run(g)


def _export_run(args):
    from ..onnx.exporter import export_onnx
    g = trained_model(args.ir, args.params)
    export_onnx(g, args.output)
    print(f"wrote {args.output}: the trained model of {args.ir} ({len(g.nodes)} IR nodes, {len(g.params)} "
          f"parameters; input {g.inputs[0].name}: {g.inputs[0].type}, output {g.outputs[0].name}: {g.outputs[0].type})")
    return 0


def _need_params(args):
    if not args.params:
        if not os.path.exists(args.ir):
            raise CliInputError(f"{args.ir}: no such file or folder (export takes a run folder of chainrule "
                                f"train, or an IR file with --params)")
        raise CliInputError(f"{args.ir}: exporting an IR file needs --params (its arrays); a run folder of "
                            f"chainrule train needs none")


def run(args):
    from ..onnx.exporter import export_onnx
    if os.path.isdir(args.ir):
        return _export_run(args)
    _need_params(args)
    g = parse_graph(_read_ir(args.ir))
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
