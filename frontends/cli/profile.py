"""``chainrule profile [MODEL] --out trace.json``: time one call node by node and write it as Chrome
trace-event JSON (open it in Perfetto or chrome://tracing); ``--gantt FILE`` draws the same as a PNG.
With ``--executor dataflow`` the schedule (tasks, workers, predicted makespan) is printed first."""
from __future__ import annotations

from .args import new_file, output_file, positive_int
from .common import add_import_options


def add_parser(sub):
    p = sub.add_parser("profile", help="time one call per node: Chrome trace JSON and a Gantt PNG",
                       description=__doc__.replace("``", ""))
    p.add_argument("model", nargs="?", default="mlp",
                   help="built-in model name (chainrule dump --list; default mlp), model .py file or .onnx file")
    add_import_options(p)  # for an .onnx model
    p.add_argument("--pipeline", default="training", metavar="{inference,gradient,training}",
                   help="which passes run: inference, gradient or training (default)")
    p.add_argument("--batch", type=positive_int, default=32, metavar="N", help="size of the batch dimension N (default 32)")
    p.add_argument("--executor", default="dataflow", choices=["sequential", "dataflow"],
                   help="which executor runs the call (default dataflow)")
    p.add_argument("--out", metavar="FILE", type=new_file, default="trace.json",
                   help="the trace-event JSON file (default trace.json)")
    p.add_argument("--gantt", metavar="FILE", type=new_file, help="also draw a Gantt chart PNG (needs matplotlib)")
    p.add_argument("--force", action="store_true", help="overwrite the output files if they exist")
    p.set_defaults(run=run)


def run(args):
    from ..compile import Executable
    from ..inspect.dump import model_graph, pipeline_passes
    from ..inspect.schedule import sample_inputs
    from ...passes import PassManager
    from .dump import load_model
    out = output_file(args.out, ".json", args.force)  # before any work
    gantt = output_file(args.gantt, ".png", args.force) if args.gantt else None
    pm = PassManager(pipeline_passes(args.pipeline))
    graph = pm.run(model_graph(load_model(args.model, args), args.pipeline))
    exe = Executable(graph, pm.history, executor=args.executor)
    xs = sample_inputs(graph, args.batch)
    exe.runner.run_list(xs)  # compile and warm up: the profile times a warm call
    if args.executor == "dataflow":
        print(exe.schedule(*xs))
    events = exe.profile(xs, out, gantt)
    total = max((e.end for e in events), default=0.0)
    print(f"{len(events)} node events on {len({e.worker for e in events})} thread(s), {total * 1e3:.3f} ms; "
          f"wrote {out}" + (f" and {gantt}" if gantt else ""))
    return 0
