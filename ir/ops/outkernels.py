"""What planned execution asks of a node: its out-kernel, views, in-place inputs.

Each op class says it itself (``Op.out_kernel``, ``Op.view``); these helpers
put the questions the memory planner (``passes/memory.py``) and the
executors (``runtime/executor.py``) ask of a *node*. A value whose op has an
out-kernel gets a buffer allocated once; other ops run their ordinary kernel
and get a fresh array. A view op's result aliases its input (no buffer of its
own); ``inplace_inputs`` lists the inputs whose buffer the result may take
over when the input dies at that node.
"""
from __future__ import annotations

from typing import List, Optional


def out_kernel(node, alias: int = -1):
    """``fn(out, *inputs)`` for ``node`` (its op's ``out_kernel``), or None; ``alias``: the
    input that may share ``out`` (Fused)."""
    if len(node.outputs) != 1:
        return None
    return node.op.out_kernel(dict(node.attrs), alias)


def has_out_kernel(node) -> bool:
    return out_kernel(node) is not None


def inplace_inputs(node) -> List[int]:
    """Inputs whose buffer the result may reuse (same type; the op reads each element before writing it)."""
    if not (node.op.elementwise and has_out_kernel(node)):
        return []
    out = node.outputs[0].type
    return [k for k, v in enumerate(node.inputs) if v.type == out]


def view_source(node) -> Optional[int]:
    """The input a view op's result aliases (None for Constant and non-views)."""
    return 0 if node.op.view and node.inputs else None
