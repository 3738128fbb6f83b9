"""Python source for a planned graph, generated once per set of bindings (used by ``executor.py``).

Each node becomes a few straight-line lines over local variables ``v<slot>``
with everything resolved in advance: the planned buffers, a ``Fused`` node's
scratch buffers and step order (its body is inlined, ``fused.py``), transposed
operands, ufuncs called with a positional ``out``. So a step costs one NumPy
call per operation and no dict look-ups or shape checks::

    v10 = o2                      # planned buffer of %fc1
    mm(v0, v2.T, v10)             # Gemm {transB=1} (mmk: summed in two, ir/ops/linalg.py)
    add_5(v10, v3, v10)
    maximum(v10, 0, out=o3)       # Relu into its own buffer ...

The lines come from the ops themselves (``Op.emit``: Gemm knows its transposes,
Relu its ``maximum``); this module holds what they share: ``Code``, the names
the lines refer to, and ``fold``, which computes values that are the same on
every call (constants, ``Count`` of a planned shape, foldable ops of those) once.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from ..ir.ops.linalg import summed
from ..ir.types import TensorType
from .fused import emit_body


class Code:
    """The names generated lines refer to (``ns``) and the values known for these bindings."""

    def __init__(self):
        self.ns: Dict[str, object] = {"np": np, "mm": np.matmul, "mmk": summed, "maximum": np.maximum,
                                      "greater": np.greater, "divide": np.divide, "copyto": np.copyto,
                                      "empty": np.empty}
        self._ids: Dict[int, str] = {id(obj): name for name, obj in self.ns.items()}
        self.known: Dict[str, object] = {}  # name -> value fixed for these bindings

    def const(self, obj, hint="c") -> str:
        """A namespace name bound to ``obj`` (one name per object)."""
        name = self._ids.get(id(obj))
        if name is None:
            name = self._ids[id(obj)] = f"{hint}{len(self.ns)}"
            self.ns[name] = obj
        return name

    def fold(self, op, attrs: dict, args: List[str], t: TensorType) -> str:
        """Compute a foldable op on the known values ``args`` now; returns the name of the result."""
        return self.known_value(fold(op, attrs, [self.known[a] for a in args], t))

    def known_value(self, value) -> str:
        name = self.const(value, "c")
        self.known[name] = value
        return name

    def inline_body(self, body, out: str, args: List[str], in_types, alias: int = -1, donated=()) -> List[str]:
        """A ``Fused`` body inlined (what ``Fused.emit`` asks for)."""
        return emit_body(self, body, out, args, in_types, alias, donated)


def fold(op, attrs: dict, vals: list, t: TensorType):
    """``op`` on ``vals`` now, with the kernel it would run with later (so the same bits)."""
    into = op.out_kernel(attrs)
    if into is None:  # Constant, Count: the kernel's own result
        return op.kernel(attrs)(*vals)
    out = np.empty(t.shape, t.dtype.numpy)
    into(out, *vals)
    out.setflags(write=False)
    return out
