"""One self-contained HTML report that steps through the passes of a dump.

No network, no external scripts or fonts: the SVG pictures, CSS and a few
lines of JavaScript are inline. Each pass is a ``<section class="pass">``
holding the picture, the IR text and the diff side by side; the script
builds the pass list, shows one pass at a time (← → keys, buttons) and
writes "pass i of n: <name>" into ``#status``.
"""
from __future__ import annotations

import html
from typing import Sequence

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24364b;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header h1{font-size:18px;margin:0}
#status{font-weight:bold}
button{font-size:14px;padding:2px 10px}
#layout{display:flex}
nav{width:190px;padding:8px;border-right:1px solid #ccc;font-size:13px}
nav a{display:block;padding:3px 6px;color:#24364b;text-decoration:none;border-radius:3px;cursor:pointer}
nav a.current{background:#24364b;color:#fff}
nav a.unchanged{color:#999}
main{flex:1;padding:8px;overflow:auto}
section.pass{display:none}
section.pass.shown{display:block}
.cols{display:grid;grid-template-columns:minmax(300px,1.2fr) 1fr 1fr;gap:8px}
.col{background:#fff;border:1px solid #ddd;border-radius:4px;padding:6px;overflow:auto;max-height:85vh}
.col h3{margin:0 0 4px 0;font-size:13px;color:#555}
pre{font-size:11px;margin:0;white-space:pre}
pre.wrap{white-space:pre-wrap;word-break:break-word}
.add{color:#1a7f37;background:#e6ffec}.del{color:#b3261e;background:#ffebe9}.mod{color:#8a5a00;background:#fff5d6}
.why{color:#666}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;border:1px solid #999;font-size:11px;color:#222}
svg{max-width:100%;height:auto}
"""

_JS = """
(function(){
  var secs=document.querySelectorAll('section.pass'), nav=document.getElementById('passes'), cur=0;
  function show(i){
    if(i<0||i>=secs.length)return; cur=i;
    for(var k=0;k<secs.length;k++){secs[k].classList.toggle('shown',k==i);nav.children[k].classList.toggle('current',k==i);}
    document.getElementById('status').textContent='pass '+i+' of '+(secs.length-1)+': '+secs[i].dataset.pass;
  }
  for(var k=0;k<secs.length;k++){
    var a=document.createElement('a'); a.textContent=secs[k].dataset.label;
    a.className='navitem'+(secs[k].dataset.changed=='false'?' unchanged':'');
    a.onclick=(function(i){return function(){show(i);};})(k); nav.appendChild(a);
  }
  document.getElementById('prev').onclick=function(){show(cur-1);};
  document.getElementById('next').onclick=function(){show(cur+1);};
  document.addEventListener('keydown',function(e){if(e.key=='ArrowLeft')show(cur-1);if(e.key=='ArrowRight')show(cur+1);});
  var first=0; for(var k=1;k<secs.length;k++){if(secs[k].dataset.changed=='true'){first=k;break;}}
  show(first);
})();
"""


def _diff_html(diff_text: str) -> str:
    out = []
    for ln in diff_text.splitlines():
        cls = {"+": "add", "-": "del", "~": "mod"}.get(ln[:1], "why" if ln.startswith(("    ", "//")) else "")
        out.append(f'<span class="{cls}">{html.escape(ln)}</span>' if cls else html.escape(ln))
    return "\n".join(out)


def build_report(title: str, steps: Sequence[dict]) -> str:
    """HTML text. Each step: label, pass, changed, text (IR), diff (text), svg (or None), dot."""
    from .dot import COLOURS
    legend = "".join(f'<span style="background:{COLOURS[k]}">{k}</span>'
                     for k in ("forward", "backward", "update", "param"))
    secs = []
    for s in steps:
        if s.get("svg"):
            svg = s["svg"]
            svg = svg[svg.find("<svg"):] if "<svg" in svg else svg  # drop the XML prolog and DOCTYPE
            pic = svg
        else:
            pic = ("<p>(Graphviz is not installed, so there is no picture; install it with "
                   "<code>apt-get install graphviz</code>. The DOT source:)</p><pre>"
                   + html.escape(s.get("dot", "")) + "</pre>")
        secs.append(
            f'<section class="pass" data-pass="{html.escape(s["pass"])}" data-label="{html.escape(s["label"])}" '
            f'data-changed="{"true" if s["changed"] else "false"}">'
            f'<h2>{html.escape(s["label"])}{"" if s["changed"] else " (unchanged)"}</h2>'
            f'<div class="cols"><div class="col"><h3>graph</h3>{pic}</div>'
            f'<div class="col"><h3>IR text</h3><pre>{html.escape(s["text"])}</pre></div>'
            f'<div class="col"><h3>diff against the previous pass</h3><pre class="wrap">{_diff_html(s["diff"])}</pre></div>'
            f"</div></section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{html.escape(title)}</h1><button id=\"prev\">&larr;</button>"
            f"<span id=\"status\">(the pass viewer needs JavaScript)</span><button id=\"next\">&rarr;</button>"
            f"<span class=\"legend\">{legend}</span></header>"
            f"<div id=\"layout\"><nav id=\"passes\"></nav><main>{''.join(secs)}</main></div>"
            f"<script>{_JS}</script></body></html>\n")
