"""``chainrule train`` as a newcomer runs it: outputs, real PNGs, help, resume, guards, no matplotlib."""
import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from chainrule.frontends.cli import main as cli

FLAGS = ["--hidden", "--activation", "--loss", "--optimizer", "--lr", "--momentum", "--weight-decay", "--epochs",
         "--batch-size", "--seed", "--out", "--resume", "--check-numerics", "--mnist", "--test-fraction"]


def run_cli(args, cwd, code=None):
    cmd = [sys.executable, "-m", "chainrule.frontends.cli.main", *args] if code is None else [sys.executable, "-c", code]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24]), data


def test_newcomer_run_writes_every_output_and_real_plots(tmp_path):
    r = run_cli(["train", "--epochs", "3", "--out", "run"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout and "epoch   3/3" in r.stderr and "loss" in r.stderr
    out = tmp_path / "run"
    said = r.stdout.splitlines()[-1]  # the last line names every file written
    assert said.startswith("wrote ") and said.endswith(" to run")
    assert sorted(said[len("wrote "):-len(" to run")].split(", ")) == sorted(os.listdir(out))
    assert sorted(os.listdir(out)) == ["best.npz", "checkpoint.npz", "confusion.png", "curves.png", "features.png",
                                       "misclassified.png", "model.ir", "summary.json", "train_step.ir"]
    for name in ("curves.png", "features.png", "confusion.png", "misclassified.png"):
        (w, h), data = png_size(out / name)
        assert w >= 300 and h >= 300 and len(data) > 5000
        assert b"Matplotlib" in data  # the Software text chunk matplotlib writes
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs_run"] == 3 and len(summary["history"]) == 3 and summary["skipped"] == []
    assert summary["stopped"] == {"reason": "completed", "epoch": 3}
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"} <= set(summary["history"][0])
    assert summary["final"]["test_accuracy"] > 0.8
    ir = (out / "train_step.ir").read_text()
    assert "phase=update" in ir and "update %fc1.weight <- %new_fc1.weight" in ir


def test_default_run_reaches_95_percent_test_accuracy(tmp_path, capsys):
    assert cli.main(["train", "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final"]["test_accuracy"] >= 0.95
    assert "test accuracy" in capsys.readouterr().out


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in FLAGS:
        assert flag in text, flag


def test_without_matplotlib_the_run_succeeds_and_says_what_was_skipped(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "matplotlib" or name.startswith("matplotlib."):
                    raise ImportError("blocked for the test")
        sys.meta_path.insert(0, Block())
        from chainrule.frontends.cli import main as cli
        sys.exit(cli.main(["train", "--epochs", "1", "--out", {str(tmp_path / 'run')!r}]))
    """)
    r = run_cli([], cwd=tmp_path, code=code)
    assert r.returncode == 0, r.stderr
    assert "skipped curves.png (matplotlib is not installed" in r.stdout
    assert "skipped features.png" in r.stdout and "skipped confusion.png" in r.stdout
    assert sorted(os.listdir(tmp_path / "run")) == ["best.npz", "checkpoint.npz", "model.ir", "summary.json",
                                                    "train_step.ir"]
    assert len(json.loads((tmp_path / "run" / "summary.json").read_text())["skipped"]) == 4


def test_cli_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    common = ["train", "--hidden", "16", "--optimizer", "adam"]
    assert cli.main(common + ["--epochs", "3", "--out", str(tmp_path / "full")]) == 0
    assert cli.main(common + ["--epochs", "2", "--out", str(tmp_path / "half")]) == 0
    assert cli.main(common + ["--epochs", "3", "--out", str(tmp_path / "resumed"),
                              "--resume", str(tmp_path / "half" / "checkpoint.npz")]) == 0
    with np.load(tmp_path / "full" / "checkpoint.npz") as a, np.load(tmp_path / "resumed" / "checkpoint.npz") as b:
        assert a.files == b.files
        for k in a.files:
            if k != "__meta__":
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    full = json.loads((tmp_path / "full" / "summary.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert resumed["history"] == full["history"] and resumed["epochs_run"] == 1


def test_resume_with_other_settings_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--hidden", "8", "--epochs", "1", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    rc = cli.main(["train", "--hidden", "16", "--epochs", "2", "--out", str(tmp_path / "b"),
                   "--resume", str(tmp_path / "a" / "checkpoint.npz")])
    err = capsys.readouterr().err
    assert rc == 1 and "cannot resume with different settings (hidden: checkpoint [8], now [16])" in err


@pytest.mark.parametrize("args, match", [
    (["--hidden", "64,x"], "--hidden takes comma-separated layer sizes"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--lr", "-1"], "lr must be in"),
    (["--mnist", "no-such-folder"], "no train-images-idx3-ubyte"),
])
def test_bad_options_give_one_line_errors(tmp_path, capsys, args, match):
    assert cli.main(["train", "--out", str(tmp_path / "o"), *args]) == 1
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_non_finite_loss_stops_naming_the_step_and_check_numerics_names_the_node(tmp_path, capsys):
    args = ["train", "--epochs", "1", "--lr", "1e30", "--momentum", "0", "--out", str(tmp_path / "o")]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "epoch 1, training step 2: the loss is nan" in err and "--check-numerics" in err
    assert cli.main(args + ["--check-numerics"]) == 1
    assert "first non-finite value: node %fc2 (Gemm, forward phase)" in capsys.readouterr().err


def test_mnist_idx_folder_trains(tmp_path, capsys):
    from chainrule.frontends.train.datasets import save_idx
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        y = rng.integers(0, 3, n).astype(np.uint8)
        imgs = (rng.integers(0, 40, (n, 4, 4)) + 200 * (np.arange(16).reshape(4, 4) % 3 == y[:, None, None]))
        save_idx(str(tmp_path / f"{split}-images-idx3-ubyte.gz"), imgs.astype(np.uint8))
        save_idx(str(tmp_path / f"{split}-labels-idx1-ubyte"), y)
    assert cli.main(["train", "--mnist", str(tmp_path), "--epochs", "5", "--hidden", "8",
                     "--out", str(tmp_path / "o")]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["config"]["data"].startswith("mnist:") and summary["final"]["test_accuracy"] == 1.0


def test_mnist_idx_folder_trains_the_cnn(tmp_path):
    """``--model cnn`` on MNIST-format IDX files: 28×28 images, as the real MNIST has."""
    from chainrule.frontends.train.datasets import save_idx
    rng = np.random.default_rng(1)
    for split, n in (("train", 90), ("t10k", 30)):
        y = (np.arange(n) % 3).astype(np.uint8)
        bars = np.zeros((n, 28, 28))
        for k in range(3):   # class k: a bright horizontal bar in the k-th third of the image
            bars[y == k, 9 * k + 2:9 * k + 6, 4:24] = 220
        save_idx(str(tmp_path / f"{split}-images-idx3-ubyte"), (bars + rng.integers(0, 30, bars.shape)).astype(np.uint8))
        save_idx(str(tmp_path / f"{split}-labels-idx1-ubyte.gz"), y)
    out = tmp_path / "o"
    assert cli.main(["train", "--mnist", str(tmp_path), "--model", "cnn", "--epochs", "3", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["data"].startswith("mnist:") and summary["final"]["test_accuracy"] == 1.0
    assert "f32[N,1,28,28]" in (out / "model.ir").read_text()
    assert (out / "features.png").stat().st_size > 0   # the first layer's 3×3 filters


def test_a_model_file_that_does_not_fit_the_data_is_named(tmp_path):
    """Traced by ``chainrule train``, a model whose first layer does not take the data's features is
    reported against the model file, not the console script that started the process."""
    (tmp_path / "model.py").write_text("import chainrule as cr\n"
                                       "model = cr.nn.Sequential(cr.nn.Linear(10, 32), cr.nn.ReLU(), cr.nn.Linear(32, 10))\n")
    launcher = tmp_path / "chainrule"  # what pip writes for the console script
    launcher.write_text("import sys\nfrom chainrule.frontends.cli.main import main\nsys.exit(main())\n")
    r = subprocess.run([sys.executable, str(launcher), "train", "model.py", "--epochs", "1", "--out", "run"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "error: model.py: fc1 expects 10 input features, got a tensor of shape [N,64]" in r.stderr
    assert str(launcher) not in r.stderr and "Traceback" not in r.stderr


def test_a_model_file_that_raises_shows_its_own_traceback_only(tmp_path):
    (tmp_path / "typo.py").write_text("import chainrule as cr\nmodel = cr.nn.Linearr(64, 10)\n")
    r = run_cli(["train", "typo.py", "--epochs", "1", "--out", "run"], tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "error: typo.py failed while it ran:" in r.stderr and 'File "typo.py", line 2, in <module>' in r.stderr
    assert "AttributeError" in r.stderr and "frontends/" not in r.stderr  # none of chainrule's own frames
    assert not (tmp_path / "run").exists()  # nothing written for a model that did not load


def test_train_with_the_dataflow_executor_gives_the_sequential_runs_numbers(tmp_path):
    """``chainrule train --executor dataflow`` (README): the same history and parameters, bit for bit."""
    for ex in ("sequential", "dataflow"):
        assert cli.main(["train", "--epochs", "2", "--hidden", "16", "--executor", ex,
                         "--out", str(tmp_path / ex)]) == 0
    seq, dfl = (json.loads((tmp_path / ex / "summary.json").read_text()) for ex in ("sequential", "dataflow"))
    assert seq["history"] == dfl["history"] and seq["final"] == dfl["final"]
    assert (seq["config"]["executor"], dfl["config"]["executor"]) == ("sequential", "dataflow")
    assert seq["config"]["backend"] == "numpy"
    a, b = (np.load(tmp_path / ex / "checkpoint.npz") for ex in ("sequential", "dataflow"))
    assert sorted(a.files) == sorted(b.files)  # the parameters bit for bit (the metadata names the executor)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a.files if k != "__meta__")
