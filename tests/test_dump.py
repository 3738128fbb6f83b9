"""cr.dump: per-pass IR text, diffs with stable node identities, DOT/SVG, the HTML report."""
import os

import pytest
from golden import check_golden

import chainrule as cr
from chainrule.examples import models
from chainrule.frontends.inspect.dot import have_dot, to_dot
from chainrule.frontends.inspect.dump import dump
from chainrule.frontends.inspect.irdiff import diff_graphs, diff_texts, format_diff


def test_dump_l2_gradient_folder_matches_golden(tmp_path):
    res = dump(models.logistic_l2(), str(tmp_path), pipeline="gradient", svg=False)
    labels = [s.label for s in res.steps]
    assert labels == ["00-input", "01-infer-shapes", "02-toposort", "03-fuse-softmax-ce", "04-autodiff", "05-dce"]
    for lab in labels:
        for ext in ("ir", "diff"):
            with open(tmp_path / f"{lab}.{ext}", encoding="utf-8") as f:
                check_golden(f"dump_l2.{lab}" + (".diff" if ext == "diff" else ""), f.read())
    assert os.path.exists(tmp_path / "report.html")


def test_dump_is_deterministic(tmp_path):
    a = dump(models.mlp(), str(tmp_path / "a"), pipeline="gradient", svg=False)
    b = dump(models.mlp(), str(tmp_path / "b"), pipeline="gradient", svg=False)
    assert [(s.text, s.diff, s.dot) for s in a.steps] == [(s.text, s.diff, s.dot) for s in b.steps]


def test_autodiff_diff_names_the_rule_and_keeps_forward_nodes():
    g = models.logistic_l2()
    before = cr.print_graph(g)
    exe = cr.compile(g, "gradient")
    d = diff_texts(before, cr.print_graph(exe.graph), "autodiff", "in", "out")
    added = {c.name: c for c in d.changes if c.kind == "added"}
    assert not [c for c in d.changes if c.kind == "removed"]  # forward nodes keep their identity
    assert "grad_w" in added and "multivariate chain rule" in added["grad_w"].why
    assert "σ′(z)" in added["grad_z"].why and added["grad_z"].phase == "backward"
    assert "+ return %L_reg, %grad_w, %grad_b" in format_diff(d)


def test_diff_reports_removed_and_rewritten_nodes():
    a = cr.parse_graph("graph g {\n input %x: f32[2]\n %a: f32[2] = Exp(%x)\n %b: f32[2] = Sin(%x)\n"
                       " %c: f32[2] = Add(%a, %b)\n return %c\n}\n")
    b = cr.parse_graph("graph g {\n input %x: f32[2]\n %b: f32[2] = Sin(%x)\n"
                       " %c: f32[2] = Mul(%b, %b)\n return %c\n}\n")
    d = diff_graphs(a, b, "rewrite")
    kinds = {(c.kind, c.name) for c in d.changes}
    assert kinds == {("removed", "a"), ("rewritten", "c")}
    text = format_diff(d)
    assert "- %a: f32[2] = Exp(%x)" in text and "    was: %c: f32[2] = Add(%a, %b)" in text
    assert "removed by rewrite" in text


def test_dot_colours_phases_and_labels_shapes():
    exe = cr.compile(models.logistic_l2(), "gradient")
    dot = to_dot(exe.graph)
    assert '"n:grad_z" [label="Mul\\n%grad_z", shape=box, fillcolor="#fbe0d0"]' in dot  # backward colour
    assert '"n:z" [label="Add\\n%z", shape=box, fillcolor="#dbe9f6"]' in dot  # forward colour
    assert '"v:x" -> "n:mul" [label="f64[]"]' in dot


@pytest.mark.skipif(not have_dot(), reason="Graphviz not installed (README: apt-get install graphviz)")
def test_svgs_render_with_graphviz(tmp_path):
    res = dump(models.mlp(), str(tmp_path), pipeline="gradient")
    for s in res.steps:
        assert s.svg.lstrip().startswith("<?xml") or "<svg" in s.svg
        assert os.path.exists(tmp_path / f"{s.label}.svg")
    assert "grad_fc1.weight" in res.steps[-1].svg


def test_dump_of_a_module_through_the_gradient_pipeline_adds_a_loss(tmp_path):
    model = cr.nn.Sequential(cr.nn.Linear(3, 4, seed=0), cr.nn.ReLU(), cr.nn.Linear(4, 2, seed=1))
    res = dump(model, str(tmp_path), pipeline="gradient", svg=False, html=False)
    assert "SoftmaxCrossEntropy" in res.steps[0].text and "%grad_fc1.weight" in res.steps[-1].text


def test_dump_rejects_unknown_pipeline(tmp_path):
    with pytest.raises(cr.ChainruleError, match="unknown pipeline 'nope'"):
        dump(models.mlp(), str(tmp_path), pipeline="nope")


def test_fused_nodes_are_drawn_as_clusters_and_the_diff_shows_the_fusion(tmp_path):
    from chainrule.passes.basic import dce, infer_shapes, toposort
    from chainrule.passes.fuse_elementwise import fuse_elementwise
    passes = [infer_shapes, toposort, cr.Autodiff(), dce, fuse_elementwise]
    res = dump(models.logistic_l2(), str(tmp_path), pipeline=passes, svg=False, html=False)
    last = res.steps[-1]
    assert last.pass_name == "fuse-elementwise"
    assert 'subgraph "cluster_y"' in last.dot and '"%y = Sigmoid"' in last.dot
    assert "removed by fuse-elementwise" in last.diff and "~ %y: f64[] = Fused(" in last.diff


def test_dump_a_training_step_with_a_chosen_optimizer(tmp_path):
    """The optimizer pass's update nodes and state follow the chosen rule (here Adam)."""
    import chainrule as cr
    from chainrule.examples.models import logistic_l2
    res = cr.dump(logistic_l2(), str(tmp_path / "d"), pipeline="training", optimizer=cr.optim.Adam(lr=0.01), svg=False)
    opt = next(s for s in res.steps if s.pass_name == "optimizer")
    assert "state %adam.step" in opt.text and "state %w.m" in opt.text and "update %w <- " in opt.text
    assert "+ %new_adam.step" in opt.diff
    from chainrule.frontends.cli.main import main
    assert main(["dump", "logistic_l2", "--pipeline", "training", "--optimizer", "sgd", "--momentum", "0.9",
                 "-o", str(tmp_path / "s"), "--no-svg"]) == 0
    assert "state %w.velocity" in (tmp_path / "s" / "05-optimizer.ir").read_text()


def test_dump_prints_a_per_pass_time_table(tmp_path, capsys):
    from chainrule.frontends.cli import main as cli
    from chainrule.passes.manager import PassRecord, format_timing
    assert cli.main(["dump", "mlp", "--pipeline", "gradient", "-o", str(tmp_path / "d"), "--no-svg"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("pass "):]
    for name in ("infer-shapes", "toposort", "autodiff", "dce", "(verifier)", "total"):
        assert any(line.split()[0] == name for line in table.splitlines() if line.strip()), name
    text = format_timing([PassRecord("input", False, 0.0, verify_seconds=0.001),
                          PassRecord("a", True, 0.003, verify_seconds=0.0)])
    assert text.splitlines()[1:] == ["a               3.000   75.0%", "(verifier)      1.000   25.0%",
                                     "total           4.000  100.0%"]
