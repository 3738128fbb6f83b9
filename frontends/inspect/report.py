"""One self-contained HTML report of a dump, made to be projected (1024×768 and up).

No network, no external scripts or fonts: pictures, CSS, data and script are inline
(``report.css``, ``report.js`` beside this file). The graph is the main view:

- pan and zoom with the wheel, by dragging, and with the fit / 1:1 buttons; it opens at 1:1
  (14 px node text) unless the whole graph fits larger;
- the nodes the pass added (green), rewrote (orange) or removed (red dashed ghosts) are outlined;
- clicking a node shows its IR line, its provenance (pass, phase, the value it differentiates)
  and its chain rule in the side panel; the search box finds a value by name;
- the *mirror* layout (``layout.mirror``) puts each gradient node beside its forward value;
- ← → (or the pass strip) step through the passes; "pass i of n: <name>" is in ``#status``;
- the *schedule* pane shows the dataflow executor's plan for the last pass's graph
  (``schedule.py``): a Gantt chart of the predicted tasks on each worker against the sequential
  sum, and the printed schedule; a node's panel in the last pass says which task runs it;
- the *kernels* pane shows the graph of the pass as explicit loops (``runtime/lowering.py``): before
  ``fuse-elementwise`` one loop nest per elementwise node, after it one per fused group; a
  node's own loops are also in its panel.

Each pass is a ``<section class="pass" data-pass=…>`` holding both pictures, the IR text,
the diff, its kernels and a JSON blob with what the panel shows for each node.
"""
from __future__ import annotations

import html
import json
import os
from typing import Dict, Optional, Sequence

from ...ir import parse_graph
from ...ir.display import COLOURS
from ...ir.printer import derived_rule, format_node, graph_lines
from ...runtime.lowering import kernel_text, lower, program_text
from .irdiff import diff_graphs
from .layout import layered, mirror

_HERE = os.path.dirname(os.path.abspath(__file__))


def _asset(name: str) -> str:
    with open(os.path.join(_HERE, name), encoding="utf-8") as f:
        return f.read()


def _diff_html(diff_text: str) -> str:
    out = []
    for ln in diff_text.splitlines():
        cls = {"+": "add", "-": "del", "~": "mod"}.get(ln[:1], "why" if ln.startswith(("    ", "//")) else "")
        out.append(f'<span class="{cls}">{html.escape(ln)}</span>' if cls else html.escape(ln))
    return "\n".join(out)


def _ir_html(g) -> str:
    """The IR text, each node's line marked with the node's name (the panel scrolls to it)."""
    line_of: dict = {}
    lines = graph_lines(g, line_of=line_of)
    name_at = {line_of[id(n)]: n.name for n in g.nodes}
    return "\n".join(f'<span class="ln" data-name="{html.escape(name_at[i])}">{html.escape(ln)}</span>'
                     if i in name_at else html.escape(ln) for i, ln in enumerate(lines))


def kernels(g):
    """The graph as loops: ``(program text, {node name: its kernel's text})``, or ("", {}) for a graph
    the loop lowering cannot take (one a pass left unfinished)."""
    try:
        program = lower(g)
    except Exception:  # noqa: BLE001 (a report of a failing pipeline still shows the other tabs)
        return "", {}
    return program_text(program), {k.node.name: kernel_text(k, program) for k in program.kernels}


def node_facts(g, diff=None, loops=None, tasks=None) -> Dict[str, dict]:
    """What the panel shows for each node and value, by picture id (``n:NAME`` / ``v:NAME``)."""
    changes = {c.name: c for c in diff.changes} if diff is not None else {}
    values = {v.name: v for v in g.all_values()}
    facts: Dict[str, dict] = {}
    for v in list(g.inputs) + list(g.params):
        facts["v:" + v.name] = {"name": v.name, "line": f"{v.kind} %{v.name}: {v.type}", "kind": v.kind,
                                "uses": [u.name for u in v.consumers]}
    for n in g.nodes:
        p = n.prov
        rule = p.rule or derived_rule(n, values) or (n.op.rule if p.phase == "forward" else None)
        c = changes.get(n.name)
        facts["n:" + n.name] = {
            "name": n.name, "line": format_node(n), "op": n.op.name, "phase": p.phase, "by": p.created_by,
            "of": p.grad_of, "rule": rule, "source": p.source, "uses": [u.name for u in n.outputs[0].consumers],
            "change": c.kind if c else None, "was": c.before if c else None, "why": c.why if c else None,
            "loops": (loops or {}).get(n.name), "task": (tasks or {}).get(n.name)}
    for c in (diff.changes if diff is not None else []):
        if c.kind == "removed":
            facts["n:" + c.name] = {"name": c.name, "line": c.line, "change": "removed", "why": c.why}
    return facts


def _json(data) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")


def _picture(svg: Optional[str], fallback: str) -> str:
    if svg:
        return svg[svg.find("<svg"):] if "<svg" in svg else svg  # drop the XML prolog and DOCTYPE
    return fallback


def _schedule_pane(schedule: Optional[dict]) -> str:
    if not schedule:
        return ""
    return ("<details id=\"schedule\"><summary>schedule: the dataflow executor's tasks</summary>"
            f"<div id=\"schedule-pane\">{schedule['html']}</div></details>")


def build_report(title: str, steps: Sequence[dict], schedule: Optional[dict] = None) -> str:
    """HTML text. Each step: label, pass, changed, text (IR), diff (text), svg (or None), dot.
    ``schedule``: the last step's pane, ``{"html": …, "where": {node: its task}}`` (``schedule.py``)."""
    legend = "".join(f'<span style="background:{COLOURS[k]}">{k}</span>'
                     for k in ("forward", "backward", "update", "param"))
    legend += '<span class="lg-add">added</span><span class="lg-mod">rewritten</span><span class="lg-del">removed</span>'
    secs, prev = [], None
    for k, s in enumerate(steps):
        tasks = (schedule or {}).get("where") if k == len(steps) - 1 else None
        g = parse_graph(s["text"])
        d = diff_graphs(prev, g, s["pass"]) if prev is not None else None
        here = {n.name for n in g.nodes}
        gone = [n for n in prev.nodes if n.name not in here] if prev is not None else []  # ghosts
        normal = _picture(s.get("svg"), layered(g, gone))
        loop_text, loops = kernels(g)
        note = "" if s.get("svg") else ('<p class="note">Graphviz is not installed, so this is the simple layered '
                                        'picture (apt-get install graphviz for the full one).</p>')
        secs.append(
            f'<section class="pass" data-pass="{html.escape(s["pass"])}" data-label="{html.escape(s["label"])}" '
            f'data-changed="{"true" if s["changed"] else "false"}">'
            f'<div class="view"><div class="pic normal">{normal}</div>'
            f'<div class="pic mirror">{mirror(g, gone)}</div>{note}</div>'
            f'<div class="ir"><pre class="wrap">{_ir_html(g)}</pre></div>'
            f'<div class="diff"><pre class="wrap">{_diff_html(s["diff"])}</pre></div>'
            f'<div class="kernels"><pre class="wrap">{html.escape(loop_text)}</pre></div>'
            f'<script type="application/json" class="facts">{_json(node_facts(g, d, loops, tasks))}</script>'
            f"</section>")
        prev = g
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_asset('report.css')}</style></head><body>"
            f"<header><h1 title=\"{html.escape(title)}\">{html.escape(title)}</h1>"
            "<button id=\"prev\" title=\"previous pass (←)\">&larr;</button>"
            "<span id=\"status\">(the pass viewer needs JavaScript)</span>"
            "<button id=\"next\" title=\"next pass (→)\">&rarr;</button>"
            "<button id=\"layout-toggle\" title=\"forward left, backward right, updates below (m)\">mirror</button>"
            "<button id=\"fit\" title=\"the whole graph (f)\">fit</button>"
            "<button id=\"one\" title=\"readable size (1)\">1:1</button>"
            "<input id=\"search\" type=\"search\" placeholder=\"find a value (/)\" autocomplete=\"off\">"
            "<span id=\"search-status\"></span></header>"
            f"<nav id=\"passes\"></nav><div id=\"layout\"><main id=\"main\">{''.join(secs)}</main>"
            "<aside id=\"panel\"><div id=\"info\"><p class=\"hint\">Click a node to see its IR line, provenance "
            "and chain rule. Wheel: zoom, drag: pan.</p></div>"
            f"<div class=\"legend\">{legend}</div>"
            "<details open><summary>diff against the previous pass</summary><div id=\"diff-pane\"></div></details>"
            "<details><summary>IR text</summary><div id=\"ir-pane\"></div></details>"
            + _schedule_pane(schedule) +
            "<details id=\"kernels\"><summary>kernels: the graph as loops</summary><div id=\"kernels-pane\"></div>"
            "</details></aside></div>"
            f"<script>{_asset('report.js')}</script></body></html>\n")
