"""Cost ledger and memory timeline: the lecture's computational-cost rule, measured on the IR."""

import pytest

import chainrule as cr
from chainrule.examples import models
from chainrule.frontends.cli.main import main
from chainrule.passes.memory import plan_memory
from chainrule.frontends.inspect.cost import (cost_ledger, format_ledger, memory_timeline, mlp_gradient_graph,
                                      mlp_scaling, plot_timeline)


def test_backward_costs_about_two_forwards_per_weight():
    led = cost_ledger(mlp_gradient_graph([64, 64, 64, 64], input_grad=True), {"N": 32})
    assert 1.9 < led.backward_forward_ratio < 2.1
    # without x̄ the first layer's backward is one multiply-add per weight, so the ratio drops
    led2 = cost_ledger(mlp_gradient_graph([64, 64, 64, 64]), {"N": 32})
    assert 1.4 < led2.backward_forward_ratio < led.backward_forward_ratio


def test_gemm_ledger_row_counts_one_madd_per_weight_per_example():
    led = cost_ledger(mlp_gradient_graph([8, 4, 3]), {"N": 5})
    rows = {r.name: r for r in led.rows}
    assert rows["fc1"].madds == 5 * 8 * 4 and rows["fc1"].phase == "forward"
    assert rows["grad_fc1.weight"].madds == 5 * 8 * 4 and rows["grad_fc1.weight"].phase == "backward"
    assert rows["fc1"].written == 5 * 4 * 4  # f32[5,4]
    text = format_ledger(led)
    assert "backward / forward multiply-adds = " in text and "total" in text


def test_cost_is_linear_in_layers_and_quadratic_in_units():
    by_depth, by_width = mlp_scaling(depths=(2, 4, 8), widths=(32, 64, 128), batch=16)
    (d1, c1), (d2, c2), (d3, c3) = by_depth
    assert (c3 - c2) / (d3 - d2) == pytest.approx((c2 - c1) / (d2 - d1), rel=0.02)  # constant per layer
    assert by_width[1][1] / by_width[0][1] == pytest.approx(4, rel=0.1)  # doubling units: ×4
    assert by_width[2][1] / by_width[1][1] == pytest.approx(4, rel=0.05)


def test_memory_timeline_frees_after_last_use_and_reports_kept_values(tmp_path):
    g = mlp_gradient_graph([16, 8, 4])
    tl = memory_timeline(g, {"N": 4})
    assert len(tl.steps) == len(g.nodes)
    assert tl.lower_bound <= tl.planned_peak < tl.unplanned_peak
    plan = plan_memory(g, {"N": 4})  # the timeline is the memory plan's
    assert [s[3] for s in tl.steps] == plan.live_bytes and tl.planned_peak == plan.peak_bytes
    kept = [n for n, _ in tl.kept_for_backward]
    assert "sigmoid" in kept  # h is kept from forward: σ′(z) = h(1 − h) needs it
    if plot_timeline(tl, str(tmp_path / "m.png")):
        with open(tmp_path / "m.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_unbound_symbolic_dimension_is_a_clear_error():
    with pytest.raises(cr.ChainruleError, match="symbolic dimension"):
        cost_ledger(models.mlp())


def test_cli_cost(capsys, tmp_path):
    assert main(["cost", "mlp", "--summary", "--memory", "--png", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    assert "backward / forward multiply-adds" in out and "planned peak (buffers reused" in out
    assert main(["cost", "--scaling", "--batch", "8"]) == 0
    assert "(quadratic)" in capsys.readouterr().out


@pytest.mark.parametrize("sizes", [(4, 8, 3), (4, 8, 8, 3), (16, 8, 4)])
def test_live_bytes_never_exceed_the_planned_peak(sizes):
    """A value computed in place shares its input's buffer, so a step holds it once, not twice:
    the live bytes stay between the lower bound and the arena the plan allocates."""
    g = mlp_gradient_graph(list(sizes))
    plan = plan_memory(g, {"N": 32})
    assert plan.alias_of, "the MLP's backward pass has in-place steps"
    assert max(plan.live_bytes) == plan.lower_bound_bytes <= plan.peak_bytes
    step = plan.order.index(next(iter(plan.alias_of)))  # σ(z) overwrites z: no more bytes than before it
    assert plan.live_bytes[step] == plan.live_bytes[step - 1]


def test_memory_plot_steps_are_whole_numbers(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    figs = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figs.append(self), real(self, *a, **k))[1])
    assert plot_timeline(memory_timeline(mlp_gradient_graph([4, 8, 3]), {"N": 4}), str(tmp_path / "m.png"))
    ticks = [t for t in figs[0].axes[0].get_xticks() if 0 <= t <= 20]
    assert ticks and all(float(t).is_integer() for t in ticks)
