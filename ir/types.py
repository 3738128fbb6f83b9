"""Types of IR values: a dtype and a shape whose dimensions may be symbolic.

A dimension is an ``int`` (known) or a ``str`` (symbolic, such as the batch
size ``N``). Symbolic dimensions flow through shape inference unchanged, so a
graph built for ``f32[N,784]`` runs for any batch size.

    >>> TensorType(("N", 784), DType.f32)
    f32[N,784]
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Tuple, Union

import numpy as np

from .errors import InputError, IRTypeError

Dim = Union[int, str]


class DType(enum.Enum):
    """Element types, named as they print in IR text."""

    f16 = "f16"
    f32 = "f32"
    f64 = "f64"
    i8 = "i8"
    i32 = "i32"
    i64 = "i64"
    u8 = "u8"
    bool = "bool"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_TO_NUMPY[self])

    @property
    def is_float(self) -> bool:
        return self in (DType.f16, DType.f32, DType.f64)

    @staticmethod
    def of(x) -> "DType":
        """The DType of a numpy dtype, array, DType or its text name."""
        if isinstance(x, DType):
            return x
        if isinstance(x, str) and x in DType.__members__:
            return DType[x]
        d = getattr(x, "dtype", None)
        try:  # an array's dtype, else x itself (np.float32, "float32"); the class np.float32 has no usable .dtype
            dt = np.dtype(d if isinstance(d, np.dtype) else x)
        except TypeError:
            raise IRTypeError(f"{x!r} is not a dtype; supported: {', '.join(d.value for d in DType)}") from None
        for k, v in _TO_NUMPY.items():
            if np.dtype(v) == dt:
                return k
        raise IRTypeError(f"unsupported dtype {dt}; supported: {', '.join(d.value for d in DType)}")

    def __repr__(self):
        return self.value


_TO_NUMPY = {
    DType.f16: "float16", DType.f32: "float32", DType.f64: "float64",
    DType.i8: "int8", DType.i32: "int32", DType.i64: "int64",
    DType.u8: "uint8", DType.bool: "bool",
}


@dataclass(frozen=True)
class TensorType:
    """The static type of a value: ``dtype[d0,d1,...]``."""

    shape: Tuple[Dim, ...]
    dtype: DType

    def __post_init__(self):
        shape = tuple(int(d) if isinstance(d, (int, np.integer)) else d for d in self.shape)
        for d in shape:
            if isinstance(d, int):
                if d < 0:
                    raise IRTypeError(f"negative dimension {d} in shape {shape}")
            elif not (isinstance(d, str) and d.isidentifier()):
                raise IRTypeError(f"dimension {d!r} is neither an int nor a symbol name")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", DType.of(self.dtype))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def numel(self, bindings=None):
        """Number of elements, resolving symbols through ``bindings`` (or None if unknown)."""
        n = 1
        for d in self.shape:
            if isinstance(d, str):
                if not bindings or d not in bindings:
                    return None
                d = bindings[d]
            n *= d
        return n

    def nbytes(self, bindings=None):
        n = self.numel(bindings)
        return None if n is None else n * self.dtype.numpy.itemsize

    def require_nbytes(self, bindings=None, what: str = "") -> int:
        """``nbytes``, or an ``InputError`` naming the symbolic dimensions that have no size
        (``what`` names the value, e.g. ``"%h"``, and the step that needs it)."""
        n = self.nbytes(bindings)
        if n is None:
            missing = [d for d in self.shape if isinstance(d, str) and d not in (bindings or {})]
            raise InputError(f"{what}symbolic dimension(s) {', '.join(missing)} of {self} need a size; "
                             f"pass bindings such as {{{missing[0]!r}: 32}}")
        return n

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype)

    def with_dtype(self, dtype) -> "TensorType":
        return TensorType(self.shape, DType.of(dtype))

    def __str__(self):
        return f"{self.dtype.value}[{','.join(str(d) for d in self.shape)}]"

    __repr__ = __str__


def broadcast_shapes(a, b, what="operands"):
    """NumPy broadcasting of two shapes that may hold symbolic dims."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise IRTypeError(
                f"cannot broadcast {what}: shapes [{_fmt(a)}] and [{_fmt(b)}] differ in dimension {-i} ({x} vs {y})")
    return tuple(reversed(out))


def broadcasts_into(u, t) -> bool:
    """Does shape ``u`` broadcast into shape ``t`` unchanged (right-aligned, each axis 1 or ``t``'s)?"""
    return len(u) <= len(t) and all(d == 1 or d == t[len(t) - len(u) + a] for a, d in enumerate(u))


def _fmt(shape):
    return ",".join(str(d) for d in shape)


def _is_int(a) -> bool:
    return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))


def axis_list(axes, what="axes") -> tuple:
    """``axes`` (an attribute) as a tuple of ints; anything else (``"one"``, ``7``, ``[[0]]``)
    is an IRTypeError naming it, not a TypeError deep in a type rule."""
    if not isinstance(axes, (tuple, list)) or not all(_is_int(a) for a in axes):
        raise IRTypeError(f"{what} must be a list of integer axes like [0, 1], got {axes!r}")
    return tuple(int(a) for a in axes)


def normalize_axis(axis: int, rank: int, what="axis") -> int:
    if not _is_int(axis):
        raise IRTypeError(f"{what} must be an integer, got {axis!r}")
    if not -rank <= axis < rank:  # a rank-0 value has no axis (NumPy kernels reject axis 0)
        raise IRTypeError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0
