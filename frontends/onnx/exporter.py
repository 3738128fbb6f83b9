"""Export a chainrule graph as an ONNX model (``cr.export_onnx``).

Each IR node becomes one ONNX node, or a small sub-graph for the composites
that ONNX lacks (``HardThreshold`` -> ``Cast(Greater(z, 0))``, ``Count`` ->
``Cast(ReduceProd(Gather(Shape(x), axes)))``, the losses...). Attributes that
ONNX takes as inputs (Reshape's shape, the axes of Squeeze, Unsqueeze and the
reductions) become ``Constant`` nodes. Every ONNX node made from a composite
carries ``chainrule.op`` metadata so that import rebuilds the one IR node, and
gradient nodes carry their provenance, so chainrule -> ONNX -> chainrule gives
the same IR text.

A graph with ``updates`` (a compiled training step) is exported whole: its
parameters and optimizer state become graph inputs (with their current values
as initializers, so the model also runs stand-alone), and each update becomes an
output named ``<param>.next``; feeding those back in runs the next step.
"""
from __future__ import annotations

import json
from typing import List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir import DType, Emitter, Graph
from ..python.lower import to_graph
from .common import (EXPORT_IR_VERSION, EXPORT_OPSET, META_ATTRS, META_BY, META_INPUTS, META_OF, META_OP,
                          META_OUTPUT, META_PHASE, META_RULE, META_STATE, NEXT_SUFFIX, TO_ONNX, OnnxExportError,
                          encode_attrs)

#: IR ops exported as one ONNX node of the same name whose attributes carry over unchanged.
DIRECT = ("Add", "Sub", "Mul", "Div", "Pow", "Neg", "Identity", "Exp", "Log", "Sqrt", "Sin", "Cos", "Sum",
          "Greater", "Equal", "Where", "Relu", "LeakyRelu", "Softplus", "Sigmoid", "Tanh", "Softmax",
          "LogSoftmax", "MatMul", "Gemm", "ArgMax", "Flatten", "Gather", "Concat")


def value_info(name, t):
    dims = [d if isinstance(d, str) else int(d) for d in t.shape]
    return helper.make_tensor_value_info(name, TO_ONNX[t.dtype], dims)


class _Exporter:
    def __init__(self, graph: Graph, onehot_targets: bool):
        self.g = graph
        self.onehot_targets = onehot_targets
        self.nodes: List[onnx.NodeProto] = []
        self.used = {v.name for v in graph.all_values()}
        self.current = None  # the IR node being exported
        self.group: List[onnx.NodeProto] = []

    def fresh(self, hint: str) -> str:
        k, name = 0, hint
        while name in self.used:
            k += 1
            name = f"{hint}.{k}"
        self.used.add(name)
        return name

    def make(self, op_type, inputs, output=None, **attrs) -> str:
        """Append one ONNX node; returns its output name (a fresh one unless given)."""
        out = output or self.fresh(f"{self.current.name}/{op_type}")
        name = self.fresh(f"{self.current.name}/{op_type}") if output is None or self.group else out
        node = helper.make_node(op_type, list(inputs), [out], name=name,
                                **{k: v for k, v in attrs.items() if v is not None})
        self.nodes.append(node)
        self.group.append(node)
        return out

    def const(self, array, hint="c") -> str:
        arr = np.asarray(array)
        out = self.fresh(f"{self.current.name}/{hint}")
        node = helper.make_node("Constant", [], [out], name=out, value=numpy_helper.from_array(arr, out))
        self.nodes.append(node)
        self.group.append(node)
        return out

    def ints(self, xs, hint="axes") -> str:
        return self.const(np.asarray(list(xs), dtype=np.int64), hint)

    # -- per node --------------------------------------------------------------
    def node(self, n):
        self.current, self.group = n, []
        composite = self.dispatch(n)
        for node in self.group:
            self.annotate(node, n, composite)

    def fused(self, n):
        """A Fused node exports as its body, one ONNX node (or sub-graph) per step."""
        sg = Graph("fused")
        vals, seen = [], {}
        for v in n.inputs:
            if v.name not in seen:
                seen[v.name] = sg.add_input(v.name, v.type)
            vals.append(seen[v.name])
        e = Emitter(sg)
        body = n.attrs["body"]
        for k, (opname, refs, attrs, name) in enumerate(body):
            hint = n.outputs[0].name if k == len(body) - 1 else self.fresh(f"{n.name}/{name}")
            vals.append(e(opname, *[vals[r] for r in refs], name=hint, **dict(attrs)))
        for sn in sg.nodes:
            self.current = sn
            self.dispatch(sn)
        self.current = n

    def dispatch(self, n) -> bool:
        """Emit the ONNX node(s) of IR node ``n``; True if they stand for one composite op."""
        ins = [v.name for v in n.inputs]
        out = n.outputs[0].name
        a = dict(n.attrs)
        op = n.op.name
        composite = False
        if op in DIRECT:
            self.make(op, ins, out, **a)
        elif op == "Transpose":
            self.make(op, ins, out, perm=None if a["perm"] is None else list(a["perm"]))
        elif op == "Cast":
            self.make(op, ins, out, to=TO_ONNX[DType.of(a["to"])])
        elif op == "Reshape":
            self.make(op, [ins[0], self.ints(a["shape"], "shape")], out)
        elif op in ("Unsqueeze", "Squeeze"):
            axes = [] if a["axes"] is None else [self.ints(a["axes"])]
            self.make(op, [ins[0]] + axes, out)
        elif op in ("ReduceSum", "ReduceMean", "ReduceMax"):
            self.reduce(op, ins[0], a["axes"], a["keepdims"], out)
        elif op == "OneHot":
            dt = DType.of(a["dtype"]).numpy
            self.make(op, [ins[0], self.const(np.asarray(a["depth"], np.int64), "depth"),
                           self.const(np.asarray([0, 1], dt), "values")], out, axis=-1)
            composite = True  # ONNX OneHot wraps negative indices; ours rejects them: keep ours on import
        elif op == "Constant":
            self.nodes.append(helper.make_node("Constant", [], [out], name=out,
                                               value=numpy_helper.from_array(np.asarray(a["value"]), out)))
            self.group.append(self.nodes[-1])
        elif op == "Fused":
            composite = True
            self.fused(n)
        else:
            composite = True
            self.composite(n, op, ins, out, a)
        return composite

    def reduce(self, op, x, axes, keepdims, out):
        if axes is None:
            return self.make(op, [x], out, keepdims=int(keepdims))
        return self.make(op, [x, self.ints(axes)], out, keepdims=int(keepdims),
                         noop_with_empty_axes=1 if len(axes) == 0 else None)

    def composite(self, n, op, ins, out, a):
        x = ins[0]
        t = n.inputs[0].type
        if op == "Square":
            self.make("Mul", [x, x], out)
        elif op == "HardThreshold":
            gt = self.make("Greater", [x, self.const(np.zeros((), t.dtype.numpy), "zero")])
            self.make("Cast", [gt], out, to=TO_ONNX[t.dtype])
        elif op == "ExpandLike":
            self.make("Expand", [x, self.make("Shape", [ins[1]])], out)
        elif op == "Count":
            if a["axes"] is None:
                n_ = self.make("Size", [x])
            else:
                dims = self.make("Gather", [self.make("Shape", [x]), self.ints(a["axes"])], axis=0)
                n_ = self.make("ReduceProd", [dims], keepdims=0)
            self.make("Cast", [n_], out, to=TO_ONNX[t.dtype])
        elif op in ("CrossEntropy", "SquaredError", "BinaryCrossEntropy", "SoftmaxCrossEntropy"):
            self.loss(n, op, ins, out, a["reduction"], t)
        elif op == "ScatterAddLike":
            self.scatter_add(n, ins, out, a["axis"])
        else:
            raise OnnxExportError(f"node {n.name}: op {op} has no ONNX form")

    def scatter_add(self, n, ins, out, axis):
        """ScatterND(zeros, indices[..., None], g, reduction="add") with the gathered axis moved first."""
        g, idx, like = ins
        gt, it, lt = (v.type for v in n.inputs)
        r, k, a = lt.rank, it.rank, axis % lt.rank
        if it.dtype != DType.i64:
            idx = self.make("Cast", [idx], to=TO_ONNX[DType.i64])
        shape = self.make("Shape", [like])
        lp = [a] + [i for i in range(r) if i != a]
        if a:
            shape = self.make("Gather", [shape, self.ints(lp, "perm")], axis=0)
            g = self.make("Transpose", [g], perm=list(range(a, a + k)) + list(range(a)) + list(range(a + k, gt.rank)))
        zeros = self.make("ConstantOfShape", [shape], value=numpy_helper.from_array(np.zeros(1, gt.dtype.numpy)))
        where = self.make("Unsqueeze", [idx, self.ints([-1])])
        if not a:
            return self.make("ScatterND", [zeros, where, g], out, reduction="add")
        y = self.make("ScatterND", [zeros, where, g], reduction="add")
        return self.make("Transpose", [y], out, perm=[int(i) for i in np.argsort(lp)])

    def loss(self, n, op, ins, out, reduction, t):
        y, tgt = ins
        dt = t.dtype.numpy
        if op == "SoftmaxCrossEntropy" and t.rank == 2:
            src = n.inputs[1].producer
            labels = None
            if src is not None and src.op.name == "OneHot":
                labels = src.inputs[0].name
                if src.inputs[0].type.dtype != DType.i64:
                    labels = self.make("Cast", [labels], to=TO_ONNX[DType.i64])
            elif self.onehot_targets:
                labels = self.make("ArgMax", [tgt], axis=1, keepdims=0)
            if labels is not None:
                return self.make("SoftmaxCrossEntropyLoss", [y, labels], out, reduction=reduction)
        if op == "CrossEntropy":
            safe = self.make("Where", [self.make("Equal", [tgt, self.const(np.zeros((), dt), "zero")]),
                                       self.const(np.ones((), dt), "one"), y])
            per = self.make("Neg", [self.make("Mul", [tgt, self.make("Log", [safe])])])
        elif op == "SquaredError":
            d = self.make("Sub", [y, tgt])
            per = self.make("Mul", [self.make("Mul", [d, d]), self.const(np.asarray(0.5, dt), "half")])
        elif op == "BinaryCrossEntropy":
            one = self.const(np.ones((), dt), "one")
            pos = self.make("Mul", [tgt, self.make("Log", [y])])
            neg = self.make("Mul", [self.make("Sub", [one, tgt]), self.make("Log", [self.make("Sub", [one, y])])])
            per = self.make("Neg", [self.make("Add", [pos, neg])])
        else:
            per = self.make("Neg", [self.make("Mul", [tgt, self.make("LogSoftmax", [y], axis=-1)])])
        if t.rank > 1:
            per = self.make("ReduceSum", [per, self.ints(range(1, t.rank))], keepdims=0)
        if reduction == "none" or t.rank == 0:
            return self.make("Identity", [per], out)
        return self.make("ReduceSum" if reduction == "sum" else "ReduceMean", [per], out, keepdims=0)

    def annotate(self, node, n, composite):
        p = n.prov
        props = {}
        if composite:
            props.update({META_OP: n.op.name, META_ATTRS: encode_attrs(n.attrs),
                          META_INPUTS: json.dumps([v.name for v in n.inputs]), META_OUTPUT: n.outputs[0].name})
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
    inputs = [value_info(v.name, v.type) for v in g.inputs]
    if training:  # parameters and state are inputs too, defaulting to their current values
        inputs += [value_info(p.name, p.type) for p in g.params]
    inits = [numpy_helper.from_array(np.array(g.initializers[p.name], order="C"), p.name) for p in g.params]
    graph = helper.make_graph(ex.nodes, g.name, inputs, outputs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=producer,
                          ir_version=EXPORT_IR_VERSION)
    from ..version import __version__
    m.producer_version = __version__
    state = [p.name for p in g.params if p.kind == "state"]
    if state:
        helper.set_model_props(m, {META_STATE: json.dumps(state)})
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
    """The README's list of supported ops, generated from the registry and the importer."""
    from ...ir.ops import OPS
    from .ops import supported_ops
    exp = ", ".join(f"{n}" if op.onnx == n else f"{n} (as {op.onnx or 'a sub-graph'})" for n, op in OPS.items())
    return (f"- import ({len(supported_ops())} ONNX ops): {', '.join(supported_ops())}\n"
            f"- export (every registry op, {len(OPS)}): {exp}\n")
