"""Export a chainrule graph as an ONNX model (``cr.export_onnx``).

Each IR node is exported by its op's entry in the family tables (``ops/``):
one ONNX node, or a small sub-graph for the composites that ONNX lacks
(``HardThreshold`` -> ``Cast(Greater(z, 0))``, ``Count`` ->
``Cast(ReduceProd(Gather(Shape(x), axes)))``, the losses...). Attributes that
ONNX takes as inputs (Reshape's shape, the axes of Squeeze, Unsqueeze and the
reductions) become ``Constant`` nodes. Every ONNX node made from a composite
carries ``chainrule.op`` metadata so that import rebuilds the one IR node, and
gradient nodes carry their provenance, so chainrule -> ONNX -> chainrule gives
the same IR text.

A graph with ``updates`` (a compiled training step) is exported whole: its
parameters and optimizer state become graph inputs (with their current values
as initializers, so the model also runs stand-alone), and each update becomes an
output named ``<param>.next``; feeding those back in runs the next step. A dropout
mask (``DropoutMask``, chainrule's seeded RNG, which ONNX cannot reproduce) becomes a
graph input after the graph's own: feed it the mask chainrule draws
(``DropoutMask``'s kernel at the step's value of ``<layer>.step``).
"""
from __future__ import annotations

import json
from typing import List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir import DType, Graph
from ..python.lower import to_graph
from .common import (EXPORT_IR_VERSION, EXPORT_OPSET, META_ATTRS, META_BY, META_INPUTS, META_OF, META_OP,
                     META_OUTPUT, META_OUTPUTS, META_PHASE, META_RULE, META_STATE, META_GRAPH, NEXT_SUFFIX, TO_ONNX, OnnxExportError,
                     encode_attrs)
from .ops import EXPORTS, Export


def value_info(name, t):
    dims = [d if isinstance(d, str) else int(d) for d in t.shape]
    return helper.make_tensor_value_info(name, TO_ONNX[t.dtype], dims)


class _Exporter:
    """What an export function of the tables sees: ``make``, ``const``, ``ints`` and ``tensor`` to
    build ONNX nodes, ``out`` (the name the IR node's output keeps), ``dtype`` for element types."""

    def __init__(self, graph: Graph, onehot_targets: bool):
        self.g = graph
        self.onehot_targets = onehot_targets
        self.nodes: List[onnx.NodeProto] = []
        self.used = {v.name for v in graph.all_values()}
        self.current = None  # the IR node being exported
        self.group: List[onnx.NodeProto] = []
        self.extra_inputs: List[onnx.ValueInfoProto] = []  # values the caller feeds (a dropout mask)

    def graph_input(self, v) -> None:
        """Make the IR value ``v`` an input of the ONNX graph instead of computing it."""
        self.extra_inputs.append(value_info(v.name, v.type))

    def fresh(self, hint: str) -> str:
        k, name = 0, hint
        while name in self.used:
            k += 1
            name = f"{hint}.{k}"
        self.used.add(name)
        return name

    def make(self, op_type, inputs, output=None, **attrs) -> str:
        """Append one ONNX node; returns its output name (a fresh one unless given). ``output``
        may be a list of names, for an ONNX op with several outputs (``outs``)."""
        if isinstance(output, (list, tuple)):
            outs = list(output)
        else:
            outs = [output or self.fresh(f"{self.current.name}/{op_type}")]
        name = self.fresh(f"{self.current.name}/{op_type}") if output is None or self.group else outs[0]
        node = helper.make_node(op_type, list(inputs), outs, name=name,
                                **{k: v for k, v in attrs.items() if v is not None})
        self.nodes.append(node)
        self.group.append(node)
        return outs[0]

    def const(self, array, hint="c") -> str:
        arr = np.asarray(array)
        out = self.fresh(f"{self.current.name}/{hint}")
        node = helper.make_node("Constant", [], [out], name=out, value=numpy_helper.from_array(arr, out))
        self.nodes.append(node)
        self.group.append(node)
        return out

    def ints(self, xs, hint="axes") -> str:
        return self.const(np.asarray(list(xs), dtype=np.int64), hint)

    @property
    def out(self) -> str:
        """The output name of the IR node being exported (the last ONNX node writes it)."""
        return self.current.outputs[0].name

    @property
    def outs(self) -> List[str]:
        """The output names of an IR node with several results."""
        return [o.name for o in self.current.outputs]

    def dtype(self, dt) -> int:
        """The ONNX element type code of a chainrule dtype."""
        return TO_ONNX[DType.of(dt)]

    def tensor(self, array, name: str = "") -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(array), name)

    # -- per node --------------------------------------------------------------
    def node(self, n):
        self.current, self.group = n, []
        entry = self.emit(n)
        for node in self.group:
            self.annotate(node, n, entry.composite)

    def emit(self, n) -> Export:
        """Emit the ONNX node(s) of IR node ``n`` with its op's entry in the family tables."""
        entry = EXPORTS.get(n.op.name)
        if entry is None:
            raise OnnxExportError(f"node {n.name}: op {n.op.name} has no ONNX form (its family's table in "
                                  f"frontends/onnx/ops/ has no export entry)")
        outer, self.current = self.current, n
        entry.fn(self, n, *[v.name for v in n.inputs], **dict(n.attrs))
        self.current = outer
        return entry

    def annotate(self, node, n, composite):
        p = n.prov
        props = {}
        if composite:
            props.update({META_OP: n.op.name, META_ATTRS: encode_attrs(n.attrs),
                          META_INPUTS: json.dumps([v.name for v in n.inputs]), META_OUTPUT: n.outputs[0].name})
            if len(n.outputs) > 1:
                props[META_OUTPUTS] = json.dumps([v.name for v in n.outputs])
        if p.created_by != "frontend":
            props[META_BY] = p.created_by
        if p.phase != "forward":
            props[META_PHASE] = p.phase
        if p.grad_of is not None:
            props[META_OF] = p.grad_of
        if p.rule is not None:
            props[META_RULE] = p.rule
        for k, v in props.items():
            entry = node.metadata_props.add()
            entry.key, entry.value = k, v


def export_model(model, opset: int = EXPORT_OPSET, onehot_targets: bool = False,
                 producer: str = "chainrule") -> onnx.ModelProto:
    """The ONNX ModelProto of ``model`` (see the module docstring)."""
    g = to_graph(model, action="export")
    if len(g.outputs) == 0:
        raise OnnxExportError(f"graph {g.name} has no outputs to export")
    missing = [p.name for p in g.params if p.name not in g.initializers]
    if missing:
        raise OnnxExportError(f"graph {g.name}: parameters without arrays cannot be exported: {', '.join(missing)}")
    ex = _Exporter(g, onehot_targets)
    for n in g.nodes:
        ex.node(n)
    training = bool(g.updates)
    outputs = [value_info(v.name, v.type) for v in g.outputs]
    for p, v in g.updates:
        name = p.name + NEXT_SUFFIX
        if name in ex.used:
            raise OnnxExportError(f"graph {g.name}: cannot name the update of {p.name} {name!r}: the name is taken")
        ex.used.add(name)
        ex.nodes.append(helper.make_node("Identity", [v.name], [name], name=name))
        outputs.append(value_info(name, p.type))
    inputs = [value_info(v.name, v.type) for v in g.inputs] + ex.extra_inputs
    if training:  # parameters and state are inputs too, defaulting to their current values
        inputs += [value_info(p.name, p.type) for p in g.params]
    inits = [numpy_helper.from_array(np.array(g.initializers[p.name], order="C"), p.name) for p in g.params]
    graph = helper.make_graph(ex.nodes, g.name, inputs, outputs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=producer,
                          ir_version=EXPORT_IR_VERSION)
    from ..version import __version__
    m.producer_version = __version__
    state = [p.name for p in g.params if p.kind == "state"]
    props = {META_STATE: json.dumps(state)} if state else {}
    if g.meta:
        props[META_GRAPH] = json.dumps(g.meta, ensure_ascii=False, sort_keys=True)
    if props:
        helper.set_model_props(m, props)
    return m


def export_onnx(model, path: Optional[str] = None, **options) -> onnx.ModelProto:
    """Export ``model`` (Graph, nn module, Executable or training step) to ONNX; write it to
    ``path`` if given. Options: ``opset``, ``onehot_targets`` (map a fused softmax cross-entropy
    on a float target to ONNX ``SoftmaxCrossEntropyLoss`` through ``ArgMax``: exact only for
    one-hot targets; without it the loss is exported as its LogSoftmax sub-graph)."""
    m = export_model(model, **options)
    if path is not None:
        with open(path, "wb") as f:
            f.write(m.SerializeToString())
    return m


__all__ = ["export_model", "export_onnx"]


def supported_text() -> str:
    """The README's list of supported ops, generated from the registry and the family tables."""
    from ...ir.ops import OPS
    from .ops import DOMAIN_IMPORTS, supported_ops
    exp = ", ".join(n if EXPORTS[n].onnx == n else
                    f"{n} (as {EXPORTS[n].becomes or EXPORTS[n].onnx or 'a sub-graph'})" for n in OPS)
    domains = "".join(f"- import {d} ({len(t)} ops, as chainrule IR ops): {', '.join(sorted(t))}\n"
                      for d, t in sorted(DOMAIN_IMPORTS.items()))
    return (f"- import ({len(supported_ops())} ONNX ops): {', '.join(supported_ops())}\n" + domains +
            f"- export (every registry op, {len(OPS)}): {exp}\n")
