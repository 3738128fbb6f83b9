"""The report in a real browser at 1024×768 (headless Chromium, driven by tests/cdp.py):
readable node text, pan and zoom, click-to-show, search, and the mirror layout."""
import os

import pytest

from cdp import CHROME, Browser
from chainrule.examples import models
from chainrule.frontends.inspect.dot import have_dot
from chainrule.frontends.inspect.dump import dump

pytestmark = pytest.mark.skipif(CHROME is None, reason="Chromium not installed (README: apt-get install chromium)")

READABLE_PX = 14  # node text at least this tall on a 1024x768 screen: legible when projected

RECT = """(function(id){var gs=document.querySelectorAll('section.shown .pic.'+(document.body.classList.contains('mirror')?'mirror':'normal')+' g.node');
  for(var k=0;k<gs.length;k++){var t=gs[k].querySelector('title');if(t&&t.textContent==id){var r=gs[k].getBoundingClientRect();
  return {x:r.left,y:r.top,w:r.width,h:r.height,cls:gs[k].getAttribute('class')};}} return null;})(%r)"""
TEXT_HEIGHTS = """Array.from(document.querySelectorAll('section.shown .pic.'+(document.body.classList.contains('mirror')?'mirror':'normal')+
  ' g.node text')).map(function(t){return t.getBoundingClientRect().height;})"""
VIEW = "(function(){var r=document.querySelector('section.shown .view').getBoundingClientRect();return {x:r.left,y:r.top,w:r.width,h:r.height};})()"
PIC = ("(function(){var r=document.querySelector('section.shown .pic.'+(document.body.classList.contains('mirror')?"
       "'mirror':'normal')+' svg').getBoundingClientRect();return {x:r.left,y:r.top,w:r.width,h:r.height};})()")


@pytest.fixture(scope="module")
def three_layer(tmp_path_factory):
    """The autodiff pass of a 3-layer MLP (three Linear layers), open in Chromium at 1024x768."""
    tmp = tmp_path_factory.mktemp("report")
    res = dump(models.mlp((4, 8, 8, 3)), str(tmp / "dump"), pipeline="gradient")
    b = Browser(str(tmp / "profile"))
    b.open("file://" + os.path.abspath(res.report) + "#autodiff")
    yield b, res, tmp
    b.close()


def rect(b, name):
    return b.js(RECT % name)


def view(b):
    import json
    return json.loads(b.js("document.body.dataset.view"))


def inside(r, box, slack=1):
    return (box["x"] - slack <= r["x"] and r["x"] + r["w"] <= box["x"] + box["w"] + slack
            and box["y"] - slack <= r["y"] and r["y"] + r["h"] <= box["y"] + box["h"] + slack)


def reset(b, layout="normal"):
    if b.js("document.body.classList.contains('mirror')") != (layout == "mirror"):
        b.js("document.getElementById('layout-toggle').click()")
    b.js("document.getElementById('search').value=''; document.getElementById('one').click()")


def test_node_text_is_readable_at_1024x768_in_both_layouts(three_layer):
    b, res, tmp = three_layer
    assert b.js("document.getElementById('status').textContent") == "pass 4 of 5: autodiff"
    assert b.js("[innerWidth, innerHeight]") == [1024, 768]
    for layout in ("normal", "mirror"):
        reset(b, layout)
        heights = b.js(TEXT_HEIGHTS)
        assert len(heights) > 60 and min(heights) >= READABLE_PX, (layout, min(heights))
        b.screenshot(str(tmp / f"autodiff-{layout}.png"))
        with open(tmp / f"autodiff-{layout}.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_pass_changes_are_outlined_in_the_picture(three_layer):
    b, res, _ = three_layer
    autodiff = next(s for s in res.steps if s.pass_name == "autodiff")
    added = int(autodiff.diff.split("+", 1)[1].split(" ")[0])
    for layout in ("normal", "mirror"):
        reset(b, layout)
        shown = b.js("document.querySelectorAll('section.shown .pic.%s g.node.added').length" % layout)
        assert shown == added == 24
        assert "added" in rect(b, "n:grad_fc1.weight")["cls"] and "added" not in rect(b, "n:fc1")["cls"]


def test_wheel_zooms_about_the_cursor_drag_pans_and_fit_shows_everything(three_layer):
    b, _, _ = three_layer
    reset(b)
    v = b.js(VIEW)
    cx, cy = v["x"] + v["w"] / 2, v["y"] + v["h"] / 2
    before, h0 = view(b), min(b.js(TEXT_HEIGHTS))
    b.wheel(cx, cy, -400)  # zoom in
    after = view(b)
    assert after["s"] > before["s"] * 1.3 and min(b.js(TEXT_HEIGHTS)) > h0 * 1.3
    # the point under the cursor stays put: (c - t) / s is the same picture coordinate
    assert abs((cx - v["x"] - before["x"]) / before["s"] - (cx - v["x"] - after["x"]) / after["s"]) < 1
    b.drag(cx, cy, cx - 150, cy + 80)
    moved = view(b)
    assert (moved["x"] - after["x"], moved["y"] - after["y"]) == (-150, 80) and moved["s"] == after["s"]
    b.js("document.getElementById('fit').click()")
    assert inside(b.js(PIC), b.js(VIEW)) and view(b)["s"] < 1


def test_clicking_a_node_shows_its_ir_line_provenance_and_rule(three_layer):
    b, _, _ = three_layer
    reset(b)
    b.js("document.getElementById('fit').click()")  # every node on screen, then click one
    r = rect(b, "n:grad_fc1.weight")
    b.click(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    info = b.js("document.getElementById('info').innerText")
    assert "%grad_fc1.weight" in info
    assert "%grad_fc1.weight: f32[8,4] = Gemm(%grad_fc1, %x) {transA=1} #[by=autodiff phase=backward of=%fc1]" in info
    assert "gradient of\n%fc1" in info and "made by\nautodiff" in info and "change\nadded by this pass" in info
    assert "B̄ = α op(A)ᵀ Ȳ" in info  # the chain rule of Gemm, which made this gradient
    assert "selected" in rect(b, "n:grad_fc1.weight")["cls"]
    assert b.js("document.querySelector('#ir-pane .ln.selected').textContent").startswith("  %grad_fc1.weight")
    r = rect(b, "n:sigmoid")  # a forward node: its own rule
    b.click(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    assert "σ′(z)" in b.js("document.getElementById('info').innerText")


def test_search_finds_a_value_and_brings_it_into_view(three_layer):
    b, _, _ = three_layer
    reset(b)
    b.js("document.getElementById('search').focus()")
    b.type("grad_fc2.bias")
    assert b.js("document.getElementById('search-status').textContent") == "1 of 1"
    r = rect(b, "n:grad_fc2.bias")
    assert "match" in r["cls"] and inside(r, b.js(VIEW))
    assert "%grad_fc2.bias" in b.js("document.getElementById('info').innerText")
    b.js("document.getElementById('search').value=''")
    b.js("document.getElementById('search').focus()")
    b.type("grad_fc")  # several: Enter steps through them
    assert b.js("document.getElementById('search-status').textContent") == "1 of 9"
    b.key("Enter", "Enter", 13)
    assert b.js("document.getElementById('search-status').textContent") == "2 of 9"


def test_mirror_layout_puts_each_gradient_beside_its_forward_value(three_layer):
    b, res, _ = three_layer
    reset(b, "mirror")
    b.js("document.getElementById('fit').click()")
    from chainrule.ir import parse_graph
    g = parse_graph(res.steps[3].text)
    forward = [n for n in g.nodes if n.prov.phase == "forward"]
    rows = [rect(b, "n:" + n.name)["y"] for n in forward]
    assert rows == sorted(rows) and len(set(rows)) == len(rows)  # forward: one row each, downwards
    right = max(rect(b, "n:" + n.name)["x"] + rect(b, "n:" + n.name)["w"] for n in forward)
    row_of = {o.name: k for k, n in enumerate(forward) for o in n.outputs}
    for n in g.nodes:
        if n.prov.phase != "backward" or n.prov.grad_of not in row_of:
            continue
        r, k = rect(b, "n:" + n.name), row_of[n.prov.grad_of]
        assert r["x"] > right, f"%{n.name} is not on the backward side"
        below = rows[k + 1] if k + 1 < len(rows) else float("inf")
        assert rows[k] - 1 <= r["y"] < below, f"%{n.name} is not beside %{n.prov.grad_of}"


@pytest.mark.skipif(not have_dot(), reason="Graphviz not installed")
def test_mirror_layout_puts_updates_below(tmp_path):
    res = dump(models.mlp(), str(tmp_path / "d"), pipeline="training")
    b = Browser(str(tmp_path / "profile"))
    try:
        b.open("file://" + os.path.abspath(res.report) + "#mirror:" + res.steps[-1].label)
        from chainrule.ir import parse_graph
        g = parse_graph(res.steps[-1].text)
        ys = {ph: [rect(b, "n:" + n.name)["y"] for n in g.nodes if n.prov.phase == ph]
              for ph in ("forward", "backward", "update")}
        assert ys["update"] and min(ys["update"]) > max(ys["forward"] + ys["backward"])
    finally:
        b.close()
