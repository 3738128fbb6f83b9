"""ONNX mapping of ``ir/ops/fused.py``: a Fused node exports as its body, one ONNX node (or
sub-graph) per step, all tagged with the Fused node so that import rebuilds it whole. ONNX
has no fused node to import."""
from __future__ import annotations

from ....ir import Emitter, Graph
from .table import export_op


@export_op("Fused")
def _fused(ex, n, *ins, body):
    sg = Graph("fused")  # the body as IR nodes, so each step exports through its own table entry
    vals, seen = [], {}
    for v in n.inputs:
        if v.name not in seen:
            seen[v.name] = sg.add_input(v.name, v.type)
        vals.append(seen[v.name])
    e = Emitter(sg)
    for k, (opname, refs, attrs, name) in enumerate(body):
        hint = n.outputs[0].name if k == len(body) - 1 else ex.fresh(f"{n.name}/{name}")
        vals.append(e(opname, *[vals[r] for r in refs], name=hint, **dict(attrs)))
    for sn in sg.nodes:
        ex.emit(sn)
