"""Small display faults found by trying the teaching tools as a new user: each one stays fixed."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.examples import models
from chainrule.frontends.cli.main import main
from chainrule.frontends.inspect.explain import explain_grad
from chainrule.frontends.python import nn as nn_module
from chainrule.frontends.train import plots


def _capture_figures(monkeypatch):
    figs, make = [], plots._figure
    monkeypatch.setattr(plots, "_figure", lambda w, h: figs.append(make(w, h)) or figs[-1])
    return figs


@pytest.mark.parametrize("units", [1, 3, 10, 64])
def test_feature_caption_fits_inside_the_picture(tmp_path, monkeypatch, units):
    """On a narrow grid (few units) the caption used to run past both edges of the figure."""
    pytest.importorskip("matplotlib")
    figs = _capture_figures(monkeypatch)
    plots.plot_first_layer(np.random.default_rng(0).normal(size=(units, 64)), str(tmp_path / "f.png"))
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    box, page = fig._suptitle.get_window_extent(renderer), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, (box, page)
    top_of_grid = max(ax.get_window_extent(renderer).y1 for ax in fig.axes)
    assert top_of_grid <= box.y0, "the caption overlaps the first row of images"
    assert "red: positive weight" in fig._suptitle.get_text().replace("\n", " ")


def test_train_without_hidden_layers_calls_the_weights_output_units(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    figs = _capture_figures(monkeypatch)
    assert main(["train", "--hidden", "", "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    titles = [f._suptitle.get_text().replace("\n", " ") for f in figs if f._suptitle is not None]
    title = next(t for t in titles if "units" in t)  # features.png (curves, confusion... come too)
    assert "of 10 output units" in title and "hidden units" not in title


def test_cost_memory_live_bytes_stay_under_the_planned_peak(capsys):
    assert main(["cost", "mlp", "--summary", "--memory"]) == 0
    out = capsys.readouterr().out
    live = [int(line.split()[-1].replace(",", "")) for line in out.splitlines()
            if line[:4].strip().isdigit() and line.split()[-1].replace(",", "").isdigit()]
    peak = int(next(ln for ln in out.splitlines() if ln.startswith("planned peak")).split()[-2].replace(",", ""))
    assert live and max(live) <= peak


def test_explain_batch_keeps_the_shape_of_a_small_input():
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    t = np.eye(3, dtype=np.float32)[[0, 2]]
    text = explain_grad(models.mlp(), "fc2.bias", batch={"x": x, "t": t})
    assert "x = [[0, 0.125, 0.25, 0.375], [0.5, 0.625, 0.75, 0.875]]" in text
    assert "t = [[1, 0, 0], [0, 0, 1]]" in text


def test_activation_modules_print_under_their_class_names():
    assert repr(cr.nn.ReLU()) == "ReLU()"
    assert repr(cr.nn.mlp([4, 8, 3])) == "Sequential(Linear(4, 8), ReLU(), Linear(8, 3))"
    assert cr.nn.mlp([4, 8, 3]).modules[1].name == "relu1"  # layer names are unchanged


def test_cr_nn_exports_its_modules_not_its_imports():
    public = set(cr.nn.__all__)
    assert not public & {"List", "Optional", "Tuple", "np", "annotations", "F", "DType", "GraphBuilder"}
    assert set(dir(cr.nn)) == public
    assert all(hasattr(cr.nn, name) for name in public)
    defined = {k for k, v in vars(nn_module).items() if not k.startswith("_") and getattr(
        v, "__module__", None) == nn_module.__name__ and callable(v)}
    assert defined <= public, f"defined in nn.py but not exported: {sorted(defined - public)}"
