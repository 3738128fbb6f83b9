"""Graph analyses on a throwaway networkx view (networkx never stores the IR)."""
from __future__ import annotations

from typing import List, Sequence

import networkx as nx

from ..ir import Graph, GraphError, Node, Value


def dependency_graph(graph: Graph) -> nx.DiGraph:
    """A DiGraph over node positions: an edge i -> j when node j uses an output of node i."""
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    dg = nx.DiGraph()
    dg.add_nodes_from(range(len(graph.nodes)))
    for j, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v.producer is not None:
                dg.add_edge(index[id(v.producer)], j)
    return dg


def topological_order(graph: Graph) -> List[Node]:
    """Nodes in a topological order; ties are broken by position in ``graph.nodes``.

    Iterative (a heap-based Kahn's algorithm), so a 100,000-node chain sorts
    without recursion. A cycle raises ``GraphError`` naming its nodes.
    """
    dg = dependency_graph(graph)
    try:
        order = list(nx.lexicographical_topological_sort(dg))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(dg)
        names = " -> ".join(graph.nodes[i].name for i, _ in cycle)
        raise GraphError(f"graph {graph.name} has a cycle: {names} -> {graph.nodes[cycle[0][0]].name}") from None
    return [graph.nodes[i] for i in order]


def nodes_between(graph: Graph, sources: Sequence[Value], sinks: Sequence[Value]) -> List[Node]:
    """Nodes on some path from a source value to a sink value, in graph order.

    One descendants search from a virtual node feeding every source and one
    ancestors search from a virtual node fed by every sink: linear in the
    graph size however many sources there are (a 1,000-layer MLP has 2,000).
    """
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    dg = dependency_graph(graph)
    src, sink = "sources", "sinks"  # virtual nodes; real nodes are ints
    for v in sources:
        for n in (v.consumers if v.producer is None else [v.producer]):
            dg.add_edge(src, index[id(n)])
    for v in sinks:
        if v.producer is not None:
            dg.add_edge(index[id(v.producer)], sink)
    down = nx.descendants(dg, src) if src in dg else set()
    up = nx.ancestors(dg, sink) if sink in dg else set()
    return [graph.nodes[i] for i in range(len(graph.nodes)) if i in down and i in up]


def dead_nodes(nodes: Sequence[Node], live: set) -> List[Node]:
    """The nodes (given in topological order) none of whose outputs reaches a value whose id is in
    ``live``, consumers first. ``live`` is extended with the ids of the values that stay needed."""
    dead = []
    for node in reversed(nodes):
        if any(id(o) in live for o in node.outputs):
            live.update(id(v) for v in node.inputs)
        else:
            dead.append(node)
    return dead


def differentiable_reach(graph: Graph) -> set:
    """The ids of the values that a graph output or update depends on *differentiably*: through
    ops with a gradient rule, and not through their ``nondiff_inputs`` (a ``Where``'s condition, a
    ``Greater``'s operands). A parameter outside this set is one training can never move::

        %t: f32[] = param          %t is outside: ȳ never reaches it,
        %m = Greater(%x, %t)       since Greater has no gradient rule
        %y = Where(%m, %x, %s)
    """
    live = {id(v) for v in graph.outputs} | {id(v) for p, v in graph.updates}
    for node in reversed(graph.nodes):   # nodes are in topological order
        op = node.op
        if not op.differentiable or op.zero_grad or not any(id(o) in live for o in node.outputs):
            continue
        skip = getattr(op, "nondiff_inputs", ())
        live.update(id(v) for i, v in enumerate(node.inputs) if i not in skip)
    return live
