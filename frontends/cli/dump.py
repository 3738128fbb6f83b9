"""``chainrule dump MODEL``: per-pass IR, diffs, pictures and an HTML report.

MODEL is a built-in example model (``chainrule dump --list``), a Python file
that defines ``model`` (a cr.Graph or cr.nn module) or ``build()`` returning
one, or an ``.onnx`` file. ``--print-after-all``, ``--print-after=PASS`` and
``--print-changed`` print the IR to the terminal instead of writing a folder;
``--print-kernels`` prints the compiled graph as explicit loops (one loop nest per fused
group, as the numba backend compiles them).
"""
from __future__ import annotations

import importlib

from ...ir.errors import InputError, ReadError
from .args import positive_int
from .common import add_import_options, import_model, read_python, run_python


def builtin_models():
    return importlib.import_module("...examples.models", __package__).MODELS


def load_model(spec: str, args=None):
    """A Graph or module from a built-in name, a ``.py`` file or an ``.onnx`` file (imported with
    the options ``args`` holds, ``--allow-nonfinite``)."""
    models = builtin_models()
    if spec in models:
        return models[spec][0]()
    if spec.endswith(".onnx"):
        return import_model(spec, args)
    if spec.endswith(".py"):
        try:
            code = read_python(spec)
        except ReadError as err:
            raise InputError(str(err)) from None
        ns = run_python(code, spec)
        if "model" in ns:
            return ns["model"]
        if callable(ns.get("build")):
            return ns["build"]()
        raise InputError(f"{spec} defines neither 'model' (a cr.Graph or cr.nn module) nor 'build()'")
    raise InputError(f"unknown model {spec!r}: give a built-in model ({', '.join(models)}), "
                     f"a .py file defining 'model', or an .onnx file")


def _usage(message):
    raise InputError(message)


def add_parser(sub):
    p = sub.add_parser("dump", help="write the IR after every pass, diffs, pictures and an HTML report",
                       description=__doc__.replace("``", ""))
    p.add_argument("model", nargs="?", default="mlp",
                   help="built-in model name (see --list; default mlp), model .py file or .onnx file")
    add_import_options(p)  # for an .onnx model
    p.add_argument("-o", "--out", default="chainrule-dump", help="output folder (default: chainrule-dump)")
    p.add_argument("--pipeline", default="gradient", metavar="{inference,gradient,training}",
                   help="which passes run: inference, gradient (adds autodiff; the default, as in cost and "
                        "explain) or training (adds the optimizer update)")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help="with --pipeline training: the update rule whose nodes the optimizer pass emits "
                        "(default sgd)")
    p.add_argument("--lr", type=float, default=None, help="with --optimizer: learning rate (default 0.1 for sgd, "
                                                          "0.001 for adam)")
    p.add_argument("--momentum", type=float, default=None, help="with --optimizer sgd: momentum (default 0)")
    p.add_argument("--force", action="store_true",
                   help="write into an output folder that holds other files (never through a symbolic link)")
    p.add_argument("--batch", type=positive_int, default=32, metavar="N",
                   help="the batch size N of the report's schedule pane (default 32)")
    p.add_argument("--no-svg", action="store_true", help="do not render SVGs even if Graphviz is installed")
    p.add_argument("--print-after-all", action="store_true", help="print the IR after every pass to the terminal instead of writing a folder")
    p.add_argument("--print-after", action="append", default=[], metavar="PASS",
                   help="print the IR after this pass to the terminal instead of writing a folder (repeatable)")
    p.add_argument("--print-changed", action="store_true", help="print the IR after each pass that changed it")
    p.add_argument("--print-kernels", action="store_true",
                   help="print the compiled graph as Python loops (a fused group is one loop nest) instead of "
                        "writing a folder")
    p.add_argument("--list", action="store_true", help="list the built-in models")
    p.set_defaults(run=run, usage_error=p.error)


def run(args):
    from ..inspect.dump import dump, model_graph, pipeline_passes
    from ...passes import PassManager
    from ...passes.manager import format_timing
    if args.list:
        for name, (_, doc) in builtin_models().items():
            print(f"{name:14} {doc}")
        return 0
    for flag, value in (("--lr", args.lr), ("--momentum", args.momentum)):  # they only tune --optimizer
        needs = "--optimizer sgd" if flag == "--momentum" else "--optimizer"
        if value is not None and (args.optimizer is None or (flag == "--momentum" and args.optimizer != "sgd")):
            getattr(args, "usage_error", _usage)(f"{flag} needs {needs} (and --pipeline training); it would be ignored")
    model = load_model(args.model, args)
    optimizer = None
    if args.optimizer is not None:
        from ..train.optim import SGD, Adam
        optimizer = (SGD(args.lr if args.lr is not None else 0.1, momentum=args.momentum or 0.0)
                     if args.optimizer == "sgd" else Adam(args.lr if args.lr is not None else 1e-3))
    if getattr(args, "print_kernels", False):
        from ...runtime.lowering import lower, program_text
        graph = model_graph(model, args.pipeline)
        PassManager(pipeline_passes(args.pipeline, optimizer)).run(graph)
        print(program_text(lower(graph)), end="")
        return 0
    if args.print_after_all or args.print_after or args.print_changed:
        graph = model_graph(model, args.pipeline)
        pm = PassManager(pipeline_passes(args.pipeline, optimizer), print_after_all=args.print_after_all,
                         print_after=args.print_after, print_after_change=args.print_changed)
        pm.check_print_after()   # a pass name not in the pipeline is refused before anything is printed
        print("// ----- input IR -----")
        from ...ir import print_graph
        print(print_graph(graph), end="")
        pm.run(graph)
        return 0
    res = dump(model, args.out, pipeline=args.pipeline, svg=not args.no_svg, optimizer=optimizer,
               force=getattr(args, "force", False), batch=getattr(args, "batch", 32))
    for s in res.steps:
        first = s.diff.splitlines()[0]
        print(f"{s.label:22} {first.split(': ', 1)[-1] if s.label != '00-input' else 'input'}")
    print()
    print(format_timing(res.history), end="")
    print(f"wrote {len(res.files)} files to {args.out}; open {res.report}")
    return 0
