"""ONNX commands: ``chainrule import``/``inspect`` (summary and IR of a model), ``export``
(the trained inference model of a ``chainrule train`` run folder, or an IR file such as its
``train_step.ir`` with the arrays of a ``checkpoint.npz``, as ONNX), ``run`` (a model on the chainrule runtime) and ``grad`` (the
gradients of a model's first, scalar output with respect to its float initializers)."""
from __future__ import annotations

from .args import positive_int

import collections
import json
import os

import numpy as np

from ...ir import parse_graph, print_graph
from ...ir.errors import ChainruleError, InputError


class CliInputError(ChainruleError, ValueError):
    """A file given to an ONNX command is missing or does not fit the model."""


def add_parser(sub):
    for name, fn, hlp in (("import", run_import, "import an ONNX model and print its IR"),
                          ("inspect", run_inspect, "print an ONNX model's summary and IR")):
        p = sub.add_parser(name, help=hlp, description=hlp + ".")
        p.add_argument("model", help="ONNX file")
        p.add_argument("--max-tensor-bytes", type=positive_int, default=None, metavar="BYTES",
                       help="refuse a model holding a tensor larger than this (default 1 GiB)")
        p.set_defaults(run=fn)
    p = sub.add_parser("export", help="write a model trained by chainrule train (or an IR graph) as ONNX",
                       description="Export the inference model of a folder written by chainrule train (the MLP "
                                   "of its summary.json with the trained weights of its checkpoint.npz; it "
                                   "computes what the training step's predict computes), or an IR text file "
                                   "(such as that folder's train_step.ir) with its parameters from --params.")
    p.add_argument("ir", metavar="RUN_DIR|IR", help="a chainrule train --out folder, or an IR text file")
    p.add_argument("--params", help="with an IR file (required): checkpoint.npz or .npz of arrays by name; "
                                    "with a run folder: another checkpoint.npz to take the weights from")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.set_defaults(run=run_export)
    p = sub.add_parser("run", help="run an ONNX model on the chainrule runtime",
                       description="Run an ONNX model; inputs and outputs are .npz files keyed by tensor name.")
    p.add_argument("model", help="ONNX file")
    p.add_argument("--inputs", required=True, help=".npz keyed by graph input name")
    p.add_argument("--output", required=True, help=".npz to write, keyed by graph output name")
    p.set_defaults(run=run_run)
    p = sub.add_parser("grad", help="gradients of an ONNX model's scalar output w.r.t. its initializers",
                       description="Differentiate the first output (a scalar) of an ONNX model with respect to "
                                   "its float initializers; writes the gradients keyed by initializer name.")
    p.add_argument("model", help="ONNX file whose first output is a scalar (a loss)")
    p.add_argument("--inputs", required=True, help=".npz keyed by graph input name")
    p.add_argument("--output", required=True, help=".npz to write, keyed by initializer name")
    p.add_argument("--wrt", action="append", help="an initializer to differentiate with respect to (repeatable; default: every float one)")
    p.set_defaults(run=run_grad)


def _import(path, args=None):
    from ..onnx.importer import MAX_TENSOR_BYTES, import_onnx
    limit = getattr(args, "max_tensor_bytes", None) or MAX_TENSOR_BYTES
    return import_onnx(path, max_tensor_bytes=limit)


def _npz(path):
    from ..train.checkpoint import require_zip
    try:
        require_zip(path)
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise CliInputError(f"{path}: no such file") from None
    except Exception as err:
        raise CliInputError(f"{path}: not a readable .npz file: {err}") from None


def _summary(g, path):
    from ..onnx.importer import load_model_proto
    m = load_model_proto(path)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    opset = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
    nparams = sum(int(np.prod(a.shape)) for a in g.initializers.values())
    lines = [f"model {path}: ir_version {m.ir_version}, opset {opset}, producer {m.producer_name or '?'}",
             "  inputs:  " + ", ".join(f"{v.name}: {v.type}" for v in g.inputs),
             "  outputs: " + ", ".join(f"{v.name}: {v.type}" for v in g.outputs),
             f"  parameters: {len(g.params)} ({nparams} numbers)",
             f"  ONNX nodes: {len(m.graph.node)} (" + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())) + ")",
             f"  IR nodes: {len(g.nodes)}"]
    return "\n".join(lines)


def run_import(args):
    g = _import(args.model, args)
    print(_summary(g, args.model))
    print(print_graph(g), end="")
    return 0


run_inspect = run_import


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


def run_export(args):
    from ..onnx.exporter import export_onnx
    if os.path.isdir(args.ir):
        return _export_run(args)
    _need_params(args)
    try:
        with open(args.ir, encoding="utf-8") as f:
            g = parse_graph(f.read())
    except FileNotFoundError:
        raise CliInputError(f"{args.ir}: no such file") from None
    arrays = _npz(args.params)
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


def _feeds(g, path):
    arrays = _npz(path)
    names = [v.name for v in g.inputs]
    missing = [n for n in names if n not in arrays]
    extra = [k for k in arrays if k not in names]
    if missing or extra:
        raise CliInputError(f"{path}: " + "; ".join(
            s for s in (f"missing input(s) {', '.join(missing)}" if missing else "",
                        f"unknown input(s) {', '.join(extra)}" if extra else "") if s)
            + f" (the model's inputs: {', '.join(names)})")
    return {n: arrays[n] for n in names}


def run_run(args):
    from ...runtime import Interpreter
    g = _import(args.model)
    try:
        outs = Interpreter(g).run(_feeds(g, args.inputs))
    except InputError as err:  # say which file held the array that does not fit
        raise CliInputError(f"{args.inputs}: {err}") from None
    np.savez(args.output, **outs)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in outs.items()))
    return 0


def run_grad(args):
    from ...passes import backward
    from ...runtime import Interpreter
    g = _import(args.model)
    if not g.outputs:
        raise CliInputError(f"{args.model}: the model has no outputs")
    loss = g.outputs[0]
    if loss.type.shape != () or not loss.dtype.is_float:
        raise CliInputError(f"{args.model}: the first output {loss.name} is {loss.type}, not a float scalar")
    floats = [p for p in g.params if p.dtype.is_float]
    if args.wrt:
        known = {p.name: p for p in floats}
        bad = [w for w in args.wrt if w not in known]
        if bad:
            raise CliInputError(f"--wrt {', '.join(bad)}: not a float initializer of {args.model} "
                                f"(they are: {', '.join(known) or 'none'})")
        floats = [known[w] for w in args.wrt]
    if not floats:
        raise CliInputError(f"{args.model}: no float initializers to differentiate with respect to")
    grads = backward(g, [loss], floats, allow_unused=True)
    g.set_outputs([loss] + list(grads))
    outs = Interpreter(g).run_list([_feeds(g, args.inputs)[v.name] for v in g.inputs])
    np.savez(args.output, **{p.name: a for p, a in zip(floats, outs[1:])})
    print(f"{loss.name} = {float(outs[0]):.6g}; wrote {args.output}: " + ", ".join(p.name for p in floats))
    return 0
