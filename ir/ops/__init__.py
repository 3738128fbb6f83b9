"""The op registry: one class per op, one file per op family.

``OPS`` maps an op name to its (singleton) ``Op`` instance. Families:
``elementwise``, ``activations``, ``reductions``, ``linalg``, ``shape``,
``losses``, ``indexing``, for CNNs ``conv``, ``pool``, ``norm``, ``pad``, and ``logic``,
``extrema``, ``rounding``; ``creation`` makes arrays from attributes alone. Adding an op is
writing one class with ``@register``.
"""
from __future__ import annotations

from typing import Dict

from ..errors import UnsupportedOpError
from .base import REQUIRED, Op

OPS: Dict[str, Op] = {}


def register(cls):
    """Class decorator: instantiate the op and add it to ``OPS`` under its class name."""
    op = cls()
    op.name = cls.__dict__.get("name") or cls.__name__
    op.family = cls.__module__.rsplit(".", 1)[-1]
    if op.name in OPS:
        raise ValueError(f"op {op.name} registered twice")
    OPS[op.name] = op
    return cls


def get_op(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise UnsupportedOpError(
            f"unknown op {name!r}; supported ops: {', '.join(sorted(OPS))}") from None


# Importing the families registers their ops (in this order, deterministically).
from . import elementwise, activations, reductions, linalg, shape, losses, fused  # noqa: E402,F401
from . import indexing  # noqa: E402,F401  (Gather, Concat: needed by ONNX import)
from . import conv, pool, norm, pad  # noqa: E402,F401  (convolutional networks)
from . import logic, extrema, rounding  # noqa: E402,F401  (comparisons, Max/Min/Clip, Floor/Round/Mod)
from . import creation  # noqa: E402,F401  (ConstantOfShape, Range)

__all__ = ["OPS", "Op", "REQUIRED", "get_op", "register"]
