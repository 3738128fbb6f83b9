"""``fuse-elementwise``: chains of elementwise ops become one ``Fused`` node.

A producer joins its consumer's group when the consumer is the only node that
reads its result (and the result is not a graph output or update), so every
group has one result and no value inside it is needed elsewhere. Groups of one
op stay as they are. Runs after autodiff and the optimizer, so it fuses the
activation derivative times the incoming gradient and the update arithmetic::

    Before:
      %hardthreshold: f32[N,256] = HardThreshold(%h) #[by=autodiff phase=backward ...]
      %grad_h: f32[N,256] = Mul(%grad_relu, %hardthreshold) #[by=autodiff phase=backward ...]
    After:
      %grad_h: f32[N,256] = Fused(%h, %grad_relu) #[by=fuse-elementwise phase=backward] {
        %hardthreshold: f32[N,256] = HardThreshold(%h)
        %grad_h: f32[N,256] = Mul(%grad_relu, %hardthreshold)
      }

The planned executors inline a ``Fused`` node's steps as ``out=`` ufunc calls on
buffers planned once per input shape (``runtime/fused.py``). Fused nodes have
no gradient rule, which is safe because this pass runs after autodiff.
"""
from __future__ import annotations

from typing import Dict, List

from ..ir import Graph, Node
from ..ir.core import Provenance
from ..ir.ops import OPS
from ..ir.ops.fused import Fused, Step
from ..ir.types import RESTRICTED
from .manager import graph_pass


def _fusible(node: Node) -> bool:
    """An elementwise node with one result, none of whose values has a restricted element type
    (``types.RESTRICTED``: the planned steps of a Fused body compute into numeric buffers)."""
    return (node.op.elementwise and not isinstance(node.op, Fused) and len(node.outputs) == 1 and bool(node.inputs)
            and not any(v.type.dtype in RESTRICTED for v in list(node.inputs) + list(node.outputs)))


def _only_consumer(node: Node):
    """The single node reading ``node``'s result, if it is internal to the graph."""
    v = node.outputs[0]
    g = node.graph
    users = v.consumers
    if len(users) != 1 or g.is_exported(v):
        return None
    return users[0]


def _groups(graph: Graph) -> List[List[Node]]:
    """Groups of fusible nodes (in graph order), each ending at its one exit node.

    Merging moves the smaller group into the larger one, so a long chain costs O(n log n), not O(n²)."""
    group_of: Dict[int, int] = {}  # id(node) -> group key
    members: Dict[int, List[Node]] = {}
    exit_of: Dict[int, int] = {}  # group key -> index of the node that joined last (the exit)
    for i, node in enumerate(graph.nodes):
        if not _fusible(node):
            continue
        leads = []
        for v in node.inputs:
            p = v.producer
            if p is None or id(p) not in group_of or _only_consumer(p) is not node:
                continue
            if group_of[id(p)] not in leads:
                leads.append(group_of[id(p)])
        if not leads:
            key = i
            members[key] = []
        else:
            key = max(leads, key=lambda k: (len(members[k]), -k))
            for other in leads:
                if other != key:
                    moved = members.pop(other)
                    exit_of.pop(other)
                    for m in moved:
                        group_of[id(m)] = key
                    members[key].extend(moved)
        members[key].append(node)
        group_of[id(node)] = key
        exit_of[key] = i
    order = {id(n): k for k, n in enumerate(graph.nodes)}
    return [sorted(members[k], key=lambda n: order[id(n)]) for k in sorted(members, key=exit_of.get)
            if len(members[k]) > 1]


def _make_fused(graph: Graph, group: List[Node], created_by: str, before) -> Node:
    """A new ``Fused`` node computing ``group``'s exit value (the group stays in the graph)."""
    inside = {id(o): k for k, n in enumerate(group) for o in n.outputs}
    inputs, ref = [], {}
    for n in group:
        for v in n.inputs:
            if id(v) not in inside and id(v) not in ref:
                ref[id(v)] = len(inputs)
                inputs.append(v)
    body = []
    for k, n in enumerate(group):
        refs = tuple(ref[id(v)] if id(v) in ref else len(inputs) + inside[id(v)] for v in n.inputs)
        body.append(Step(n.op.name, refs, tuple(sorted(n.attrs.items())), n.outputs[0].name))
    exit_node = group[-1]
    prov = Provenance(created_by, exit_node.prov.phase, None, None, exit_node.prov.source)
    fused = Node(OPS["Fused"], inputs, {"body": tuple(body)}, prov)
    graph.add_node(fused, [exit_node.outputs[0].type], ["fused"], before=before)
    return fused


@graph_pass("fuse-elementwise")
def fuse_elementwise(graph: Graph) -> bool:
    """Fuse single-consumer chains of elementwise ops into ``Fused`` nodes; see the module doc."""
    groups = _groups(graph)
    if not groups:
        return False
    order = list(graph.nodes)
    made, dead = {}, []  # id(exit node) -> (fused node, name to take over)
    for group in groups:  # build every Fused node, then remove and reorder once (linear in the graph)
        fused = _make_fused(graph, group, "fuse-elementwise", before=None)
        old = group[-1].outputs[0]
        old.replace_all_uses_with(fused.outputs[0])
        made[id(group[-1])] = (fused, old.name)
        dead += group
    graph.remove_nodes(dead)
    for fused, name in made.values():
        graph.rename(fused.outputs[0], name)
    graph.nodes = [made[id(n)][0] if id(n) in made else n for n in order if id(n) in made or n.graph is graph]
    return True
