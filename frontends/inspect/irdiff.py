"""Diff two IR graphs node by node, with stable node identities.

A node is known by its first output's name, which passes keep (autodiff
names gradients ``grad_<v>``, rewrites keep the name of what they replace),
so the diff of two passes is a list of nodes *added*, *removed* and
*rewritten* (same name, different line), each with the rule that made it:
the node's provenance (``by=`` pass, ``of=`` forward value, ``rule=``).

    // 02-autodiff vs 01-toposort: +9 added, -0 removed, ~0 rewritten, outputs changed
    + %grad_z: f32[N,1] = Mul(%grad_y, %mul.2)
        made by autodiff, gradient of %y: z̄ = ȳ ∘ σ′(z) = ȳ ∘ y(1 − y)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ...ir import Graph, parse_graph
from ...ir.printer import format_node, graph_lines


@dataclass
class Change:
    kind: str  # "added", "removed", "rewritten"
    name: str  # the node's identity: its first output's name
    line: str  # the node's line after (before, for a removed node)
    before: Optional[str] = None  # for "rewritten": the line before
    why: str = ""  # the pass / forward value / rule that made the change
    phase: str = "forward"


@dataclass
class GraphDiff:
    before: str  # label of the earlier snapshot, e.g. "01-toposort"
    after: str
    pass_name: str
    changes: List[Change] = field(default_factory=list)
    header: List[str] = field(default_factory=list)  # "- input %x: ..." / "+ return ..." lines
    reordered: int = 0  # nodes present in both whose relative order changed

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.changes)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.header and not self.reordered

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .display import diff_bundle
        return diff_bundle(self)


def _why(node, pass_name: str) -> str:
    p = node.prov
    who = p.created_by if p.created_by != "frontend" else "the frontend"
    text = f"made by {who}"
    if p.created_by != pass_name and p.created_by != "frontend":
        text += f" (kept by {pass_name})"
    if p.grad_of is not None:
        text += f", gradient of %{p.grad_of}"
    if p.rule:
        text += f": {p.rule}"
    return text


def _non_node_lines(g: Graph) -> List[str]:
    nodes = {format_node(n) for n in g.nodes}
    return [ln.strip() for ln in graph_lines(g)[1:-1] if ln.strip() not in nodes]


def diff_graphs(before: Graph, after: Graph, pass_name: str = "", before_label: str = "before",
                after_label: str = "after") -> GraphDiff:
    """Nodes added, removed and rewritten between two graphs (and changed inputs/outputs)."""
    d = GraphDiff(before_label, after_label, pass_name)
    old = {n.name: n for n in before.nodes}
    new = {n.name: n for n in after.nodes}
    for n in after.nodes:
        o = old.get(n.name)
        if o is None:
            d.changes.append(Change("added", n.name, format_node(n, meta=False), why=_why(n, pass_name), phase=n.prov.phase))
        elif format_node(o) != format_node(n):
            why = _why(n, pass_name) if n.prov.created_by != o.prov.created_by else f"rewritten by {pass_name}"
            d.changes.append(Change("rewritten", n.name, format_node(n, meta=False), format_node(o, meta=False), why, n.prov.phase))
    for o in before.nodes:
        if o.name not in new:
            d.changes.append(Change("removed", o.name, format_node(o, meta=False), why=f"removed by {pass_name}",
                                    phase=o.prov.phase))
    a, b = _non_node_lines(before), _non_node_lines(after)
    d.header = [f"- {ln}" for ln in a if ln not in b] + [f"+ {ln}" for ln in b if ln not in a]
    common_old = [n.name for n in before.nodes if n.name in new]
    common_new = [n.name for n in after.nodes if n.name in old]
    d.reordered = sum(x != y for x, y in zip(common_old, common_new))
    return d


def diff_texts(before: str, after: str, pass_name: str = "", before_label: str = "before",
               after_label: str = "after") -> GraphDiff:
    """``diff_graphs`` on two IR texts (as written by a dump)."""
    return diff_graphs(parse_graph(before), parse_graph(after), pass_name, before_label, after_label)


def format_diff(d: GraphDiff) -> str:
    """The diff as text: one ``+``/``-``/``~`` line per node, each with why it changed."""
    summary = (f"+{d.count('added')} added, -{d.count('removed')} removed, "
               f"~{d.count('rewritten')} rewritten")
    if d.reordered:
        summary += f", {d.reordered} moved"
    lines = [f"// {d.after} vs {d.before} (pass {d.pass_name}): {summary}"]
    if d.empty:
        lines.append("// no change")
    for h in d.header:
        lines.append(h)
    mark = {"added": "+", "removed": "-", "rewritten": "~"}
    for c in d.changes:
        lines.append(f"{mark[c.kind]} {c.line}")
        if c.before is not None:
            lines.append(f"    was: {c.before}")
        lines.append(f"    {c.why}")
    return "\n".join(lines) + "\n"
