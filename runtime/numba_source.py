"""The whole step as one module of numba source: the kernels of ``lowering.py`` in one function.

A run of kernels with loops becomes one ``@njit`` function, a *segment*; a kernel without a
loop form (a ``numpy`` kernel) runs between two segments, in Python (``numba_backend.py``
calls them in turn). A step whose every node has a loop form is one function::

    @njit(cache=True, error_model="numpy", nogil=True)
    def seg0(x, t, fc1_weight, fc1_bias, ..., lr, arena_float32, offs):
        N = offs[0]                        # the symbolic sizes, then where each buffer starts
        fc1 = arena_float32[offs[1]:offs[1] + N * 256].reshape((N, 256))
        ...                                # every planned buffer: a view of the one arena
        crossentropy = np.empty((), np.float32)   # results the caller keeps: new arrays
        new_fc1_weight = fc1_weight        # an update planned into its parameter
        # %fc1: f32[N,256] = Gemm(%x, %fc1.weight, %fc1.bias) {transB=1}
        np.dot(x, fc1_weight.T, fc1)
        ...
        return (crossentropy,)

The text depends on the graph and on which values the memory plan places in the arena (the
same for every batch size), not on the sizes: one module, compiled once, serves every batch
size, and its file name is a hash of its text (numba's on-disk cache is keyed by the file).
The arena is passed once per element type it holds (``arena_float32``, ``arena_bool``: views of
the same bytes), with the offsets counted in elements, so that a buffer is a slice and a
reshape (``.view`` of bytes would be as fast to run but slower for numba to compile).
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Sequence, Set, Tuple

from .loops import product_text, shape_text
from .lowering import Program, kernel_text

HEADER = '''"""chainrule's training or inference step for graph {graph}, generated from its IR by
chainrule.runtime.numba_source. Do not edit: the file name is a hash of this text."""
import math

import numpy as np
from numba import njit
'''
DECORATOR = '@njit(cache=True, error_model="numpy", nogil=True)'  # numpy errors: 1/0 is inf, as in NumPy


class Segment(NamedTuple):
    name: str
    kernels: List[int]  # indices into the program's kernels
    args: List[str]  # IR values passed in, before ``arena`` and ``offs``
    returns: List[str]  # IR values handed back (results, and values read outside the segment)


class StepSource(NamedTuple):
    text: str
    arenas: List[str]  # the NumPy dtypes of the arena's views, in the order they are passed
    items: List[Tuple[str, object]]  # in order: ("segment", Segment) or ("numpy", kernel index)
    symbols: List[str]  # offs[k] for k < len(symbols): the symbolic sizes
    planned: List[str]  # offs[len(symbols) + k]: where planned value k starts in the arena
    views: Set[str]  # values made by view ops (not contiguous in general)

    @property
    def segments(self) -> List[Segment]:
        return [s for kind, s in self.items if kind == "segment"]


def _np_dtype(t) -> str:
    name = t.dtype.numpy.name
    return "np.bool_" if name == "bool" else f"np.{name}"


def step_source(program: Program, buffer_of: Sequence[str], param_outputs: Dict[str, str]) -> StepSource:
    """The module for ``program`` (kernels in execution order); ``buffer_of``: the values the memory
    plan puts in the arena; ``param_outputs``: updates written into their parameter."""
    g, kernels, names = program.graph, program.kernels, program.names
    exported = {v.name for v in g.outputs}
    outside = {v.name for v in list(g.inputs) + list(g.params)}
    in_arena = {v for v in buffer_of if v not in exported and v not in param_outputs}
    views = {o.name for k in kernels if k.node.op.view for o in k.node.outputs}
    items: List[Tuple[str, object]] = []
    where: Dict[str, object] = {}  # value -> "numpy", "static" or the Segment making it
    count = 0
    for i, k in enumerate(kernels):
        if k.kind == "loops":
            if not items or items[-1][0] != "segment":
                items.append(("segment", Segment(f"seg{count}", [], [], [])))
                count += 1
            seg = items[-1][1]
            seg.kernels.append(i)
            for o in k.node.outputs:
                where[o.name] = seg
        elif k.kind == "numpy":
            items.append(("numpy", i))
            for o in k.node.outputs:
                where[o.name] = "numpy"
        else:
            for o in k.node.outputs:
                where[o.name] = "static"
    # what each segment reads from outside itself, and who reads each value
    read_outside: Set[str] = set(exported) | {v.name for _, v in g.updates if v.name not in param_outputs}
    for kind, item in items:
        if kind == "numpy":
            read_outside |= {v.name for v in kernels[item].node.inputs}
    for kind, seg in items:
        if kind != "segment":
            continue
        mine, args = set(), {}  # (a dict: the arguments in the order they are first read)
        for i in seg.kernels:
            n = kernels[i].node
            for v in n.inputs:
                if v.name in mine or v.name in args or names.value(v.name) in program.inline:
                    continue
                if v.name in outside or where.get(v.name) in ("numpy", "static") or v.name not in in_arena:
                    args[v.name] = None
                    read_outside.add(v.name)
            for o in n.outputs:
                mine.add(o.name)
                p = param_outputs.get(o.name)
                if p is not None:
                    args.setdefault(p)
        seg.args.extend(args)
    for kind, seg in items:
        if kind == "segment":
            made = [o.name for i in seg.kernels for o in kernels[i].node.outputs]
            seg.returns.extend(v for v in made if v in exported or (v in read_outside and v not in in_arena))
    symbols = sorted({d for v in g.all_values() for d in v.type.shape if isinstance(d, str)})
    first: Dict[str, int] = {}  # the kernel that first reads or writes each value
    for i, k in enumerate(kernels):
        for v in list(k.node.inputs) + list(k.node.outputs):
            first.setdefault(v.name, i)
    planned = sorted(in_arena, key=lambda v: (first.get(v, len(kernels)), v))
    values = {v.name: v for v in g.all_values()}
    arenas = sorted({values[v].type.dtype.numpy.name for v in planned})
    where_in = {v: k for k, v in enumerate(planned)}
    text = HEADER.format(graph=g.name) + "".join(
        "\n\n" + _segment_text(program, seg, symbols, where_in, in_arena, param_outputs, exported, views, arenas)
        for kind, seg in items if kind == "segment")
    return StepSource(text, arenas, items, symbols, planned, views)


def _segment_text(program: Program, seg: Segment, symbols, slot_of, in_arena, param_outputs, exported,
                  views, arenas) -> str:
    """One segment's function; ``slot_of[v]``: planned value v's entry after the sizes in ``offs``."""
    kernels, names = program.kernels, program.names
    values = {v.name: v for v in program.graph.all_values()}
    args = [names.value(v) for v in seg.args] + [f"arena_{a}" for a in arenas] + ["offs"]
    lines = [DECORATOR, f"def {seg.name}({', '.join(args)}):"]
    body: List[str] = [f"{names.dim(s)} = offs[{k}]" for k, s in enumerate(symbols)]
    touched: Dict[str, None] = {}  # values of the arena this segment reads or writes, in order
    fresh, bound, passed = [], [], set(seg.args)
    for i in seg.kernels:
        n = kernels[i].node
        for v in list(n.inputs) + list(n.outputs):
            if v.name in in_arena and v.name not in passed:
                touched.setdefault(v.name)
        for o in n.outputs:
            if o.name in param_outputs:
                bound.append(f"{names.value(o.name)} = {names.value(param_outputs[o.name])}  # written in place")
            elif o.name not in in_arena and not n.op.view:
                fresh.append(o)
    if touched:
        body.append("# the planned buffers: views of the arena")
    for v in touched:
        t = values[v].type
        at = f"offs[{len(symbols) + slot_of[v]}]"
        body.append(f"{names.value(v)} = arena_{t.dtype.numpy.name}[{at}:{at} + {product_text(names, t.shape)}]"
                    f".reshape({shape_text(names, t.shape)})")
    if fresh:
        body.append("# values not planned, and results the caller keeps: new arrays")
    for o in fresh:
        body.append(f"{names.value(o.name)} = np.empty({shape_text(names, o.type.shape)}, {_np_dtype(o.type)})")
    body += bound
    for i in seg.kernels:
        body.append("")
        body += kernel_text(kernels[i], program).splitlines()
    rets = [names.value(v) + (".copy()" if v in exported and v in views else "") for v in seg.returns]
    body.append("")
    body.append(f"return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    return "\n".join(lines + ["    " + ln if ln else "" for ln in body]) + "\n"
