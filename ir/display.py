"""How a graph shows itself in a notebook: IPython's ``_repr_mimebundle_`` protocol.

A notebook cell whose last expression is a ``Graph`` (or an ``Executable``, a
``TrainStep``) shows the IR text as HTML, each node's line coloured by its
phase (forward, backward, update), as JAX shows a jaxpr. The IR layer draws no
pictures itself: a frontend that can (``frontends/inspect/display.py``, with
Graphviz) registers a ``picture`` function, and then the picture comes first
and the text folds away below it. ``text/plain`` stays one short line::

    >>> g._repr_mimebundle_()["text/plain"]
    '<Graph logistic: 1 inputs, 2 params, 2 nodes>'
"""
from __future__ import annotations

import html
from typing import Callable, List, Optional

from .printer import graph_lines

#: background colours by phase, and for graph inputs, parameters and state (the pictures use the same)
COLOURS = {"forward": "#dbe9f6", "backward": "#fbe0d0", "update": "#d9f0d3",
           "input": "#ffffff", "param": "#fff4c2", "state": "#eeeeee"}

#: functions graph -> SVG text (or None), registered by frontends that can draw
_PICTURES: List[Callable] = []


def register_picture(fn: Callable) -> None:
    """Draw graphs with ``fn(graph) -> svg text or None`` in notebook displays (first one wins)."""
    if fn not in _PICTURES:
        _PICTURES.append(fn)


def picture(graph) -> Optional[str]:
    """SVG of ``graph`` from the first registered function that draws it, else None."""
    for fn in _PICTURES:
        svg = fn(graph)
        if svg:
            return svg
    return None


def legend_html() -> str:
    return "".join(f'<span style="background:{COLOURS[k]};padding:0 6px;margin-right:4px;border:1px solid #bbb">'
                   f'{k}</span>' for k in ("forward", "backward", "update", "param"))


def graph_html(graph) -> str:
    """The IR text as an HTML ``<pre>``, each line with the background of its node's phase."""
    line_of: dict = {}
    lines = graph_lines(graph, line_of=line_of)
    colour = {}
    for n in graph.nodes:
        colour[line_of[id(n)]] = COLOURS.get(n.prov.phase, "#ffffff")
    first = 1 + len(graph.inputs)
    for k, v in enumerate(graph.params):
        colour[first + k] = COLOURS[v.kind]
    out = []
    for i, ln in enumerate(lines):
        text = html.escape(ln)
        out.append(f'<span style="background:{colour[i]}">{text}</span>' if i in colour else text)
    return ('<pre class="chainrule-ir" style="font-size:12px;line-height:1.35;white-space:pre-wrap">'
            + "\n".join(out) + "</pre>")


def graph_bundle(graph, plain: str, heading: str = "") -> dict:
    """The mime bundle for ``graph``: ``text/plain`` is ``plain``; ``text/html`` the picture (when a
    frontend can draw one) over the coloured IR text; ``image/svg+xml`` the picture alone."""
    head = f"<div><b>{html.escape(heading or plain)}</b> {legend_html()}</div>"
    svg = picture(graph)
    if svg is None:
        return {"text/plain": plain, "text/html": head + graph_html(graph)}
    body = (f'<div style="max-width:100%;overflow:auto">{svg}</div>'
            f"<details><summary>IR text</summary>{graph_html(graph)}</details>")
    return {"text/plain": plain, "text/html": head + body, "image/svg+xml": svg}
