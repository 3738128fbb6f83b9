"""Softmax + cross-entropy: fused into one stable loss (before autodiff), and its softmax shared (after).

It rewrites a loss computed from probabilities into the fused,
stable ``SoftmaxCrossEntropy`` on the logits, whose gradient rule is the closed
form z̄ = softmax(z) − t (÷ N for the mean)::

    Before:                                         After:
      %y: f32[N,10] = Softmax(%z)                     %L: f32[] = SoftmaxCrossEntropy(%z, %t)
      %L: f32[] = CrossEntropy(%y, %t)

It also matches log-softmax followed by a negative log-likelihood written out
by hand: ``−Σₖ tₖ log softmax(z)ₖ`` summed over the class axes, then a mean,
a sum or nothing over the batch (``Mul``, ``ReduceSum``, ``Neg``, ``ReduceMean``
in any order that gives that value). It fires only when every intermediate
value (the probabilities, the log-probabilities, the products) has no other
use, so nothing else in the graph loses a value it reads. It must run before
autodiff: the unfused gradient −t / softmax(z) divides by an underflowed 0 for
logits of ±1000 (NaN/Inf), the fused one is finite.

``share-loss-softmax`` runs after autodiff: the gradient rule's ``Softmax(z)``
is what the loss computes on its way, so the loss hands it over as a second
result (bit for bit the same, see ``SoftmaxCrossEntropy``)::

    Before:                                         After:
      %loss: f32[] = SoftmaxCrossEntropy(%z, %t)      %loss: f32[], %softmax: f32[N,10] =
      ...                                                 SoftmaxCrossEntropy(%z, %t) {probs=1}
      %softmax: f32[N,10] = Softmax(%z)               ...
      %sub: f32[N,10] = Sub(%softmax, %t)             %sub: f32[N,10] = Sub(%softmax, %t)

Only a ``Softmax`` over the last axis that comes after the loss is replaced
(its users then come after the loss too).

``fuse-elementwise`` (after autodiff) is in ``passes/fuse_elementwise.py``.
"""
from __future__ import annotations

from typing import List, Optional

from ..ir import Emitter, Graph, Node, Value
from ..ir.types import normalize_axis
from .manager import graph_pass

FUSED_CE = "SoftmaxCrossEntropy"


def _single_use(v: Value) -> Optional[Node]:
    """The one node using ``v`` (once), or None if ``v`` has other uses or is an output."""
    g = v.graph
    if len(v.uses) != 1:
        return None
    if g is not None and g.is_exported(v):
        return None
    return v.uses[0][0]


def _last_axis(node: Node) -> bool:
    z = node.inputs[0]
    return normalize_axis(node.attrs["axis"], z.type.rank) == z.type.rank - 1 and z.type.rank >= 1


def _replace(graph: Graph, old: Value, z: Value, t: Value, reduction: str, dead: List[Node]) -> None:
    """Put ``SoftmaxCrossEntropy(z, t)`` in place of ``old`` and remove the matched nodes."""
    last = old.producer
    e = Emitter(graph, created_by="fuse-softmax-ce", phase=last.prov.phase, before=last)
    e.source = (lambda s=last.prov.source: s) if last.prov.source else None
    new = e(FUSED_CE, z, t, reduction=reduction)
    name = old.name
    old.replace_all_uses_with(new)
    graph.remove_nodes(dead)
    graph.rename(new, name)


def _match_ce(graph: Graph, sm: Node) -> bool:
    """CrossEntropy(Softmax(z), t) -> SoftmaxCrossEntropy(z, t)."""
    y = sm.outputs[0]
    ce = _single_use(y)
    if ce is None or ce.op.name != "CrossEntropy" or ce.inputs[0] is not y or not _last_axis(sm):
        return False
    _replace(graph, ce.outputs[0], sm.inputs[0], ce.inputs[1], ce.attrs["reduction"], [sm, ce])
    return True


def _match_nll(graph: Graph, ls: Node) -> bool:
    """−Σ t ∘ LogSoftmax(z) (over classes, then mean/sum/none over the batch) -> SoftmaxCrossEntropy."""
    if not _last_axis(ls):
        return False
    lp = ls.outputs[0]
    mul = _single_use(lp)
    if mul is None or mul.op.name != "Mul":
        return False
    t = mul.inputs[1] if mul.inputs[0] is lp else mul.inputs[0]
    if t is lp or t.type != lp.type:
        return False
    rank = lp.type.rank
    classes = set(range(1, rank))
    reduced, sign, batch_op = set(), 1, None
    axes_left = list(range(rank))  # the original axis held by each current axis
    chain, cur, best = [ls, mul], mul.outputs[0], None
    while True:
        nxt = _single_use(cur)
        if nxt is None:
            break
        if nxt.op.name == "Neg":
            sign = -sign
        elif nxt.op.name in ("ReduceSum", "ReduceMean") and not nxt.attrs["keepdims"]:
            ax = nxt.attrs["axes"]
            ax = set(range(len(axes_left))) if ax is None else {normalize_axis(a, len(axes_left)) for a in ax}
            orig = {axes_left[a] for a in ax}
            if nxt.op.name == "ReduceMean" and orig != {0}:
                break  # a mean over the classes is not the cross-entropy
            if 0 in orig:
                if not classes <= reduced | orig:
                    break  # the batch must be reduced last
                batch_op = "mean" if nxt.op.name == "ReduceMean" else "sum"
            reduced |= orig
            axes_left = [a for i, a in enumerate(axes_left) if i not in ax]
        else:
            break
        chain.append(nxt)
        cur = nxt.outputs[0]
        if sign < 0 and classes <= reduced and (batch_op is not None or axes_left == [0]):
            best = (cur, list(chain), batch_op or "none")  # a complete loss; a longer one may follow
    if best is None:
        return False
    cur, chain, reduction = best
    _replace(graph, cur, ls.inputs[0], t, reduction, chain)
    return True


@graph_pass("fuse-softmax-ce")
def fuse_softmax_ce(graph: Graph) -> bool:
    """Fuse softmax + cross-entropy (and log-softmax + NLL) into SoftmaxCrossEntropy; see module doc."""
    changed = False
    for node in list(graph.nodes):
        if node.graph is not graph:
            continue  # removed by an earlier match
        if node.op.name == "Softmax":
            changed |= _match_ce(graph, node)
        elif node.op.name == "LogSoftmax":
            changed |= _match_nll(graph, node)
    return changed


@graph_pass("share-loss-softmax")
def share_loss_softmax(graph: Graph) -> bool:
    """Softmax(z) after SoftmaxCrossEntropy(z, t) becomes the loss's probabilities; see module doc."""
    loss_of = {}  # id(logits) -> the first SoftmaxCrossEntropy on them
    later = []  # (Softmax node, that loss) in graph order
    for node in graph.nodes:
        if node.op.name == FUSED_CE:
            loss_of.setdefault(id(node.inputs[0]), node)
        elif node.op.name == "Softmax" and id(node.inputs[0]) in loss_of and _last_axis(node):
            later.append((node, loss_of[id(node.inputs[0])]))
    shared = {}  # id(loss node) -> the node with probs=1 standing for it
    for sm, ce in later:
        new = shared.get(id(ce))
        first = new is None and not ce.attrs["probs"]
        if new is None:
            new = shared[id(ce)] = _with_probs(graph, ce) if first else ce
        old = sm.outputs[0]
        name = old.name
        old.replace_all_uses_with(new.outputs[1])
        graph.remove_nodes([sm])
        if first:  # the probabilities take the name of the first Softmax they replace
            graph.rename(new.outputs[1], name)
    return bool(later)


def _with_probs(graph: Graph, ce: Node) -> Node:
    """A ``SoftmaxCrossEntropy {probs=1}`` in place of ``ce``, its loss under ``ce``'s name."""
    e = Emitter(graph, created_by="share-loss-softmax", phase=ce.prov.phase, before=ce)
    e.source = (lambda s=ce.prov.source: s) if ce.prov.source else None
    new = e.emit(FUSED_CE, ce.inputs, dict(ce.attrs, probs=1), name=ce.outputs[0].name)
    old = ce.outputs[0]
    name = old.name
    old.replace_all_uses_with(new.outputs[0])
    graph.remove_nodes([ce])
    graph.rename(new.outputs[0], name)
    return new
