"""ONNX shape arithmetic, folded at import: the ``Sym`` value the shape ops pass along.

Exporters compute shapes at run time: PyTorch writes ``x.view(x.size(0), -1)`` as

    s = Shape(x); n = Gather(s, 0); n1 = Unsqueeze(n, [0]); t = Concat(n1, [-1]); y = Reshape(x, t)

chainrule's ``Reshape`` takes its target as a static attribute, so such chains are
evaluated here, at import, on a ``Sym``: the shape value as an object array whose
entries are ints and dimension symbols (``["N", 784]``). The import functions of
``Shape``, ``Gather``, ``Slice``, ``Concat``, ``Unsqueeze``, ``Squeeze``, ``Cast`` and
``Identity`` (in the family tables of ``ops/``) keep a ``Sym`` symbolic; a ``Sym``
without symbols becomes an ordinary constant (``sym_result``). A ``Reshape`` whose
target holds a symbol writes 0 (copy) where the input has that symbol at the same
position, else -1, and checks that the result has the symbol there:
Reshape(x: f32[N,1,28,28], ["N", -1])  ->  Reshape {shape=(0, -1)} : f32[N,784].
Any other use of a symbolic shape value is an import error naming it.
"""
from __future__ import annotations

import numpy as np

from ...ir import DType


class Sym:
    """A shape value with symbolic entries: ``arr`` (object array of ints and str), its dtype."""

    def __init__(self, arr, dtype=DType.i64):
        self.arr = np.asarray(arr, dtype=object)
        self.dtype = dtype

    @property
    def is_symbolic(self):
        return any(isinstance(d, str) for d in self.arr.reshape(-1))

    def text(self):
        return "[" + ", ".join(str(d) for d in self.arr.reshape(-1)) + "]"


def sym_of(ctx, name):
    """The import-time shape value of input ``name``: a ``Sym`` if it is symbolic, else None."""
    return ctx.imp.symbolic.get(name) if name else None


def as_sym(ctx, name, what):
    """Input ``name`` as a Sym, whether it is symbolic or a constant integer array."""
    s = sym_of(ctx, name)
    if s is not None:
        return s
    arr = ctx.static(name, what)
    if arr.dtype.kind not in "iu":
        ctx.fail(f"input {what!r} ({name!r}) is {arr.dtype}, not an integer shape value")
    return Sym(np.array([int(d) for d in arr.reshape(-1)], dtype=object).reshape(arr.shape), DType.of(arr.dtype))


def sym_result(ctx, s):
    """A Sym whose entries are all known is an ordinary constant; otherwise it stays a Sym."""
    if s.is_symbolic:
        return s
    return ctx.constant(np.array(s.arr.tolist(), dtype=s.dtype.numpy).reshape(s.arr.shape))
