"""Pictures drawn without Graphviz: the *mirror* layout, and a layered one.

The mirror layout shows backpropagation as the mirror of the forward pass. Each
forward node has a row, top to bottom in program order, with the inputs and
parameters it reads on its left; every backward node sits in the row of the
forward value it differentiates (``prov.grad_of``), to the right. Updates go
in rows below. The forward pass reads downwards on the left, the backward pass
upwards on the right::

    x  fc1.weight  [fc1]      |  [grad_fc1.weight] [grad_fc1.bias]
                   [sigmoid]  |  [c] [sub.1] [mul.2] [grad_fc1]
                   [loss]     |  [grad_loss] [softmax] [sub] ...
    [update fc1.weight] ...

``layered`` puts each node one row below its deepest operand: the fallback for
the usual picture when Graphviz is not installed. Both return an SVG whose
node groups look like Graphviz's (``<g class="node"><title>n:NAME</title>``),
so the report treats every picture alike.
"""
from __future__ import annotations

import html
from typing import Dict, List, NamedTuple, Sequence

from ...ir import Graph
from ...ir.display import COLOURS

FONT = 14  # px at 1:1, as the Graphviz pictures
CHAR_W = 8.2  # px per character of a 14 px sans-serif label (an estimate; boxes get some slack)
BOX_H, GAP_X, GAP_Y, MIRROR_GAP = 46, 18, 34, 70
PER_ROW = 4  # backward nodes a line in the mirror layout


class Box(NamedTuple):
    id: str  # "n:<node name>" or "v:<value name>", as in the DOT pictures
    lines: tuple  # label lines: op and %name (or the value's name and type)
    x: float
    y: float
    w: float
    fill: str
    dashed: bool = False


class Edge(NamedTuple):
    src: str  # box ids
    dst: str


def _width(lines) -> float:
    return max(len(s) for s in lines) * CHAR_W + 20


def _leaf(v) -> tuple:
    return (v.name, str(v.type))


def _node(n) -> tuple:
    return (n.op.name, "%" + n.name)


def _edges(graph: Graph, removed: Sequence = ()) -> List[Edge]:
    src = {v.name: "v:" + v.name for v in list(graph.inputs) + list(graph.params)}
    for n in graph.nodes:
        for o in n.outputs:
            src[o.name] = "n:" + n.name
    return [Edge(src[v.name], "n:" + n.name) for n in list(graph.nodes) + list(removed)
            for v in n.inputs if v.name in src]


def mirror(graph: Graph, removed: Sequence = ()) -> str:
    """The mirror picture of ``graph`` as SVG (``removed``: ghosts of nodes a pass removed)."""
    producer_row: Dict[str, int] = {}  # value name -> row of its forward producer (or first reader)
    rows_fwd: List[list] = []  # per row: [leaves, forward node, backward nodes]
    forward = [n for n in graph.nodes if n.prov.phase == "forward"]
    placed = set()
    for n in forward:
        leaves = []
        for v in n.inputs:
            if v.producer is None and v.name not in placed:
                placed.add(v.name)
                leaves.append(v)
                producer_row[v.name] = len(rows_fwd)
        for o in n.outputs:
            producer_row[o.name] = len(rows_fwd)
        rows_fwd.append([leaves, n, []])
    if not rows_fwd:
        rows_fwd.append([[], None, []])
    updates = []
    for n in list(graph.nodes) + list(removed):
        if n.prov.phase == "forward":
            continue
        if n.prov.phase == "update":
            updates.append(n)
            continue
        row = producer_row.get(n.prov.grad_of or "", len(rows_fwd) - 1)
        rows_fwd[row][2].append(n)
    leftover = [v for v in list(graph.inputs) + list(graph.params) if v.name not in placed]
    removed_ids = {id(n) for n in removed}

    def fill(n):
        return "#ffffff" if id(n) in removed_ids else COLOURS.get(n.prov.phase, "#ffffff")

    leaves_w = max([sum(_width(_leaf(v)) + GAP_X for v in r[0]) for r in rows_fwd] + [0])
    fwd_x = 20 + leaves_w
    fwd_w = max([_width(_node(r[1])) for r in rows_fwd if r[1] is not None] + [120])
    bwd_x = fwd_x + fwd_w + MIRROR_GAP
    boxes: List[Box] = []
    y = 40
    for leaves, fwd, bwd in rows_fwd:
        x = fwd_x - GAP_X
        for v in reversed(leaves):
            w = _width(_leaf(v))
            x -= w
            boxes.append(Box("v:" + v.name, _leaf(v), x, y, w, COLOURS[v.kind]))
            x -= GAP_X
        if fwd is not None:
            boxes.append(Box("n:" + fwd.name, _node(fwd), fwd_x, y, _width(_node(fwd)), fill(fwd)))
        x = bwd_x
        for k, n in enumerate(bwd):  # at most PER_ROW a line, so the picture stays narrow enough to project
            if k and k % PER_ROW == 0:
                x, y = bwd_x, y + BOX_H + GAP_Y
            w = _width(_node(n))
            boxes.append(Box("n:" + n.name, _node(n), x, y, w, fill(n), id(n) in removed_ids))
            x += w + GAP_X
        y += BOX_H + GAP_Y
    y += GAP_Y
    extra = [(("v:" + v.name), _leaf(v), COLOURS[v.kind], False) for v in leftover] + \
        [("n:" + n.name, _node(n), fill(n), id(n) in removed_ids) for n in updates]
    x = 20
    for bid, lines, colour, dashed in extra:  # updates (and unread parameters) below, wrapped at 6 a row
        w = _width(lines)
        if x > 20 and x + w > bwd_x + 6 * 150:
            x, y = 20, y + BOX_H + GAP_Y
        boxes.append(Box(bid, lines, x, y, w, colour, dashed))
        x += w + GAP_X
    headings = [(fwd_x, "forward ↓"), (bwd_x, "backward ↑ (beside the value it differentiates)")]
    return to_svg(boxes, _edges(graph, removed), headings, update_y=y if updates else None,
                  focus=(fwd_x + fwd_w + bwd_x) / 2)


def layered(graph: Graph, removed: Sequence = ()) -> str:
    """Each node one row below its deepest operand; inputs and parameters on the top row."""
    depth: Dict[str, int] = {}
    rows: Dict[int, list] = {0: []}
    for v in list(graph.inputs) + list(graph.params):
        depth[v.name] = 0
        rows[0].append(("v:" + v.name, _leaf(v), COLOURS[v.kind], False))
    for n in list(graph.nodes) + list(removed):
        d = 1 + max([depth.get(v.name, 0) for v in n.inputs] + [0])
        for o in n.outputs:
            depth[o.name] = d
        gone = n.graph is not graph
        rows.setdefault(d, []).append(("n:" + n.name, _node(n), "#ffffff" if gone else
                                       COLOURS.get(n.prov.phase, "#ffffff"), gone))
    boxes = []
    for d in sorted(rows):
        x = 20
        for bid, lines, colour, dashed in rows[d]:
            w = _width(lines)
            boxes.append(Box(bid, lines, x, 20 + d * (BOX_H + GAP_Y), w, colour, dashed))
            x += w + GAP_X
    return to_svg(boxes, _edges(graph, removed), [])


def _between(a: Box, b: Box, boxes: List[Box]) -> bool:
    """Is there a box in the same row between ``a`` and ``b``?"""
    lo, hi = sorted((a.x, b.x))
    return any(abs(c.y - a.y) < 1 and lo < c.x < hi for c in boxes)


def to_svg(boxes: List[Box], edges: List[Edge], headings, update_y=None, focus=None) -> str:
    """``focus``: the x the report centres on when it opens the picture at 1:1."""
    at = {b.id: b for b in boxes}
    width = max([b.x + b.w for b in boxes] + [200]) + 20
    height = max([b.y + BOX_H for b in boxes] + [100]) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica,Arial,sans-serif"'
           + (f' data-focus="{focus:.0f}"' if focus is not None else "") + ">",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>']
    for x, text in headings:
        if text:
            out.append(f'<text x="{x:.0f}" y="24" font-size="{FONT}" font-weight="bold" fill="#555">'
                       f'{html.escape(text)}</text>')
    if update_y is not None:
        out.append(f'<text x="20" y="{update_y - 10:.0f}" font-size="{FONT}" font-weight="bold" fill="#555">'
                   f'updates ↓</text>')
    for e in edges:
        a, b = at.get(e.src), at.get(e.dst)
        if a is None or b is None:
            continue
        x1, y1, x2, y2 = a.x + a.w / 2, a.y + BOX_H, b.x + b.w / 2, b.y
        if abs(a.y - b.y) < 1 and not _between(a, b, boxes):  # neighbours in a row: straight across
            x1, x2 = (a.x + a.w, b.x) if a.x < b.x else (a.x, b.x + b.w)
            y1 = y2 = a.y + BOX_H / 2
            path = f"M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}"
        elif abs(a.y - b.y) < 1:  # same row, boxes between: an arc under them
            x1, y1, x2, y2 = a.x + a.w / 2, a.y + BOX_H, b.x + b.w / 2, b.y + BOX_H
            path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + 24:.0f} {x2:.0f},{y2 + 24:.0f} {x2:.0f},{y2:.0f}"
        elif b.y < a.y:  # upwards (the backward pass): from the top of the source to the bottom of the target
            y1, y2 = a.y, b.y + BOX_H
            path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 - 25:.0f} {x2:.0f},{y2 + 25:.0f} {x2:.0f},{y2:.0f}"
        else:
            path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + 25:.0f} {x2:.0f},{y2 - 25:.0f} {x2:.0f},{y2:.0f}"
        out.append(f'<g class="edge"><title>{html.escape(e.src)}->{html.escape(e.dst)}</title>'
                   f'<path d="{path}" fill="none" stroke="#888" stroke-width="1.2" marker-end="url(#arrow)"/></g>')
    for b in boxes:
        dash = ' stroke-dasharray="5,3" stroke="#b3261e"' if b.dashed else ' stroke="#555"'
        shape = (f'<ellipse cx="{b.x + b.w / 2:.1f}" cy="{b.y + BOX_H / 2:.1f}" rx="{b.w / 2:.1f}" '
                 f'ry="{BOX_H / 2:.1f}" fill="{b.fill}"{dash}/>' if b.id.startswith("v:") else
                 f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{BOX_H}" rx="4" '
                 f'fill="{b.fill}"{dash}/>')
        texts = "".join(f'<text x="{b.x + b.w / 2:.1f}" y="{b.y + 19 + 17 * k:.1f}" text-anchor="middle" '
                        f'font-size="{FONT}">'
                        f'{html.escape(line)}</text>' for k, line in enumerate(b.lines))
        out.append(f'<g class="node"><title>{html.escape(b.id)}</title>{shape}{texts}</g>')
    out.append("</svg>")
    return "\n".join(out)
