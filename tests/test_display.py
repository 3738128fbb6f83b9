"""Notebook displays: what a cell shows when its last expression is a graph, a compiled model,
a training step, a dump, a diff or an explanation. Checked for content: the node names are there."""
import pytest

import chainrule as cr
from chainrule.examples import models
from chainrule.frontends.inspect.dot import have_dot
from chainrule.ir import display as ir_display

IPython = pytest.importorskip("IPython", reason="IPython comes with the test extra: pip install -e '.[test]'")
from IPython.core.formatters import DisplayFormatter  # noqa: E402


def shown(obj):
    """What Jupyter receives for ``obj`` as a cell's last expression: {mime type: data}."""
    data, _ = DisplayFormatter().format(obj)
    return data


@pytest.fixture
def no_pictures(monkeypatch):
    monkeypatch.setattr(ir_display, "_PICTURES", [])


def test_graph_without_graphviz_shows_its_ir_coloured_by_phase(no_pictures):
    g = cr.compile(models.mlp(), "gradient").graph
    data = shown(g)
    assert data["text/plain"] == repr(g) and len(data["text/plain"]) < 80
    assert "image/svg+xml" not in data
    page = data["text/html"]
    for n in g.nodes:
        assert f"%{n.name}" in page.replace("&quot;", '"')
    assert f'background:{ir_display.COLOURS["backward"]}">  %grad_fc2' in page  # a backward line, shaded
    assert f'background:{ir_display.COLOURS["forward"]}">  %fc1' in page


@pytest.mark.skipif(not have_dot(), reason="Graphviz not installed (apt-get install graphviz)")
def test_graph_with_graphviz_shows_a_picture_over_the_text():
    g = models.mlp()
    data = shown(g)
    svg = data["image/svg+xml"]
    assert svg.startswith("<svg") and all(f"%{n.name}" in svg for n in g.nodes)
    assert svg in data["text/html"] and "<details><summary>IR text</summary>" in data["text/html"]


def test_executable_and_train_step_show_their_graphs(no_pictures):
    exe = cr.compile(cr.nn.mlp([4, 8, 3], seed=0))
    data = shown(exe)
    assert data["text/plain"].startswith("<Executable") and "%fc2" in data["text/html"]
    step = cr.compile_train(cr.nn.mlp([4, 8, 3], seed=0), optimizer=cr.optim.SGD(lr=0.1, momentum=0.9))
    data = shown(step)
    assert data["text/plain"] == repr(step)
    page = data["text/html"]
    assert "%grad_fc1.weight" in page and "update %fc1.weight &lt;-" in page
    assert f'background:{ir_display.COLOURS["update"]}' in page


def test_dump_result_is_a_short_repr_and_a_table_of_passes(tmp_path):
    res = cr.dump(models.mlp(), str(tmp_path / "d"), pipeline="gradient")
    assert len(repr(res)) < 300 and "report.html" in repr(res)  # it was the whole SVG text of every pass
    data = shown(res)
    assert data["text/plain"] == repr(res)
    page = data["text/html"]
    for s in res.steps:
        assert f"<td>{s.label}</td>" in page
    assert "+17 added" in page and 'href="' + res.report in page
    assert "grad_fc1.weight" in page  # the last step's picture or text


def test_pass_diff_shows_added_nodes_in_green(tmp_path):
    res = cr.dump(models.mlp(), str(tmp_path / "d"), pipeline="gradient", svg=False, html=False)
    d = res.diff("autodiff")
    data = shown(d)
    assert data["text/plain"].startswith("// ") and "autodiff" in data["text/plain"]
    assert "\n" not in data["text/plain"]
    assert '<span style="background:#d9f0d3">+ %grad_fc1.weight: f32[8,4] = Gemm' in data["text/html"]
    with pytest.raises(cr.ChainruleError, match="no pass 'fusion'"):
        res.diff("fusion")


def test_explanation_is_text_and_displays_the_chain():
    e = cr.explain_grad(models.logistic_l2(), "w")
    assert isinstance(e, str) and "w̄ = z̄ ∂z/∂w + R̄ ∂R/∂w = z̄ x + R̄ w" in e
    data = shown(e)
    assert data["text/plain"].startswith("gradient of the loss %L_reg") and len(data["text/plain"]) < 120
    assert '<span style="background:#fbe0d0">  w̄ = z̄ ∂z/∂w + R̄ ∂R/∂w = z̄ x + R̄ w</span>' in data["text/html"]
    assert "<b>the chain, in the lecture" in data["text/html"]
