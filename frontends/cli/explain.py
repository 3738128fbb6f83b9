"""``chainrule explain --grad NAME [MODEL]``: how one gradient is computed, in the lecture's notation.
``--backprop`` prints the whole backward pass instead; ``--batch N`` adds the numbers for a sample batch."""
from __future__ import annotations

from .args import positive_int
from .common import add_import_options


def add_parser(sub):
    p = sub.add_parser("explain", help="explain how a gradient is computed (v̄ = Σⱼ v̄ⱼ ∂vⱼ/∂v)",
                       description=__doc__.replace("``", ""))
    p.add_argument("model", nargs="?", default="mlp",
                   help="built-in model name (chainrule dump --list; default mlp), model .py file or .onnx file")
    add_import_options(p)  # for an .onnx model
    p.add_argument("--grad", metavar="NAME", help="the value whose gradient to explain, e.g. fc1.weight")
    p.add_argument("--backprop", action="store_true", help="print the whole backward pass, one line per value")
    p.add_argument("--batch", type=positive_int, metavar="N", help="also show the numbers for a sample batch of N")
    p.set_defaults(run=run)


def run(args):
    from ...ir.errors import InputError
    from .dump import load_model
    from ..inspect.dump import model_graph
    from ..inspect.explain import explain_grad, format_backprop
    model = load_model(args.model, args)
    if args.backprop:
        print(format_backprop(model_graph(model, "gradient")), end="")
        return 0
    if not args.grad:
        raise InputError("explain needs --grad NAME (e.g. --grad fc1.weight) or --backprop")
    batch = None
    if args.batch:
        from importlib import import_module
        batch = import_module("...examples.models", __package__).sample_batch(model_graph(model, "gradient"),
                                                                              args.batch)
    print(explain_grad(model, args.grad, batch=batch), end="")
    return 0
