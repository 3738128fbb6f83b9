"""``chainrule run MODEL.onnx --inputs in.npz --output out.npz``: a model on the chainrule runtime.

An output that holds class indices standing for string labels (``labels.<output>`` in the graph's
metadata, from an ONNX classifier with string classes) is written as those strings; a ZipMap's
output is the (N, K) probability matrix, its columns' classes named in the printed summary."""
from __future__ import annotations

from ...ir.errors import InputError
from .args import output_file, write_npz
from .common import CliInputError, add_import_options, import_model, read_feeds


def add_parser(sub):
    p = sub.add_parser("run", help="run an ONNX model on the chainrule runtime",
                       description="Run an ONNX model; inputs and outputs are .npz files keyed by tensor name.")
    p.add_argument("model", help="ONNX file")
    p.add_argument("--inputs", required=True, help=".npz keyed by graph input name")
    p.add_argument("--output", required=True, help=".npz to write, keyed by graph output name (.npz is added "
                                                  "if missing)")
    p.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    add_import_options(p)
    p.set_defaults(run=run)


def run(args):
    from ...runtime import Interpreter
    g = import_model(args.model, args, args.inputs)
    try:
        outs = Interpreter(g).run(read_feeds(g, args.inputs))
    except InputError as err:  # say which file held the array that does not fit
        raise CliInputError(f"{args.inputs}: {err}") from None
    from ..onnx.ops.ml import decode_labels
    outs = decode_labels(g, outs)  # class indices standing for string labels become the strings
    path = write_npz(output_file(args.output, ".npz", getattr(args, "force", False)), outs)
    print(f"wrote {path}: " + ", ".join(_described(g, k, v) for k, v in outs.items()))
    return 0


def _described(g, name, a):
    from ..onnx.ops.ml import describe_output
    about = describe_output(g, name)
    return f"{name} {a.dtype}{list(a.shape)}" + (f" ({about})" if about else "")
