"""Helpers shared by the clean-up rewrites (simplify, cse, fold-constants, fold-linear).

The one rule they all follow: a rewrite replaces a node's outputs by values of
*exactly* the same type, and the names a user sees stay put. A graph output
(``return %y``) keeps its name: the value that takes its place is renamed to
``y`` when it is a node's result that is not itself an output or update
target; otherwise (a graph input, a parameter, another output) the rewrite
does not fire. A node a rewrite makes takes the name of the node it replaces,
so the dump diff shows it as *rewritten*, with the pass and rule that did it.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..ir import Emitter, Graph, Node, Value

#: forward < backward < update: a value of an earlier phase may feed a later one, never the reverse.
PHASE_RANK = {"forward": 0, "backward": 1, "update": 2}


def constant_of(v: Value) -> Optional[np.ndarray]:
    """The array of ``v`` if a Constant node makes it, else None (parameters are never constants)."""
    p = v.producer
    return p.attrs["value"] if p is not None and p.op.name == "Constant" else None


def is_exported(v: Value) -> bool:
    """A graph output or the new value of an update: its name is part of the interface."""
    return v.graph is not None and v.graph.is_exported(v)


def can_replace(old: Value, new: Value) -> bool:
    """May every use of ``old`` read ``new`` instead (same type, output names kept)?"""
    if old.type != new.type:
        return False
    if is_exported(old):
        # the replacement must be able to take over the output's name
        return new.producer is not None and not is_exported(new)
    return True


def _rename(graph: Graph, v: Value, name: str) -> None:
    """Rename ``v``; gradient nodes that name it in ``of=`` follow (found by the graph's index)."""
    before = v.name
    graph.rename(v, name)
    if v.name != before:
        for n in graph.nodes_of(before):
            graph.set_grad_of(n, v.name)


def prune(graph: Graph, values: Sequence[Value]) -> None:
    """Remove the producers of ``values`` that became dead, and theirs in turn."""
    work = list(values)
    while work:
        v = work.pop()
        n = v.producer
        if n is None or n.graph is not graph:
            continue
        if any(o.uses or is_exported(o) for o in n.outputs):
            continue
        graph.remove_node(n)
        work.extend(n.inputs)


def replace_node(graph: Graph, node: Node, news: Sequence[Value], made: Sequence[Node] = ()) -> None:
    """Replace ``node``'s outputs by ``news`` (checked with ``can_replace``), remove it and what died.

    ``made``: the nodes the rewrite emitted; each takes the name of the output it replaces.
    """
    made_ids = {id(m) for m in made}
    renames = []
    for old, new in zip(node.outputs, news):
        fresh = new.producer is not None and id(new.producer) in made_ids
        if fresh or is_exported(old):
            renames.append((new, old.name))
        old.replace_all_uses_with(new)
    inputs = list(node.inputs)
    graph.remove_node(node)
    for new, name in renames:
        _rename(graph, new, name)
    prune(graph, inputs)


def emitter_for(graph: Graph, node: Node, pass_name: str, rule: Optional[str]) -> Emitter:
    """An emitter inserting before ``node`` with its phase, gradient target and source."""
    e = Emitter(graph, created_by=pass_name, phase=node.prov.phase, grad_of=node.prov.grad_of, rule=rule,
                before=node)
    src = node.prov.source
    e.source = (lambda: src) if src else None
    return e


def discard(graph: Graph, made: Sequence[Node]) -> None:
    """Take back nodes a rewrite emitted but did not use (consumers first)."""
    graph.remove_nodes([m for m in made if m.graph is graph])
