"""Chunks: one big node computed as several tasks, each over a range of its result's rows or columns.

The op says which slices of its inputs a slice of its result needs (``Op.split``); a chunk
is the op's own emitted lines (``Op.emit``) on slices. ``%fc2 = Gemm(%relu, %fc2.weight,
%fc2.bias) {transB=1}``, of type f32[128,256], splits its columns as ``(None, 0, 0)``::

    mm(b12, v4.T, b13)                            # the op's lines for the whole node
    add_11(b13, v5, b13)

becomes two tasks the dataflow executor's workers may run at the same time::

    mm(b12, v4[0:128].T, b13[:, 0:128])           mm(b12, v4[128:256].T, b13[:, 128:256])
    add_11(b13[:, 0:128], v5[0:128], ...)         add_11(b13[:, 128:256], v5[128:256], ...)

Which axis: an elementwise op splits its rows (contiguous slices, so each element is
computed by the same vector loop as in the whole node). A BLAS op splits along its tiles
(``tiles.py``), the longer side of its result: each chunk packs the operand it shares with
the other chunks again (the weights, for a split of the batch rows of ``XWᵀ``), so the
shorter side keeps that copy small. Rows of a batch that flow through a chain of row-split nodes stay separate tasks:
``relu`` after a row-split ``fc1`` is split the same way (``plan_chunks``).

The same bits: a BLAS call sums in an order that depends on its shape, so a slice of a product
computed alone may differ in the last bit from that slice of the whole. A BLAS op is cut
only along its tiles (``tiles.py``), which the sequential code computes too; an elementwise
op's chunks run the same vector loop on each element. Chunks start at multiples of ``UNIT``
rows or columns.
"""
from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..ir.types import TensorType

UNIT = 32  # chunks start at multiples of this many rows or columns
_VSLOT = re.compile(r"v(\d+)$")


class Span(NamedTuple):
    """The slice ``lo:hi`` of a result along ``axis`` (0: rows, 1: columns)."""
    axis: int
    lo: int
    hi: int

    def __str__(self):
        return f"[{':, ' * self.axis}{self.lo}:{self.hi}]"


def spans(axis: int, extent: int, chunks: int, unit: int = UNIT) -> List[Span]:
    """At most ``chunks`` spans covering ``0:extent`` along ``axis``, each but the last a multiple of ``unit``."""
    step = -(-extent // max(1, chunks))
    step = max(unit, -(-step // unit) * unit)
    bounds = list(range(0, extent, step)) + [extent]
    return [Span(axis, a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def cut_axes(e, axis: int) -> Optional[Tuple[Optional[int], ...]]:
    """The op's ``split`` of an ``Emission`` along ``axis``, if its chunks can run at the same time:
    each sliced input axis has the result's length, and an input sharing the result's storage (run
    in place, or the parameter an update overwrites) is sliced along ``axis`` too, so no chunk
    reads what another chunk writes."""
    if not 0 <= axis < e.type.rank or not isinstance(e.type.shape[axis], int):
        return None
    axes = e.op.split(e.attrs, e.in_types, e.type, axis)
    if axes is None or len(axes) != len(e.args):
        return None
    n = e.type.shape[axis]
    for k, (ax, t) in enumerate(zip(axes, e.in_types)):
        if ax is not None and not (0 <= ax < t.rank and t.shape[ax] == n):
            return None
        if (k == e.alias or e.args[k] == e.out) and ax != axis:
            return None
    return tuple(axes)


def _sliced(name: str, axis: int, lo: int, hi: int) -> str:
    return f"{name}[{', '.join([':'] * axis + [f'{lo}:{hi}'])}]"


def _sliced_type(t: TensorType, axis: int, n: int) -> TensorType:
    return t.with_shape(t.shape[:axis] + (n,) + t.shape[axis + 1:])


def chunk_lines(code, e, span: Span, out: Optional[str] = None) -> List[str]:
    """The op's lines computing ``span`` of ``e``'s result into that slice of ``out`` (default: the
    planned array). Donated inputs stay donated only if sliced as the result is."""
    axes = cut_axes(e, span.axis)
    lo, hi = span.lo, span.hi
    args = [a if ax is None else _sliced(a, ax, lo, hi) for a, ax in zip(e.args, axes)]
    types = [t if ax is None else _sliced_type(t, ax, hi - lo) for t, ax in zip(e.in_types, axes)]
    donated = [k for k in e.donated if axes[k] == span.axis]
    alias = e.alias if e.alias >= 0 and axes[e.alias] == span.axis else -1
    return e.op.emit(code, e.attrs, _sliced(out or e.out, span.axis, lo, hi), args, types, alias, donated)


class Cut(NamedTuple):
    """A node's chunks. Together they cost what the whole node costs: a product's are the tiles the
    sequential code computes too (``tiles.py``), an elementwise op's run the same loop on rows."""
    spans: List[Span]


def plan_chunks(prep, cost: Sequence[float], grain: float, chunks: int) -> Dict[int, Cut]:
    """The chunks of the nodes run in chunks: each node predicted to take two grains or more
    (``cost``: seconds, one BLAS thread) in at most ``chunks`` spans of a grain or more, along
    its rows (a BLAS op: along its tiles, ``tiles.py``); then, until nothing changes, every node that reads a
    row-split node's rows, or whose rows a row-split node reads, with the same row count, so that
    a batch's rows flow through a chain of nodes as separate tasks (``tasks.py`` merges the
    small ones along the chain)."""
    index = {id(n): i for i, n in enumerate(prep.nodes)}
    out: Dict[int, Cut] = {}

    def take(i: int, axis: int, n: int) -> bool:
        e = prep.emitted[i]
        if i in out or cut_axes(e, axis) is None:
            return False
        if e.op.blas:  # only in its tiles: other slices of a product may round otherwise
            cut = prep.tiles.get(i)
            if cut is None or cut[0].axis != axis:
                return False
        else:
            cut = spans(axis, e.type.shape[axis], n)
        if len(cut) < 2:
            return False
        out[i] = Cut(cut)
        return True

    for i, e in sorted(prep.emitted.items()):
        n = min(chunks, int(cost[i] // grain))
        if n < 2 or e.type.rank == 0 or not e.type.is_static:
            continue
        sides = [0, 1] if e.op.blas and e.type.rank == 2 else [0]
        for axis in sorted(sides, key=lambda a: (-e.type.shape[a], a)):  # the longer side first
            if take(i, axis, n):
                break
    todo = sorted(i for i, cut in out.items() if cut.spans[0].axis == 0)
    while todo:
        i = todo.pop()
        node, rows, n = prep.nodes[i], prep.emitted[i].type.shape[0], len(out[i].spans)
        axes = cut_axes(prep.emitted[i], 0)
        near = [index.get(id(v.producer)) for v, ax in zip(node.inputs, axes) if ax == 0 and v.producer is not None]
        for u, k in node.outputs[0].uses:
            j = index.get(id(u))
            if j in prep.emitted and (cut_axes(prep.emitted[j], 0) or ())[k:k + 1] == (0,):
                near.append(j)
        for j in sorted({j for j in near if j in prep.emitted}):
            if prep.emitted[j].type.shape[0] == rows and take(j, 0, n):
                todo.append(j)
    return out


class Accesses:
    """The bytes a node, or a chunk of it, reads and writes, as ``(start, end)`` ranges of
    addresses: two chunks of nodes that depend on each other need an order only if one writes
    bytes the other touches. Graph inputs, constants and the new arrays a kernel returns are
    never written by a chunk (they are not planned storage); a view reads its owner's storage.
    A column slice is given as the range from its first to its last byte: it may conflict with
    more than it touches, never with less."""

    def __init__(self, prep, params):
        self.prep = prep
        names = {s: name for name, s in prep.pslot.items()}
        self.arrays = {s: params[names[s]] for s in names}  # slot -> the parameter array it holds
        self.inputs = {prep.slot[id(v)] for v in prep.graph.inputs}
        self.values = {id(v): v for n in prep.nodes for v in n.outputs}
        self.made = {prep.slot[id(v)]: v for v in self.values.values()}  # slot -> the value a node makes
        self._memo: Dict[tuple, tuple] = {}

    def _array(self, name: str, view_of: bool = False):
        """The array named ``name`` in generated code, False if no chunk writes it, None if unknown."""
        m = _VSLOT.match(name)
        if m is None:
            a = self.prep.gen.ns.get(name)
            return a if isinstance(a, np.ndarray) else False  # a constant
        s = int(m.group(1))
        if s in self.inputs or s in self.arrays:
            return False if s in self.inputs else self.arrays[s]
        v = self.made.get(s)
        owner = None if v is None else self.values.get(self.prep.live.owner(v))
        if v is not None and owner is v:
            return False  # a new array of this call
        if owner is None or view_of:
            return None
        return self._array(self.prep.expr[self.prep.slot[id(owner)]], view_of=True)  # the owner's, whole

    def of(self, i: int, span: Span):
        """``(reads, writes)`` of chunk ``span`` of node ``i``."""
        key = (i, span)
        if key not in self._memo:
            e = self.prep.emitted[i]
            axes = cut_axes(e, span.axis)
            reads, writes = [], []
            for k, (name, ax) in enumerate(zip(e.args, axes)):
                a = self._array(name)
                if a is False:
                    continue
                b = None if a is None else _bounds(a, ax, span)
                reads.append(b)
                if k in e.donated and ax == span.axis:
                    writes.append(b)
            writes.append(_bounds(self._array(e.out), span.axis, span))
            self._memo[key] = (reads, writes)
        return self._memo[key]

    def conflict(self, i: int, si: Span, j: int, sj: Span) -> bool:
        """Must chunk ``si`` of node ``i`` and chunk ``sj`` of node ``j`` run one after the other?"""
        (ra, wa), (rb, wb) = self.of(i, si), self.of(j, sj)
        return any(_overlap(w, x) for w in wa for x in rb + wb) or any(_overlap(w, x) for w in wb for x in ra)


def _bounds(a: np.ndarray, axis: Optional[int], span: Span) -> Tuple[int, int]:
    """The first and one past the last byte address of ``a``'s slice ``span.lo:span.hi`` along ``axis``
    (all of it: None)."""
    view = a if axis is None else a[(slice(None),) * axis + (slice(span.lo, span.hi),)]
    lo = hi = view.__array_interface__["data"][0]
    if view.size == 0:
        return lo, lo
    for n, stride in zip(view.shape, view.strides):
        if stride >= 0:
            hi += (n - 1) * stride
        else:
            lo += (n - 1) * stride
    return lo, hi + view.itemsize


def _overlap(a, b) -> bool:
    return a is None or b is None or (a[0] < b[1] and b[0] < a[1])
