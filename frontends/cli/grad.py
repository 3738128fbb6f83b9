"""``chainrule grad MODEL.onnx``: the gradients of a model's first, scalar output with respect to its
float initializers, written as a .npz keyed by initializer name."""
from __future__ import annotations

from .args import output_file, write_npz
from .common import CliInputError, add_import_options, import_model, read_feeds


def add_parser(sub):
    p = sub.add_parser("grad", help="gradients of an ONNX model's scalar output w.r.t. its initializers",
                       description="Differentiate the first output (a scalar) of an ONNX model with respect to "
                                   "its float initializers; writes the gradients keyed by initializer name.")
    p.add_argument("model", help="ONNX file whose first output is a scalar (a loss)")
    p.add_argument("--inputs", required=True, help=".npz keyed by graph input name")
    p.add_argument("--output", required=True, help=".npz to write, keyed by initializer name (.npz is added if missing)")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    p.add_argument("--wrt", action="append", help="an initializer to differentiate with respect to (repeatable; default: every float one)")
    add_import_options(p)
    p.set_defaults(run=run)


def run(args):
    from ...passes import backward
    from ...runtime import Interpreter
    g = import_model(args.model, args, args.inputs)
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
    outs = Interpreter(g).run_list([read_feeds(g, args.inputs)[v.name] for v in g.inputs])
    path = write_npz(output_file(args.output, ".npz", getattr(args, "force", False)),
                     {p.name: a for p, a in zip(floats, outs[1:])})
    print(f"{loss.name} = {float(outs[0]):.6g}; wrote {path}: " + ", ".join(p.name for p in floats))
    return 0
