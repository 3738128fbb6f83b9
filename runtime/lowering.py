"""A graph lowered to loops: one ``Kernel`` per node, in a node order (``lower``), and its text.

Each node is asked, in turn: is its value the same on every call (a ``static`` kernel: a
``foldable`` op of constants, computed now, and written into the code as a literal when it is
one number)? Does its op write loops (``Op.loops``, through the builder of ``loops.py``: a
``loops`` kernel)? Else it keeps its NumPy kernel (a ``numpy`` kernel). Then each elementwise
nest *closes* the reductions of its result that read nothing else, when no NumPy kernel runs
between the two: the nest accumulates them, and the reduction's kernel only copies its
accumulator out::

    program = lower(step.graph)
    program.fallbacks                 # ['conv1 (Conv)', ...]: nodes left to their NumPy kernel
    print(program_text(program))      # what ``chainrule dump --print-kernels`` prints
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..ir.ops.base import literal
from ..ir.printer import format_node
from .loops import Closing, Loops, Names

class Kernel(NamedTuple):
    """One node's code. ``kind``: ``loops`` (its loops are ``lines``), ``static`` (computed now:
    ``value``), or ``numpy`` (no loop form: the step calls the op's NumPy kernel)."""
    node: object
    kind: str
    lines: List[str]
    closes: Tuple[str, ...] = ()  # reductions computed in this node's nest (node names)
    closed_by: str = ""  # for a closed reduction: the node whose nest accumulates it
    value: Optional[np.ndarray] = None  # a static kernel's value


class Program:
    """A graph (in a node order) as kernels, with the identifiers they use."""

    def __init__(self, graph, kernels: List[Kernel], names: Names, inline: Dict[str, str]):
        self.graph, self.kernels, self.names, self.inline = graph, kernels, names, inline

    def array(self, v) -> str:
        return self.names.value(v.name)

    @property
    def fallbacks(self) -> List[str]:
        """Nodes left to their NumPy kernel (``node (Op)``)."""
        return [f"{k.node.name} ({k.node.op.name})" for k in self.kernels if k.kind == "numpy"]


def _static_value(node, static: Dict[str, np.ndarray], exported) -> Optional[np.ndarray]:
    """The node's value when it is the same on every call: a foldable op of static values."""
    if len(node.outputs) != 1 or id(node.outputs[0]) in exported or not node.op.foldable:
        return None
    if not all(v.name in static for v in node.inputs):
        return None
    t = node.outputs[0].type
    if not t.is_static:
        return None
    with np.errstate(all="ignore"):  # a constant 1/0 is inf here as it would be at run time
        out = node.op.kernel(dict(node.attrs))(*[static[v.name] for v in node.inputs])
    out = np.asarray(out, dtype=t.dtype.numpy)
    return out if out.shape == t.shape else None


def lower(graph, nodes=None, can_lower=None) -> Program:
    """Every node of ``graph`` (in the order ``nodes``) as a ``Kernel``; ``can_lower(node)`` False
    keeps a node on its NumPy kernel (what the compiler of the loops cannot take)."""
    nodes = list(graph.nodes) if nodes is None else list(nodes)
    names = Names()
    for v in list(graph.inputs) + list(graph.params) + [o for n in nodes for o in n.outputs]:
        names.value(v.name)  # every array and size is named before any kernel makes its locals
        for d in v.type.shape:
            names.dim(d)
    exported = graph.exported_ids()
    static: Dict[str, np.ndarray] = {}
    inline: Dict[str, str] = {}
    strided: set = set()
    kind: Dict[str, str] = {}
    nest: Dict[str, bool] = {}  # the node's loops are one elementwise nest over its result (lb.body)
    for n in nodes:  # what each node is: static, loops or numpy
        value = _static_value(n, static, exported)
        if value is not None:
            static[n.outputs[0].name] = value
            if value.size == 1 and value.dtype.kind in "biuf":  # a number, not a string
                inline[names.value(n.outputs[0].name)] = literal(value.reshape(()).item())
            kind[n.name] = "static"
            continue
        names.begin_kernel()
        trial = Loops(names, inline, strided)
        ok = can_lower is None or can_lower(n)
        kind[n.name] = "loops" if ok and _write(trial, n, names) else "numpy"
        nest[n.name] = kind[n.name] == "loops" and trial.closed and len(n.outputs) == 1
    closing = _closings(nodes, kind, nest)
    kernels: List[Kernel] = []
    acc_of: Dict[str, Closing] = {}
    for n in nodes:
        names.begin_kernel()
        k = kind[n.name]
        if k == "static":
            kernels.append(Kernel(n, "static", [], value=static[n.outputs[0].name]))
            continue
        if k == "numpy":
            kernels.append(Kernel(n, "numpy", []))
            continue
        lb = Loops(names, inline, strided)
        if n.name in acc_of:  # a reduction accumulated in its producer's nest
            x = n.inputs[0]
            lb.finish(names.value(n.outputs[0].name), n.outputs[0].type, acc_of[n.name], x.type)
            kernels.append(Kernel(n, "loops", lb.lines, closed_by=x.producer.name))
            continue
        closes = []
        for r in closing.get(n.name, []):
            x_t = r.inputs[0].type
            a = dict(r.attrs)
            axes = tuple(range(x_t.rank)) if a.get("axes") is None else \
                tuple(sorted(ax % x_t.rank for ax in a["axes"]))
            c = Closing(names.shared("acc_" + names.value(r.outputs[0].name)), r.op.accumulate(a, x_t), axes,
                        bool(a.get("keepdims", 1)), r.outputs[0].type)
            acc_of[r.name] = c
            closes.append(c)
        lb.closing = closes
        _write(lb, n, names=names)
        if closes and not lb.closed:
            raise AssertionError(f"loops: node {n.name} did not accumulate its closing reductions")
        kernels.append(Kernel(n, "loops", lb.lines, closes=tuple(r.name for r in closing.get(n.name, []))))
    return Program(graph, kernels, names, inline)


def _write(lb: Loops, n, names: Names) -> bool:
    """Ask the node's op for its loops (False: none)."""
    outs = [names.value(o.name) for o in n.outputs]
    args = [names.value(v.name) for v in n.inputs]
    return bool(n.op.loops(lb, dict(n.attrs), outs, args, [v.type for v in n.inputs], [o.type for o in n.outputs]))


def _closings(nodes, kind, nest) -> Dict[str, list]:
    """For each elementwise nest, the reductions of its result it can accumulate as it goes: the
    reduction reads only that result, with the nest's type, and no NumPy kernel runs between them
    (numba compiles the code between two such kernels as one function)."""
    pos = {n.name: i for i, n in enumerate(nodes)}
    segment, seg = {}, 0
    for n in nodes:
        if kind[n.name] == "numpy":
            seg += 1
        segment[n.name] = seg
    out: Dict[str, list] = {}
    for n in nodes:
        if kind[n.name] != "loops" or len(n.inputs) != 1 or n.inputs[0].producer is None:
            continue
        p = n.inputs[0].producer
        how = n.op.accumulate(dict(n.attrs), n.inputs[0].type)
        if how is None or p.name not in pos or not nest[p.name]:
            continue
        if segment[p.name] != segment[n.name] or pos[p.name] > pos[n.name]:
            continue
        out.setdefault(p.name, []).append(n)
    return out


def kernel_text(k: Kernel, program: Program) -> str:
    """One kernel as readable text: the node's IR line as a comment, then its loops."""
    n = k.node
    head = f"# {format_node(n, meta=False)}"
    if k.closes:
        head += f"\n#   (also accumulates {', '.join('%' + r for r in k.closes)} as each element is made)"
    if k.kind == "static":
        v = k.value
        shown = program.inline.get(program.array(n.outputs[0]))
        return head + f"\n{program.array(n.outputs[0])} = " + (
            f"{shown}  # the same on every call: computed once" if shown is not None else
            f"<{v.dtype}{list(v.shape)} array computed once>")
    if k.kind == "numpy":
        outs = ", ".join(program.array(o) for o in n.outputs)
        ins = ", ".join(program.array(v) for v in n.inputs)
        return head + f"\n{outs} = {n.op.name}_kernel({ins})  # no loop form: the op's NumPy kernel"
    if k.closed_by:
        head += f"\n#   (accumulated in the nest of %{k.closed_by})"
    return head + "\n" + "\n".join(k.lines)


def program_text(program: Program, only: Optional[Sequence[str]] = None) -> str:
    """Every kernel (or those of the nodes ``only``), separated by blank lines."""
    ks = [k for k in program.kernels if only is None or k.node.name in only]
    syms = sorted({d for v in program.graph.all_values() for d in v.type.shape if isinstance(d, str)})
    head = f"# {program.graph.name}: {len(program.kernels)} kernels" + (
        f" ({len(program.fallbacks)} on NumPy kernels)" if program.fallbacks else "") + (
        f"; symbolic sizes: {', '.join(syms)}" if syms else "")
    return head + "\n\n" + "\n\n".join(kernel_text(k, program) for k in ks) + "\n"
