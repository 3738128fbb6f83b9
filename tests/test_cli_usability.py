"""What a newcomer meets on the command line: quiet pipes, errors that name the flag or file,
defaults that train, and plots whose labels say what they show."""
import io
import os
import sys

import numpy as np
import pytest

from chainrule.frontends.train import checkpoint, plots

from chainrule.frontends.cli import main as cli, train as cli_train
from chainrule.frontends.train.checkpoint import CheckpointError


class _ClosedPipe(io.StringIO):
    def write(self, s):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_is_not_an_error(monkeypatch, capsys):
    # `chainrule examples all | head -2`: the reader leaves early; exit 0 without an error line
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert cli.main(["examples", "one_hot"]) == 0
    assert "Broken pipe" not in capsys.readouterr().err


@pytest.mark.parametrize("content, words", [(b"hello\n", "not a zip archive"), (None, "it is a folder")])
def test_a_checkpoint_that_is_not_an_npz_is_named_without_pickle_advice(tmp_path, content, words):
    path = tmp_path / "ck.npz"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        checkpoint.read(str(path))
    assert words in str(info.value) and "ck.npz" in str(info.value)
    assert "allow_pickle" not in str(info.value)


def test_run_and_export_refuse_a_text_file_as_npz(tmp_path, capsys):
    text = tmp_path / "in.npz"
    text.write_text("x = 1\n")
    rc = cli.main(["export", str(tmp_path / "step.ir"), "--params", str(text), "-o", str(tmp_path / "m.onnx")])
    # the IR file is missing, so that is named first; then with an IR file, the text .npz
    assert rc == 1 and "step.ir" in capsys.readouterr().err
    (tmp_path / "step.ir").write_text("graph g {\n  input %x: f32[2]\n  return %x\n}\n")
    rc = cli.main(["export", str(tmp_path / "step.ir"), "--params", str(text), "-o", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert rc == 1 and "in.npz" in err and "not a zip archive" in err and "allow_pickle" not in err


@pytest.mark.parametrize("flag, value, words", [
    ("--lr", "-1", "--lr must be in (0.0, ∞), got -1.0"),
    ("--momentum", "1", "--momentum must be in [0.0, 1.0), got 1.0"),
    ("--weight-decay", "-2", "--weight-decay must be in [0.0, ∞), got -2.0"),
    ("--test-fraction", "1.5", "--test-fraction must be in (0, 1), got 1.5"),
])
def test_train_range_errors_name_the_flag(tmp_path, capsys, flag, value, words):
    assert cli.main(["train", flag, value, "--epochs", "1", "--out", str(tmp_path)]) == 1
    assert words in capsys.readouterr().err


def test_default_learning_rate_trains_with_every_loss(tmp_path, capsys):
    # squared error with SGD at 0.1 (the cross-entropy default) diverged in epoch 2
    out = str(tmp_path / "sq")
    assert cli.main(["train", "--loss", "squared_error", "--epochs", "3", "--out", out]) == 0
    import json
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["config"]["lr"] == cli_train.DEFAULT_LR_SQUARED_ERROR_SGD
    assert summary["final"]["test_accuracy"] > 0.9


def _capture_figures(monkeypatch):
    figs = []
    make = plots._figure

    def spy(w, h):
        figs.append(make(w, h))
        return figs[-1]
    monkeypatch.setattr(plots, "_figure", spy)
    return figs


def test_curves_title_names_the_loss_and_epochs_are_whole_numbers(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    figs = _capture_figures(monkeypatch)
    history = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5, "test_accuracy": 0.4} for e in range(1, 8)]
    plots.plot_curves(history, str(tmp_path / "c.png"), loss="squared_error")
    loss_ax = figs[0].axes[0]
    assert loss_ax.get_title() == "loss (mean squared error)"
    ticks = [t for t in loss_ax.get_xticks() if 1 <= t <= 7]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_curves_of_a_run_stopped_in_its_first_epoch_say_so_without_a_warning(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import warnings
    figs = _capture_figures(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warned of a legend with nothing in it
        plots.plot_curves([], str(tmp_path / "c.png"))
    assert [t.get_text() for t in figs[0].axes[0].texts] == ["no epoch finished"]


def test_feature_picture_says_what_the_colours_mean(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    figs = _capture_figures(monkeypatch)
    plots.plot_first_layer(np.random.default_rng(0).normal(size=(10, 64)), str(tmp_path / "f.png"))
    title = figs[0]._suptitle.get_text()
    assert "10 hidden units" in title and "red: positive" in title and "blue: negative" in title


@pytest.mark.parametrize("argv, words", [
    (["cost", "--batch", "0"], "argument --batch: must be a whole number at least 1, got 0"),
    (["cost", "--batch", "-3"], "at least 1, got -3"),  # printed negative costs before
    (["explain", "--grad", "w", "logistic_l2", "--batch", "-2"], "argument --batch"),  # was a NumPy message
    (["inspect", "m.onnx", "--max-tensor-bytes", "-5"], "argument --max-tensor-bytes"),
])
def test_bad_numbers_are_usage_errors_naming_the_flag(capsys, argv, words):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize("command", ["dump", "explain", "cost", "examples"])
def test_help_text_has_no_markup_and_names_the_default_model(capsys, command):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert "``" not in out
    if command != "examples":
        assert "default mlp" in " ".join(out.split())


def test_run_and_grad_say_what_model_is(capsys):
    for command in ("run", "grad"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert "ONNX file" in capsys.readouterr().out


def test_png_into_a_missing_folder_is_a_usage_error_before_any_work(tmp_path, capsys):
    from chainrule.frontends.cli.main import main
    with pytest.raises(SystemExit) as exc:
        main(["cost", "mlp", "--memory", "--png", str(tmp_path / "no" / "t.png")])
    assert exc.value.code == 2
    assert "--png: cannot write" in capsys.readouterr().err
