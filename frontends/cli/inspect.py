"""``chainrule inspect MODEL.onnx`` (alias ``import``): a model's summary and its IR."""
from __future__ import annotations

import collections

import numpy as np

from ...ir import print_graph
from .args import positive_int
from .common import add_import_options, import_model


def add_parser(sub):
    for name, hlp in (("import", "import an ONNX model and print its IR"),
                      ("inspect", "print an ONNX model's summary and IR")):
        p = sub.add_parser(name, help=hlp, description=hlp + ".")
        p.add_argument("model", help="ONNX file")
        p.add_argument("--max-tensor-bytes", type=positive_int, default=None, metavar="BYTES",
                       help="refuse a model holding a tensor larger than this (default 1 GiB)")
        add_import_options(p)
        p.set_defaults(run=run)


def _outputs(g):
    """Every output of the file: the graph's outputs (with what the metadata says of their labels),
    then a training step's ``<param>.next`` outputs, which the import made the graph's updates."""
    from ..onnx.common import NEXT_SUFFIX
    from ..onnx.ops.ml import describe_output
    outs = []
    for v in g.outputs:
        about = describe_output(g, v.name)
        outs.append(f"{v.name}: {v.type}" + (f" ({about})" if about else ""))
    return outs + [f"{p.name}{NEXT_SUFFIX}: {p.type} (updates {p.name})" for p, _ in g.updates]


def _summary(g, path):
    from ..onnx.importer import load_model_proto
    m = load_model_proto(path)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    opset = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
    nparams = sum(int(np.prod(a.shape)) for a in g.initializers.values())
    lines = [f"model {path}: ir_version {m.ir_version}, opset {opset}, producer {m.producer_name or '?'}",
             "  inputs:  " + ", ".join(f"{v.name}: {v.type}" for v in g.inputs),
             f"  outputs ({len(g.outputs) + len(g.updates)}): " + ", ".join(_outputs(g)),
             f"  parameters: {len(g.params)} ({nparams} numbers)",
             f"  ONNX nodes: {len(m.graph.node)} (" + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())) + ")",
             f"  IR nodes: {len(g.nodes)}"]
    return "\n".join(lines)


def run(args):
    g = import_model(args.model, args)
    print(_summary(g, args.model))
    print(print_graph(g), end="")
    return 0
