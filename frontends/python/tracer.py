"""Write a model in Python; get IR. ``Tensor`` records each operation as a node.

    b = GraphBuilder("logistic")
    x = b.input("x", ("N", 2))
    w = b.param("w", np.zeros((1, 2), np.float32))
    y = cr.sigmoid(x @ w.T)
    g = b.build(y)          # graph logistic { input %x: f32[N,2] ... return %sigmoid }

Operators ``@ + - * / **`` and unary minus work between tensors and with
Python numbers (which become ``Constant`` nodes of the tensor's dtype). Each
node remembers the line of user code that made it, so a shape error points
at the user's line and states both shapes.
"""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

import numpy as np

from ...ir import DType, Emitter, Graph, IRTypeError, TensorType, Value

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The package's own code; in a source checkout tests/ and examples/ sit beside it and are user code.
_PKG_PARTS = tuple(os.path.join(_PKG_DIR, d) + os.sep for d in ("ir", "passes", "runtime", "frontends"))
_PKG_INIT = os.path.join(_PKG_DIR, "__init__.py")


def _in_package(fn: str) -> bool:
    fn = os.path.abspath(fn)
    return fn == _PKG_INIT or fn.startswith(_PKG_PARTS)


def _launcher(fn: str) -> bool:
    """The code that started the process, not the user's: the ``chainrule`` console script, or
    ``python -m``'s runpy."""
    return fn.startswith("<frozen") or os.path.splitext(os.path.basename(fn))[0] == "chainrule"


def user_source() -> Optional[str]:
    """``file:line`` of the innermost frame outside the chainrule package (None when chainrule's
    own command-line tool called the code: ``chainrule train`` names the model file instead)."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not _in_package(fn) and not _launcher(fn):
            return f"{fn}:{f.f_lineno}"
        f = f.f_back
    return None


class Tensor:
    """A traced value: wraps an IR ``Value`` and the builder that owns it."""

    __slots__ = ("value", "builder")
    __array_priority__ = 1000  # make NumPy scalars defer to our operators

    def __init__(self, value: Value, builder: "GraphBuilder"):
        self.value, self.builder = value, builder

    @property
    def shape(self):
        return self.value.type.shape

    @property
    def dtype(self) -> DType:
        return self.value.type.dtype

    @property
    def name(self) -> str:
        return self.value.name

    def __repr__(self):
        return f"Tensor(%{self.value.name}: {self.value.type})"

    # -- operators -----------------------------------------------------------
    def _bin(self, opname, other, reverse=False):
        a, b = self, lift(other, self)
        if reverse:
            a, b = b, a
        return self.builder.op(opname, a, b)

    def __add__(self, o): return self._bin("Add", o)
    def __radd__(self, o): return self._bin("Add", o, True)
    def __sub__(self, o): return self._bin("Sub", o)
    def __rsub__(self, o): return self._bin("Sub", o, True)
    def __mul__(self, o): return self._bin("Mul", o)
    def __rmul__(self, o): return self._bin("Mul", o, True)
    def __truediv__(self, o): return self._bin("Div", o)
    def __rtruediv__(self, o): return self._bin("Div", o, True)
    def __pow__(self, o): return self._bin("Pow", o)
    def __rpow__(self, o): return self._bin("Pow", o, True)
    def __matmul__(self, o): return self._bin("MatMul", o)
    def __rmatmul__(self, o): return self._bin("MatMul", o, True)
    def __neg__(self): return self.builder.op("Neg", self)
    def __pos__(self): return self

    def __bool__(self):
        raise TypeError("a traced Tensor has no truth value while building a graph; "
                        "use cr.where / cr.greater to build a data-dependent choice")

    @property
    def T(self) -> "Tensor":
        return self.builder.op("Transpose", self)

    def sum(self, axis=None, keepdims=False):
        return self.builder.op("ReduceSum", self, axes=_axes(axis), keepdims=int(keepdims))

    def mean(self, axis=None, keepdims=False):
        return self.builder.op("ReduceMean", self, axes=_axes(axis), keepdims=int(keepdims))

    def max(self, axis=None, keepdims=False):
        return self.builder.op("ReduceMax", self, axes=_axes(axis), keepdims=int(keepdims))

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self.builder.op("Reshape", self, shape=tuple(int(d) for d in shape))


def _axes(axis):
    if axis is None:
        return None
    return (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)


def lift(x, like: Tensor) -> Tensor:
    """Make ``x`` a Tensor: Python/NumPy numbers become Constants of ``like``'s dtype."""
    if isinstance(x, Tensor):
        if x.builder is not like.builder:
            raise IRTypeError(f"{x} and {like} belong to different graphs")
        return x
    if isinstance(x, (int, float, np.number, np.ndarray, list)):
        arr = np.asarray(x, dtype=like.dtype.numpy)
        return like.builder.constant(arr)
    raise IRTypeError(f"cannot use a {type(x).__name__} as an operand of a traced Tensor")


class GraphBuilder:
    """Builds a ``Graph`` from Python code by tracing ``Tensor`` operations."""

    def __init__(self, name: str = "main", dtype=DType.f32, training: bool = False):
        self.graph = Graph(name)
        self.dtype = DType.of(dtype)
        self.training = bool(training)  # modules lower to their training-mode IR (batch norm, dropout)
        self.emitter = Emitter(self.graph, created_by="frontend", source=user_source)

    def input(self, name: str, shape: Sequence, dtype=None) -> Tensor:
        return Tensor(self.graph.add_input(name, TensorType(tuple(shape), dtype or self.dtype)), self)

    def param(self, name: str, array, kind: str = "param") -> Tensor:
        """A parameter holding ``array``; Python numbers and lists take the builder's dtype
        (``np.asarray([1.0])`` would be float64 in an f32 graph)."""
        arr = array if isinstance(array, np.ndarray) else np.asarray(array, dtype=self.dtype.numpy)
        return Tensor(self.graph.add_param(name, arr, kind=kind), self)

    def constant(self, array, name: Optional[str] = None) -> Tensor:
        return Tensor(self.emitter.const(array, DType.of(np.asarray(array).dtype), name=name), self)

    def op(self, opname: str, *inputs: Tensor, name: Optional[str] = None, **attrs):
        vals = [t.value for t in inputs]
        out = self.emitter(opname, *vals, name=name, **attrs)
        if isinstance(out, tuple):
            return tuple(Tensor(v, self) for v in out)
        return Tensor(out, self)

    def build(self, *outputs: Tensor) -> Graph:
        """Set the graph outputs and return the graph."""
        if not outputs:
            raise IRTypeError("build() needs at least one output tensor")
        for t in outputs:
            if not isinstance(t, Tensor) or t.builder is not self:
                raise IRTypeError(f"output {t!r} is not a tensor of graph {self.graph.name}")
        self.graph.set_outputs([t.value for t in outputs])
        return self.graph


def trace(fn, inputs: dict, name: Optional[str] = None, params: Optional[dict] = None) -> Graph:
    """Trace ``fn(**tensors)`` into a graph.

    ``inputs`` maps input names to shapes (or ``TensorType``); ``params`` maps
    parameter names to arrays, passed to ``fn`` as tensors too.
    """
    b = GraphBuilder(name or getattr(fn, "__name__", "main"))
    args = {}
    for k, spec in inputs.items():
        args[k] = (Tensor(b.graph.add_input(k, spec), b) if isinstance(spec, TensorType) else b.input(k, spec))
    for k, arr in (params or {}).items():
        args[k] = b.param(k, arr)
    out = fn(**args)
    return b.build(*(out if isinstance(out, tuple) else (out,)))
