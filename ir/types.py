"""Types of IR values: a dtype and a shape whose dimensions may be symbolic.

A dimension is an ``int`` (known) or a ``str`` (symbolic, such as the batch
size ``N``). Symbolic dimensions flow through shape inference unchanged, so a
graph built for ``f32[N,784]`` runs for any batch size.

    >>> TensorType(("N", 784), DType.f32)
    f32[N,784]

Some element types are *restricted* (``RESTRICTED``): only the ops that name them in
``Op.takes`` accept them, the others refuse them before their type rule runs. ``str`` holds
Python strings (a NumPy object array), which ``Equal`` compares. The narrow number formats
(``STORAGE``: bfloat16, the float8s, float4, int4 and int2, as ml_dtypes' NumPy types) are
stored, moved and cast, and computed on after a ``Cast`` to ``f32``: ``is_float`` is true of
the types ops compute in, f16, f32 and f64.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Tuple, Union

import ml_dtypes
import numpy as np

from .errors import InputError, IRTypeError

Dim = Union[int, str]


class DType(enum.Enum):
    """Element types, named as they print in IR text."""

    f16 = "f16"
    f32 = "f32"
    f64 = "f64"
    bf16 = "bf16"
    f8e4m3fn = "f8e4m3fn"
    f8e4m3fnuz = "f8e4m3fnuz"
    f8e5m2 = "f8e5m2"
    f8e5m2fnuz = "f8e5m2fnuz"
    f8e8m0 = "f8e8m0"
    f4e2m1 = "f4e2m1"
    i8 = "i8"
    i16 = "i16"
    i32 = "i32"
    i64 = "i64"
    u8 = "u8"
    u16 = "u16"
    u32 = "u32"
    u64 = "u64"
    i4 = "i4"
    u4 = "u4"
    i2 = "i2"
    u2 = "u2"
    bool = "bool"
    str = "str"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_TO_NUMPY[self])

    @property
    def is_float(self) -> bool:
        """A float type that ops compute in (the narrow formats of ``STORAGE`` are not)."""
        return self in (DType.f16, DType.f32, DType.f64)

    @property
    def holds_floats(self) -> bool:
        """Its values are floating-point numbers (f16, f32, f64 and the narrow float formats)."""
        return self.is_float or self in STORAGE_FLOATS

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
    DType.f16: "float16", DType.f32: "float32", DType.f64: "float64", DType.bf16: ml_dtypes.bfloat16,
    DType.f8e4m3fn: ml_dtypes.float8_e4m3fn, DType.f8e4m3fnuz: ml_dtypes.float8_e4m3fnuz,
    DType.f8e5m2: ml_dtypes.float8_e5m2, DType.f8e5m2fnuz: ml_dtypes.float8_e5m2fnuz,
    DType.f8e8m0: ml_dtypes.float8_e8m0fnu, DType.f4e2m1: ml_dtypes.float4_e2m1fn,
    DType.i4: ml_dtypes.int4, DType.u4: ml_dtypes.uint4, DType.i2: ml_dtypes.int2, DType.u2: ml_dtypes.uint2,
    DType.i8: "int8", DType.i16: "int16", DType.i32: "int32", DType.i64: "int64",
    DType.u8: "uint8", DType.u16: "uint16", DType.u32: "uint32", DType.u64: "uint64", DType.bool: "bool",
    DType.str: object,
}

#: The narrow number formats: stored, moved and cast, not computed on.
STORAGE_FLOATS = frozenset({DType.bf16, DType.f8e4m3fn, DType.f8e4m3fnuz, DType.f8e5m2, DType.f8e5m2fnuz,
                            DType.f8e8m0, DType.f4e2m1})
STORAGE = STORAGE_FLOATS | {DType.i4, DType.u4, DType.i2, DType.u2}
#: The float8 formats whose Cast saturates (clamps to the largest finite value) unless told not to.
FLOAT8 = frozenset({DType.f8e4m3fn, DType.f8e4m3fnuz, DType.f8e5m2, DType.f8e5m2fnuz})

#: The restricted element types, which an op takes only if it names them in ``Op.takes``, and
#: what chainrule does with them.
RESTRICTED = {DType.str: "strings are compared by Equal, and held by Constant",
              **{dt: f"{dt.value} values are stored, moved and cast; Cast them to f32 to compute" for dt in STORAGE}}


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
