"""Notebook displays of the teaching tools (IPython's ``_repr_mimebundle_``).

Importing this module lets every ``Graph`` show a Graphviz picture in a
notebook when ``dot`` is installed (``ir.display.register_picture``); without
Graphviz a graph shows its IR text coloured by phase. The tools' results
display themselves too, each with a short ``text/plain``:

    res = cr.dump(model, "dump/", pipeline="gradient")
    res                       # the passes, what each changed, the final picture, a link to the report
    res.diff("autodiff")      # one pass's diff, coloured: + added, - removed, ~ rewritten
    cr.explain_grad(model, "fc1.weight")   # the chain in the lecture's notation
"""
from __future__ import annotations

import html
from typing import Optional

from ...ir.display import COLOURS, graph_bundle, graph_html, legend_html, register_picture
from .dot import RenderError, have_dot, render_svg, to_dot

#: graphs with more nodes than this show their text, not a picture (Graphviz takes seconds on them)
MAX_PICTURE_NODES = 400


def svg_inline(svg: str) -> str:
    """SVG text without its XML prolog and DOCTYPE, to sit inside HTML."""
    return svg[svg.find("<svg"):] if "<svg" in svg else svg


def dot_picture(graph) -> Optional[str]:
    """The graph's Graphviz picture as inline SVG, or None (no Graphviz, too big, or it failed)."""
    if not have_dot() or len(graph.nodes) > MAX_PICTURE_NODES:
        return None
    try:
        return svg_inline(render_svg(to_dot(graph)))
    except RenderError:
        return None


register_picture(dot_picture)

_PRE = '<pre style="font-size:12px;line-height:1.35;white-space:pre-wrap">'
_MARKS = {"+": COLOURS["update"], "-": "#ffd7d5", "~": "#fff1c2"}


def diff_html(diff_text: str) -> str:
    """A ``format_diff`` text as HTML: added lines green, removed red, rewritten yellow."""
    out = []
    for ln in diff_text.splitlines():
        colour = _MARKS.get(ln[:1])
        text = html.escape(ln)
        if colour:
            out.append(f'<span style="background:{colour}">{text}</span>')
        elif ln.startswith(("    ", "//")):
            out.append(f'<span style="color:#666">{text}</span>')
        else:
            out.append(text)
    return _PRE + "\n".join(out) + "</pre>"


def diff_bundle(d) -> dict:
    """Mime bundle of an ``irdiff.GraphDiff``."""
    from .irdiff import format_diff
    text = format_diff(d)
    return {"text/plain": text.splitlines()[0], "text/html": diff_html(text)}


def dump_bundle(res) -> dict:
    """Mime bundle of a ``DumpResult``: a table of the passes and their changes, the last picture."""
    rows = []
    for s in res.steps:
        summary = s.diff.splitlines()[0].split(": ", 1)[-1] if s.diff else ""
        style = "" if s.changed else ' style="color:#999"'
        rows.append(f"<tr{style}><td>{html.escape(s.label)}</td><td>{html.escape(s.pass_name)}</td>"
                    f"<td>{html.escape(summary)}</td></tr>")
    link = (f'<p>Step through every pass in <a href="{html.escape(res.report)}" target="_blank">'
            f"{html.escape(res.report)}</a>.</p>" if res.report else "")
    last = res.steps[-1] if res.steps else None
    if last is None:
        pic = ""
    elif last.svg:
        pic = f'<div style="max-width:100%;overflow:auto">{svg_inline(last.svg)}</div>'
    else:
        from ...ir import parse_graph
        pic = graph_html(parse_graph(last.text))
    table = ('<table style="font-size:12px"><tr><th>step</th><th>pass</th><th>change</th></tr>'
             + "".join(rows) + "</table>")
    head = f"<div><b>{html.escape(repr(res))}</b> {legend_html()}</div>"
    return {"text/plain": repr(res), "text/html": head + table + link
            + (f"<p>After {html.escape(last.label)}:</p>" + pic if last else "")}


class Explanation(str):
    """Text from ``explain_grad`` / ``format_backprop``: a plain ``str`` that a notebook shows as a
    block of the lecture's notation (``print`` it for the text itself)."""

    def short(self) -> str:
        lines = self.splitlines()
        more = f"  … ({len(lines)} lines; print() shows them all)" if len(lines) > 1 else ""
        return (lines[0] if lines else "") + more

    def _repr_pretty_(self, p, cycle):  # IPython's text/plain: it would otherwise print str's repr
        p.text(self.short())

    def _repr_mimebundle_(self, include=None, exclude=None):
        lines = self.splitlines()
        plain = self.short()
        def heading(ln):
            return bool(ln) and not ln.startswith(" ") and ln.endswith(":")
        # the lines of the chain (all of them for format_backprop, which has no headings) are shaded
        # as backward nodes are in the pictures; headings are bold
        section = "the chain" if not any(heading(ln) for ln in lines) else ""
        out = []
        for ln in lines:
            text = html.escape(ln)
            if heading(ln):
                section = ln
                out.append(f"<b>{text}</b>")
            elif ln.strip() and section.startswith(("the chain", "and backward")):
                out.append(f'<span style="background:{COLOURS["backward"]}">{text}</span>')
            else:
                out.append(text)
        return {"text/plain": plain, "text/html": _PRE + "\n".join(out) + "</pre>"}


__all__ = ["Explanation", "diff_bundle", "diff_html", "dot_picture", "dump_bundle", "graph_bundle", "svg_inline"]
