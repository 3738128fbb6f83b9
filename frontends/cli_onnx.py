"""ONNX commands: ``chainrule import``/``inspect`` (summary and IR of a model), ``export``
(an IR file, e.g. the ``train_step.ir`` that ``chainrule train`` writes, with the arrays of its
``checkpoint.npz``, as ONNX), ``run`` (a model on the chainrule runtime) and ``grad`` (the
gradients of a model's first, scalar output with respect to its float initializers)."""
from __future__ import annotations

import collections

import numpy as np

from ..ir import parse_graph, print_graph
from ..ir.errors import ChainruleError


class CliInputError(ChainruleError, ValueError):
    """A file given to an ONNX command is missing or does not fit the model."""


def add_parser(sub):
    for name, fn, hlp in (("import", run_import, "import an ONNX model and print its IR"),
                          ("inspect", run_inspect, "print an ONNX model's summary and IR")):
        p = sub.add_parser(name, help=hlp, description=hlp + ".")
        p.add_argument("model", help="ONNX file")
        p.add_argument("--max-tensor-bytes", type=int, default=None, help="largest tensor to accept (bytes)")
        p.set_defaults(run=fn)
    p = sub.add_parser("export", help="write an IR graph (e.g. train_step.ir) with its arrays as ONNX",
                       description="Export an IR text file (such as the train_step.ir that chainrule train "
                                   "writes) with its parameters from a checkpoint.npz as an ONNX model.")
    p.add_argument("ir", help="IR text file")
    p.add_argument("--params", required=True, help="checkpoint.npz (chainrule train) or .npz of arrays by name")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.set_defaults(run=run_export)
    p = sub.add_parser("run", help="run an ONNX model on the chainrule runtime",
                       description="Run an ONNX model; inputs and outputs are .npz files keyed by tensor name.")
    p.add_argument("model")
    p.add_argument("--inputs", required=True, help=".npz keyed by graph input name")
    p.add_argument("--output", required=True, help=".npz to write, keyed by graph output name")
    p.set_defaults(run=run_run)
    p = sub.add_parser("grad", help="gradients of an ONNX model's scalar output w.r.t. its initializers",
                       description="Differentiate the first output (a scalar) of an ONNX model with respect to "
                                   "its float initializers; writes the gradients keyed by initializer name.")
    p.add_argument("model")
    p.add_argument("--inputs", required=True, help=".npz keyed by graph input name")
    p.add_argument("--output", required=True, help=".npz to write, keyed by initializer name")
    p.add_argument("--wrt", action="append", help="an initializer to differentiate with respect to (repeatable)")
    p.set_defaults(run=run_grad)


def _import(path, args=None):
    from .onnx_import import MAX_TENSOR_BYTES, import_onnx
    limit = getattr(args, "max_tensor_bytes", None) or MAX_TENSOR_BYTES
    return import_onnx(path, max_tensor_bytes=limit)


def _npz(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise CliInputError(f"{path}: no such file") from None
    except Exception as err:
        raise CliInputError(f"{path}: not a readable .npz file: {err}") from None


def _summary(g, path):
    from .onnx_import import load_model_proto
    m = load_model_proto(path)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    opset = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
    nparams = sum(int(np.prod(a.shape)) for a in g.initializers.values())
    lines = [f"model {path}: ir_version {m.ir_version}, opset {opset}, producer {m.producer_name or '?'}",
             f"  inputs:  " + ", ".join(f"{v.name}: {v.type}" for v in g.inputs),
             f"  outputs: " + ", ".join(f"{v.name}: {v.type}" for v in g.outputs),
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


def run_export(args):
    from .onnx_export import export_onnx
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
    from ..runtime import Interpreter
    g = _import(args.model)
    outs = Interpreter(g).run(_feeds(g, args.inputs))
    np.savez(args.output, **outs)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in outs.items()))
    return 0


def run_grad(args):
    from ..passes import backward
    from ..runtime import Interpreter
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
