"""Row chunks: one big node computed as several tasks, each over a range of its result's rows.

The op says which rows of its inputs the rows r0:r1 of its result need (``Op.row_split``);
a chunk is the op's own emitted lines (``Op.emit``) on slices. ``%fc2 = Gemm(%relu,
%fc2.weight, %fc2.bias) {transB=1}``, row-split as ``(0, None, None)``::

    mm(b12, v4.T, b13)                    # the sequential executor's lines
    add_11(b13, v5, b13)

becomes two tasks the dataflow executor's workers may run at the same time::

    mm(b12[0:64], v4.T, b13[0:64])        mm(b12[64:128], v4.T, b13[64:128])
    add_11(b13[0:64], v5, b13[0:64])      add_11(b13[64:128], v5, b13[64:128])

and the weight gradient ``Gemm(%grad_fc2, %relu) {transA=1}`` reads columns of its first
operand (``(1, None)``): ``mm(b36[:, 0:128].T, b12, b43[0:128])``.

The same bits: an elementwise op computes each element alone, and chunks start at multiples
of ``ROW_UNIT`` rows, so a chunk's vector loops line up with the whole node's. A BLAS call
picks its kernel by shape (OpenBLAS has small-matrix kernels, and others for few columns),
and some kernels sum in another order, so a BLAS op's chunks are used only where
``exact`` found them to give the whole call's bits: it runs the op's lines once on random
operands, whole and in chunks, with one BLAS thread as the tasks run, and keeps the answer
for the process. On this machine's OpenBLAS that holds for results of 128 columns or more
(``tests/test_split.py`` checks the shapes the benchmarks use).
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..ir.types import TensorType
from .codegen import Code
from .threads import BlasSetter

ROW_UNIT = 32  # chunks start at multiples of this many rows
Rows = Tuple[int, int]


def row_ranges(rows: int, chunks: int, unit: int = ROW_UNIT) -> List[Rows]:
    """At most ``chunks`` ranges covering ``0:rows``, each but the last a multiple of ``unit`` rows."""
    step = -(-rows // max(1, chunks))
    step = max(unit, -(-step // unit) * unit)
    bounds = list(range(0, rows, step)) + [rows]
    return list(zip(bounds[:-1], bounds[1:]))


def split_axes(e) -> Optional[Tuple[Optional[int], ...]]:
    """The op's ``row_split`` for an ``Emission``, if its chunks can run at the same time: each
    sliced axis has the result's row count, and an input sharing the result's storage (run in
    place, or the parameter an update overwrites) is sliced by rows too, so no chunk reads rows
    another chunk writes."""
    if e.type.rank == 0 or not isinstance(e.type.shape[0], int):
        return None
    axes = e.op.row_split(e.attrs, e.in_types, e.type)
    if axes is None or len(axes) != len(e.args):
        return None
    rows = e.type.shape[0]
    for k, (ax, t) in enumerate(zip(axes, e.in_types)):
        if ax is not None and not (0 <= ax < t.rank and t.shape[ax] == rows):
            return None
        if ax != 0 and (k == e.alias or e.args[k] == e.out):
            return None
    return tuple(axes)


def _sliced(name: str, axis: int, r0: int, r1: int) -> str:
    return f"{name}[{', '.join([':'] * axis + [f'{r0}:{r1}'])}]"


def _sliced_type(t: TensorType, axis: int, n: int) -> TensorType:
    return t.with_shape(t.shape[:axis] + (n,) + t.shape[axis + 1:])


def chunk_lines(code, e, axes, r0: int, r1: int, out: Optional[str] = None) -> List[str]:
    """The op's lines computing rows ``r0:r1`` of ``e``'s result into ``out[r0:r1]`` (``out``:
    the planned array, by default). Donated inputs stay donated only if sliced by rows."""
    args = [a if ax is None else _sliced(a, ax, r0, r1) for a, ax in zip(e.args, axes)]
    types = [t if ax is None else _sliced_type(t, ax, r1 - r0) for t, ax in zip(e.in_types, axes)]
    donated = [k for k in e.donated if axes[k] == 0]
    alias = e.alias if e.alias >= 0 and axes[e.alias] == 0 else -1
    return e.op.emit(code, e.attrs, f"{out or e.out}[{r0}:{r1}]", args, types, alias, donated)


_EXACT: Dict[tuple, bool] = {}


def _operand(t: TensorType, rng) -> np.ndarray:
    dt = t.dtype.numpy
    if dt.kind == "f":
        return rng.standard_normal(t.shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, t.shape).astype(bool)
    return rng.integers(0, 7, t.shape).astype(dt)


def exact(e, axes, ranges: Sequence[Rows]) -> bool:
    """Do ``ranges`` chunks give the whole node's bits? Yes for ops without a BLAS call; for a BLAS
    op, measured once per shape and ranges on random operands (one BLAS thread) and cached."""
    if not e.op.blas:
        return True
    key = (e.op.name, repr(sorted(e.attrs.items())), tuple(e.in_types), e.type, tuple(axes), tuple(ranges))
    if key not in _EXACT:
        rng = np.random.default_rng(0)
        code = Code()
        args = [code.const(_operand(t, rng), "x") for t in e.in_types]
        whole, parts = (np.zeros(e.type.shape, e.type.dtype.numpy) for _ in range(2))
        probe = e._replace(args=args, alias=-1, donated=[], out=code.const(whole, "o"))
        lines = e.op.emit(code, e.attrs, probe.out, args, e.in_types)
        p = code.const(parts, "p")
        for r0, r1 in ranges:
            lines += chunk_lines(code, probe, axes, r0, r1, out=p)
        setb = BlasSetter()
        before = setb.get()
        setb(1)
        try:
            exec(compile("\n".join(lines), "<chainrule row-split check>", "exec"), code.ns)  # noqa: S102
        finally:
            if before:
                setb(before)
        _EXACT[key] = whole.tobytes() == parts.tobytes()
    return _EXACT[key]


def plan_chunks(prep, cost: Sequence[float], grain: float, chunks: int) -> Dict[int, List[Rows]]:
    """Row ranges for the nodes run in chunks: each node predicted to take two grains or more
    (``cost``: seconds, one BLAS thread) in at most ``chunks`` ranges of a grain or more; then,
    until nothing changes, every node that reads a chunked node's rows, or whose rows a
    chunked node reads, with the same row count, so that a batch's rows flow through a chain
    of nodes as separate tasks (``tasks.py`` merges the small ones along the chain)."""
    index = {id(n): i for i, n in enumerate(prep.nodes)}
    axes = {i: split_axes(e) for i, e in prep.emitted.items()}
    out: Dict[int, List[Rows]] = {}

    def take(i: int, ranges: List[Rows]) -> bool:
        if i in out or axes.get(i) is None or len(ranges) < 2 or not exact(prep.emitted[i], axes[i], ranges):
            return False
        out[i] = ranges
        return True

    for i in sorted(axes):
        n = min(chunks, int(cost[i] // grain))
        if n >= 2 and axes[i] is not None:
            take(i, row_ranges(prep.emitted[i].type.shape[0], n))
    todo = sorted(out)
    while todo:
        i = todo.pop()
        node, rows = prep.nodes[i], prep.emitted[i].type.shape[0]
        near = [index.get(id(v.producer)) for v, ax in zip(node.inputs, axes[i]) if ax == 0 and v.producer is not None]
        near += [index.get(id(u)) for u, k in node.outputs[0].uses if axes.get(index.get(id(u))) is not None
                 and axes[index[id(u)]][k] == 0]
        for j in sorted({j for j in near if j is not None}):
            if j in axes and axes[j] is not None and prep.emitted[j].type.shape[0] == rows and take(j, out[i]):
                todo.append(j)
    return out


class Accesses:
    """The bytes a node, or a row chunk of it, reads and writes, as ``(start, end)`` ranges of
    addresses: two chunks of nodes that depend on each other need an order only if one writes
    bytes the other touches. Graph inputs, constants and the new arrays a kernel returns are
    never written by a chunk (they are not planned storage); a view reads its owner's storage."""

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

    def of(self, i: int, rows: Rows):
        """``(reads, writes)`` of rows ``rows`` of node ``i``."""
        key = (i, rows)
        if key not in self._memo:
            e = self.prep.emitted[i]
            axes = split_axes(e)
            reads, writes = [], []
            for k, (name, ax) in enumerate(zip(e.args, axes)):
                a = self._array(name)
                if a is False:
                    continue
                b = None if a is None else _bounds(a, ax, rows)
                reads.append(b)
                if k in e.donated and ax == 0:
                    writes.append(b)
            writes.append(_bounds(self._array(e.out), 0, rows))
            self._memo[key] = (reads, writes)
        return self._memo[key]

    def conflict(self, i: int, ri: Rows, j: int, rj: Rows) -> bool:
        """Must chunk ``ri`` of node ``i`` and chunk ``rj`` of node ``j`` run one after the other?"""
        (ra, wa), (rb, wb) = self.of(i, ri), self.of(j, rj)
        return any(_overlap(w, x) for w in wa for x in rb + wb) or any(_overlap(w, x) for w in wb for x in ra)

_VSLOT = re.compile(r"v(\d+)$")


def _bounds(a: np.ndarray, axis: Optional[int], rows: Rows) -> Tuple[int, int]:
    """The first and one past the last byte address of ``a``'s rows ``rows`` along ``axis`` (all of it: None)."""
    view = a if axis is None else a[(slice(None),) * axis + (slice(*rows),)]
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
