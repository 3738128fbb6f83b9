"""The ONNX mapping of every IR op, one table per op family (as in ``ir/ops/``).

Each family module holds, side by side, the import functions of the ONNX ops that
become that family's IR ops (``@onnx_op``) and the export function of each of its IR
ops (``@export_op``, or ``direct`` for a same-named ONNX op). ``table`` holds the two
registries they fill and says how the functions look:

- ``IMPORTS``: ONNX op_type -> import function (used by ``importer``); ``DOMAIN_IMPORTS``
  holds the other domains' (``ml``: ``ai.onnx.ml``, whose ops become chainrule IR ops);
- ``EXPORTS``: IR op name -> ``Export(op, onnx, composite, fn)`` (used by ``exporter``,
  ``supported_text`` and ``chainrule ops``).

Adding an IR op means one ``EXPORTS`` entry in its family's table (a test checks that
every registered op has one) and, if ONNX has an op for it, one import function.
"""
from __future__ import annotations

from .table import DOMAIN_IMPORTS, EXPORTS, IMPORTS, Export, direct, export_op, onnx_op

# Importing the families fills the tables (in ir/ops/'s family order, deterministically).
from . import elementwise, activations, reductions, linalg, shape, losses, fused, indexing  # noqa: E402,F401
from . import conv, pool, norm, pad  # noqa: E402,F401
from . import logic, extrema, rounding  # noqa: E402,F401
from . import creation  # noqa: E402,F401
from . import ml  # noqa: E402,F401  (the ai.onnx.ml domain: import only, as chainrule IR ops)


def supported_ops():
    """Sorted names of the ONNX ops the importer maps."""
    return sorted(IMPORTS)


__all__ = ["DOMAIN_IMPORTS", "EXPORTS", "IMPORTS", "Export", "direct", "export_op", "onnx_op", "supported_ops"]
