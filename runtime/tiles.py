"""Tiles: a big matrix product is computed as fixed slices of its result, whichever executor runs it.

A BLAS library sums a product's terms in an order that depends on the shape of the call
(its kernels, its blocking): a slice of ``X @ Wᵀ`` computed alone may differ in the last bit
from the same slice of the whole product (a two-thread call from a one-thread call, too, which
``summed`` in ``ir/ops/linalg.py`` undoes by summing a product's terms in two parts). So
that the dataflow executor may spread a product over its workers and still give the
sequential executor's bits, the product is cut the same way in both: the planned code of a
node whose result is a static matrix of ``MIN_MADDS`` multiply-adds or more computes its
longer side in at most ``MOST`` tiles of ``LEAST`` rows or columns or more (their starts
multiples of 32). ``%fc1 = Gemm(%x, %fc1.weight, %fc1.bias) {transB=1}`` of type
f32[512,1024], one call in the sequential executor's code::

    mm(b7, v2.T, b8)
    add_3(b8, v3, b8)

is four, one per 256 columns (the rows of the weight), in every executor's code::

    mm(b7, v2[0:256].T, b8[:, 0:256])
    add_3(b8[:, 0:256], v3[0:256], b8[:, 0:256])
    mm(b7, v2[256:512].T, b8[:, 256:512])
    ...

and the dataflow executor may run them as four tasks (``split.py``). The rule reads only the
shapes, never the machine: the same model gives the same tiles, so the same bits, on every
run and with any number of workers. Cutting costs the sequential code 1-7% on such products
(repacking the shared operand; measured in docs/performance.md).
"""
from __future__ import annotations

from typing import List, Optional

from .split import Span, cut_axes, spans

MIN_MADDS = 1 << 22  # about 4.2 million multiply-adds: some 70 µs of one core
LEAST = 128  # rows or columns of a tile, at least
MOST = 4  # tiles of one product, at most


def tiles(e) -> Optional[List[Span]]:
    """The tiles of an ``Emission`` (its result's slices, in order), or None to compute it whole."""
    t = e.type
    if not e.op.blas or t.rank != 2 or not t.is_static:
        return None
    if int(e.op.flops(list(e.in_types), [t], e.attrs) or 0) < MIN_MADDS:
        return None
    for axis in sorted((0, 1), key=lambda a: (-t.shape[a], a)):  # the longer side first
        n = min(MOST, t.shape[axis] // LEAST)
        if n >= 2 and cut_axes(e, axis) is not None:
            return spans(axis, t.shape[axis], n)
    return None
