"""What planned execution asks of a node: its out-kernel, views, in-place inputs.

Each op class says it itself (``Op.out_kernel``, ``Op.view``); these helpers
put the questions the memory planner (``passes/memory.py``) and the
executors (``runtime/executor.py``) ask of a *node*. A value whose op has an
out-kernel gets a buffer allocated once; other ops run their ordinary kernel
and get a fresh array. A view op's result aliases its input (no buffer of its
own); ``inplace_inputs`` lists the inputs whose buffer the result may take
over when the input dies at that node. ``workspace_layout`` places a node's scratch
arrays (``Op.workspace``) one after another in the bytes the planner gives them.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional

from ..types import TensorType


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


WORKSPACE_ALIGN = 64  # bytes: each scratch array starts on a cache line


class WorkspaceLayout(NamedTuple):
    """Where a node's scratch arrays sit in its workspace bytes."""
    types: List[TensorType]
    offsets: List[int]
    nbytes: int  # the whole workspace (0: the op needs none)


def workspace_layout(node, bindings=None, in_types=None) -> WorkspaceLayout:
    """The node's scratch arrays (``Op.workspace``) with every dimension bound, packed in order."""
    types = node.op.workspace(in_types or [v.type for v in node.inputs], dict(node.attrs))
    offsets, at = [], 0
    for t in types:
        offsets.append(at)
        at += -(-t.require_nbytes(bindings or {}, f"the workspace of node {node.name}: ") // WORKSPACE_ALIGN) \
            * WORKSPACE_ALIGN
    return WorkspaceLayout(list(types), offsets, at)
