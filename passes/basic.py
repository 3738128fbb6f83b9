"""The first passes: shape inference, stable topological ordering, dead-code elimination."""
from __future__ import annotations

from ..ir import Graph, IRTypeError
from .analysis import dead_nodes, topological_order
from .manager import graph_pass


@graph_pass("infer-shapes")
def infer_shapes(graph: Graph) -> bool:
    """Recompute every node's output types from its op's type rule.

    Symbolic dimensions flow through: ``Gemm(f32[N,784], f32[256,784]) {transB=1}``
    gives ``f32[N,256]``. A node whose recorded type differs gets the inferred one.
    """
    changed = False
    for node in graph.nodes:
        try:
            types = node.op.infer([v.type for v in node.inputs], dict(node.attrs))
        except IRTypeError as err:
            raise IRTypeError(f"node %{node.name} ({node.op.name}): {err}") from None
        for out, t in zip(node.outputs, types):
            if out.type != t:
                out.type = t
                changed = True
    return changed


@graph_pass("toposort")
def toposort(graph: Graph) -> bool:
    """Order nodes topologically, breaking ties by their current (source) order.

    Before:                         After:
      %b: ... = Relu(%a)              %a: ... = Exp(%x)
      %a: ... = Exp(%x)               %b: ... = Relu(%a)
    """
    order = topological_order(graph)
    changed = any(a is not b for a, b in zip(order, graph.nodes))
    graph.nodes = order
    return changed


@graph_pass("dce")
def dce(graph: Graph) -> bool:
    """Dead-code elimination: remove nodes that no output or update depends on.

    Before:                         After:
      %a: f32[] = Exp(%x)             %b: f32[] = Sin(%x)
      %b: f32[] = Sin(%x)             return %b
      return %b
    """
    dead = dead_nodes(graph.nodes, graph.exported_ids())
    graph.remove_nodes(dead)
    return bool(dead)
