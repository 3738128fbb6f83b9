"""Graphviz pictures of a graph: ``to_dot(graph)`` and ``render_svg(dot_text)``.

Forward, backward and update nodes get different colours (``node.prov.phase``);
inputs and parameters are ellipses; every edge is labelled with the shape of
the value it carries; a fused node (an op with a ``body``/``ops`` attribute,
issue 5) is drawn as a cluster holding the ops it replaced.

    digraph "logistic" {
      "v:x" [label="x\\nf32[N,2]", shape=ellipse, ...];
      "n:z" [label="Gemm\\n%z", fillcolor="#dbe9f6", ...];
      "v:x" -> "n:z" [label="f32[N,2]"];
    }
"""
from __future__ import annotations

import json
import shutil
import subprocess
from typing import Optional, Sequence

from ...ir import ChainruleError, Graph
from ...ir.display import COLOURS  # fill colours by phase, and for inputs and parameters



class RenderError(ChainruleError):
    """Graphviz failed to render a DOT file."""


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _members(node):
    """The ops inside a fused node, if the node records them (else None)."""
    for key in ("body", "ops", "members"):
        if key in node.attrs:
            v = node.attrs[key]
            if isinstance(v, str):
                return [ln.strip() for ln in v.splitlines() if ln.strip()]
            if isinstance(v, (list, tuple)):  # Fused body steps: (op, operand refs, attrs, name)
                return [f"%{x[3]} = {x[0]}" if isinstance(x, tuple) and len(x) == 4 else str(x) for x in v]
    return [] if node.op.name.startswith("Fused") else None


def to_dot(graph: Graph, title: Optional[str] = None, removed: Sequence = ()) -> str:
    """The graph in Graphviz DOT; deterministic (graph order, no sets). ``removed``: nodes of the
    previous graph a pass removed, drawn as dashed red ghosts (with the edges from values still here).
    Node text is 14 pt so that it stays readable on a projector at 1:1."""
    lines = [f"digraph {_q(graph.name)} {{",
             "  rankdir=TB; fontname=\"Helvetica\"; fontsize=16;",
             "  node [fontname=\"Helvetica\", fontsize=14, style=filled];",
             "  edge [fontname=\"Helvetica\", fontsize=10, color=\"#555555\"];"]
    if title:
        lines.append(f"  label={_q(title)}; labelloc=t;")
    src = {}  # value name -> DOT id of what produces it
    for v in list(graph.inputs) + list(graph.params):
        kind = "input" if v.kind == "input" else v.kind
        label = f"{v.name}\n{v.type}"
        lines.append(f"  {_q('v:' + v.name)} [label={_q(label)}, shape=ellipse, fillcolor={_q(COLOURS[kind])}];")
        src[v.name] = "v:" + v.name
    for n in graph.nodes:
        nid = "n:" + n.name
        label = f"{n.op.name}\n%{n.name}"
        members = _members(n)
        decl = (f"{_q(nid)} [label={_q(label)}, shape=box, "
                f"fillcolor={_q(COLOURS.get(n.prov.phase, '#ffffff'))}];")
        if members is not None:
            lines.append(f"  subgraph {_q('cluster_' + n.name)} {{")
            lines.append(f"    label={_q('fused %' + n.name)}; style=\"rounded,dashed\"; color=\"#7a5195\";")
            lines.append("    " + decl)
            for k, m in enumerate(members):
                lines.append(f"    {_q(f'{nid}#{k}')} [label={_q(m)}, shape=plaintext, style=\"\"];")
            lines.append("  }")
        else:
            lines.append("  " + decl)
        for o in n.outputs:
            src[o.name] = nid
    for n in graph.nodes:
        for v in n.inputs:
            style = ", style=dashed" if n.prov.phase != "forward" and v.producer is not None \
                and v.producer.prov.phase == "forward" else ""
            lines.append(f"  {_q(src[v.name])} -> {_q('n:' + n.name)} [label={_q(str(v.type))}{style}];")
    for n in removed:
        label = f"removed\n{n.op.name}\n%{n.name}"
        lines.append(f"  {_q('n:' + n.name)} [label={_q(label)}, shape=box, style=\"dashed\", color=\"#b3261e\", "
                     f"fontcolor=\"#b3261e\"];")
        for v in n.inputs:
            if v.name in src:
                lines.append(f"  {_q(src[v.name])} -> {_q('n:' + n.name)} [style=dotted, color=\"#b3261e\"];")
    for i, v in enumerate(graph.outputs):
        oid = f"out:{i}"
        lines.append(f"  {_q(oid)} [label={_q('return ' + v.name)}, shape=plaintext, style=\"\"];")
        lines.append(f"  {_q(src[v.name])} -> {_q(oid)} [label={_q(str(v.type))}];")
    for p, v in graph.updates:
        lines.append(f"  {_q(src[v.name])} -> {_q('v:' + p.name)} [label=\"update\", color=\"#2a9d2a\", "
                     f"constraint=false];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def have_dot() -> bool:
    """Whether the Graphviz ``dot`` program is installed."""
    return shutil.which("dot") is not None


def render_svg(dot_text: str, timeout: float = 60.0) -> str:
    """Render DOT to SVG text with Graphviz ``dot``; raises RenderError if it fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError("the Graphviz 'dot' program is not installed (apt-get install graphviz)")
    try:
        r = subprocess.run([exe, "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True,
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz dot took longer than {timeout:.0f} s") from None
    if r.returncode != 0:
        raise RenderError(f"Graphviz dot failed: {r.stderr.decode('utf-8', 'replace').strip()}")
    return r.stdout.decode("utf-8")
