"""``chainrule cost [MODEL]``: the cost ledger (multiply-adds, bytes per node and phase), the memory
timeline (``--memory``, ``--png FILE``) and how an MLP's cost grows (``--scaling``)."""
from __future__ import annotations

from .args import new_file, output_file, positive_int
from .common import add_import_options


def add_parser(sub):
    p = sub.add_parser("cost", help="cost ledger, memory timeline and MLP cost scaling", description=__doc__.replace("``", ""))
    p.add_argument("model", nargs="?", default="mlp",
                   help="built-in model name (chainrule dump --list; default mlp), model .py file or .onnx file")
    add_import_options(p)  # for an .onnx model
    p.add_argument("--pipeline", default="gradient", metavar="{inference,gradient,training}",
                   help="which passes run: inference, gradient (default) or training")
    p.add_argument("--batch", type=positive_int, default=32, metavar="N", help="size of the batch dimension N (default 32)")
    p.add_argument("--summary", action="store_true", help="only the per-phase totals")
    p.add_argument("--memory", action="store_true", help="print the memory timeline too")
    p.add_argument("--png", metavar="FILE", type=new_file,
                   help="plot the memory timeline to FILE (.png is added if missing; needs matplotlib)")
    p.add_argument("--force", action="store_true", help="overwrite the --png file if it exists")
    p.add_argument("--scaling", action="store_true", help="MLP cost against layers and units per layer")
    p.set_defaults(run=run)


def run(args):
    from ...passes import PassManager
    from .dump import load_model
    from ..inspect.cost import cost_ledger, format_ledger, format_timeline, memory_timeline, mlp_scaling, plot_timeline
    from ..inspect.dump import model_graph, pipeline_passes
    if args.scaling:
        by_depth, by_width = mlp_scaling(batch=args.batch)
        print(f"MLP multiply-adds (forward + backward, batch {args.batch}):")
        print("  hidden layers of 64 units:  " + ", ".join(f"{d} -> {c:,d}" for d, c in by_depth) + "  (linear)")
        print("  2 hidden layers of w units: " + ", ".join(f"w={w} -> {c:,d}" for w, c in by_width)
              + "  (quadratic)")
        return 0
    png = output_file(args.png, ".png", getattr(args, "force", False)) if args.png else None  # before any work
    graph = model_graph(load_model(args.model, args), args.pipeline)
    graph = PassManager(pipeline_passes(args.pipeline)).run(graph)
    bindings = {"N": args.batch}
    print(format_ledger(cost_ledger(graph, bindings), per_node=not args.summary), end="")
    if args.memory or args.png:
        tl = memory_timeline(graph, bindings)
        print()
        print(format_timeline(tl), end="")
        if png:
            print(f"wrote {png}" if plot_timeline(tl, png) else "matplotlib is not installed; no PNG")
    return 0
