"""The first day of a new user, through the CLI as a subprocess: train on raw digits, export, run in
onnxruntime; validation, early stopping, schedules, AdamW, your own model and data (CSV/NPZ files
written here), what a run shows and leaves, and the small things a newcomer trips over."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "chainrule.frontends.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def summary(folder):
    return json.loads((folder / "summary.json").read_text())


def raw_test_digits():
    X, y = cr.datasets.load_digits()  # pixel counts 0..16: sklearn.datasets.load_digits, unstandardised
    _, Xte, _, yte = cr.datasets.train_test_split(X, y, 0.2, seed=0)
    return Xte, yte


def test_train_then_export_classifies_raw_digits_in_onnxruntime_and_everything_agrees(tmp_path):
    import onnxruntime as ort
    r = cli("train", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("export", "chainrule-run", "-o", "m.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    Xte, yte = raw_test_digits()
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    ort_probs = sess.run(None, {sess.get_inputs()[0].name: Xte})[0]
    assert np.mean(ort_probs.argmax(axis=1) == yte) >= 0.95
    # the standardisation is in the model: constants mean and std at the head of model.ir
    text = (tmp_path / "chainrule-run" / "model.ir").read_text()
    assert "%preprocess.mean: f32[64] = Constant()" in text and "%preprocess.std: f32[64] = Constant()" in text
    # chainrule run on the exported file, and model.ir with the checkpoint's weights, agree on raw inputs
    np.savez(tmp_path / "in.npz", x=Xte)
    r = cli("run", "m.onnx", "--inputs", "in.npz", "--output", "out.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "out.npz") as z:
        run_probs = z[z.files[0]]
    g = cr.parse_graph(text)
    cr.checkpoint.load_weights(str(tmp_path / "chainrule-run" / "checkpoint.npz"), g)
    ir_probs = cr.compile(g)(Xte)
    np.testing.assert_allclose(run_probs, ort_probs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ir_probs, ort_probs, rtol=1e-4, atol=1e-5)
    s = summary(tmp_path / "chainrule-run")
    assert abs(s["final"]["test_accuracy"] - np.mean(ort_probs.argmax(axis=1) == yte)) < 1e-9


def test_validation_each_epoch_and_the_test_set_once(tmp_path):
    r = cli("train", "--epochs", "3", "--hidden", "16", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path / "run")
    assert all("val_loss" in h and "val_accuracy" in h and not any(k.startswith("test") for k in h)
               for h in s["history"])
    assert s["final"]["test_accuracy"] > 0.8 and s["final"]["val_accuracy"] > 0.8
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 3
    for ln in lines:  # progress: labelled loss, validation, lr, elapsed, ETA, steps per second
        assert re.search(r"loss \d+\.\d{4} \(epoch mean\) train_acc [\d.]+ val_loss [\d.]+ val_acc [\d.]+ lr 0\.1 \| "
                         r"[\d.]+s elapsed, ETA [\d.]+s, \d+ steps/s", ln), ln
    r = cli("train", "--epochs", "1", "--hidden", "8", "--val-fraction", "0", "--out", "noval", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "val_loss" not in summary(tmp_path / "noval")["history"][0]
    assert not (tmp_path / "noval" / "best.npz").exists()


def test_patience_stops_early_and_the_best_epoch_is_the_model(tmp_path):
    r = cli("train", "--epochs", "60", "--hidden", "32", "--patience", "2", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path / "run")
    assert s["stopped"]["reason"].startswith("early stopping: val_loss did not improve for 2 epochs")
    assert len(s["history"]) < 60 and s["stopped"]["epoch"] == len(s["history"])
    best = min(s["history"], key=lambda h: h["val_loss"])
    assert s["best_epoch"] == best["epoch"] == len(s["history"]) - 2
    meta, best_arrays = cr.checkpoint.read(str(tmp_path / "run" / "best.npz"))
    assert meta["epoch"] == best["epoch"]
    assert abs(s["final"]["val_accuracy"] - best["val_accuracy"]) < 1e-9  # the final numbers are the best epoch's
    # export takes the best epoch's weights
    r = cli("export", "run", "-o", "m.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import onnx
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "m.onnx")).graph.initializer}
    np.testing.assert_array_equal(inits["fc1.weight"], best_arrays["fc1.weight"])


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "warmup-cosine"])
def test_lr_schedule_flag_records_the_rate_of_each_epoch(tmp_path, schedule):
    r = cli("train", "--epochs", "3", "--hidden", "8", "--batch-size", "256", "--lr-schedule", schedule,
            "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path / "run")
    batches = -(-len(cr.datasets.train_test_split(*raw_train(), 0.1, seed=0)[0]) // 256)
    total = 3 * batches
    sched = {"constant": cr.optim.ConstantLR(), "step": cr.optim.StepLR(batches), "cosine": cr.optim.CosineLR(total),
             "warmup-cosine": cr.optim.WarmupCosineLR(batches, total)}[schedule]
    np.testing.assert_allclose([h["lr"] for h in s["history"]], [sched.value(0.1, e * batches) for e in range(3)],
                               rtol=1e-6)
    ir = (tmp_path / "run" / "train_step.ir").read_text()
    assert "state %lr: f32[]" in ir and ("update %lr <- %new_lr" in ir) == (schedule != "constant")


def raw_train():
    X, y = cr.datasets.load_digits()
    Xtr, _, ytr, _ = cr.datasets.train_test_split(X, y, 0.2, seed=0)
    return Xtr, ytr


def test_adamw_flag_decays_outside_the_loss(tmp_path):
    r = cli("train", "--optimizer", "adamw", "--weight-decay", "0.05", "--epochs", "10", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path / "run")
    assert s["config"]["optimizer"] == "adamw" and s["config"]["lr"] == 0.001
    assert s["final"]["test_accuracy"] > 0.9
    ir = (tmp_path / "run" / "train_step.ir").read_text()
    assert "%weight_decay: f32[] = Constant() {value=dense<f32[]>0.05}" in ir
    assert "ReduceSum(%square" not in ir  # no ½λΣw² term in the loss


MODEL_PY = """import chainrule as cr
{define}
"""


@pytest.mark.parametrize("define", [
    "model = cr.nn.Sequential(cr.nn.Linear(64, 24, seed=1), cr.nn.Tanh(), cr.nn.Linear(24, 10, seed=2))",
    "def model():\n    return cr.nn.Sequential(cr.nn.Linear(64, 24, seed=1), cr.nn.Tanh(), cr.nn.Linear(24, 10, seed=2))",
], ids=["variable", "function"])
def test_train_a_model_file(tmp_path, define):
    (tmp_path / "my_model.py").write_text(MODEL_PY.format(define=define))
    r = cli("train", "my_model.py", "--epochs", "5", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path / "run")
    assert s["final"]["test_accuracy"] > 0.9 and s["config"]["model"].endswith("my_model.py")
    text = (tmp_path / "run" / "model.ir").read_text()
    assert "%preprocess.mean" in text and "Tanh" in text
    assert cli("export", "run", "-o", "m.onnx", cwd=tmp_path).returncode == 0


def test_model_file_errors_are_one_line(tmp_path):
    (tmp_path / "bad.py").write_text("x = 1\n")
    r = cli("train", "bad.py", cwd=tmp_path)
    assert r.returncode == 1 and "bad.py: defines no `model`" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "m.py").write_text(MODEL_PY.format(define="model = cr.nn.mlp([64, 10])"))
    r = cli("train", "m.py", "--hidden", "8", cwd=tmp_path)
    assert r.returncode == 1 and "defines its own model" in r.stderr


def _blobs(n=150, seed=0):
    """Three well separated classes in 5 features, raw (far from mean 0, std 1)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 5)) + 6 * np.eye(3, 5)[y] + 100.0
    return X.astype(np.float32), y


def test_train_on_a_csv_file_with_a_label_column(tmp_path):
    X, y = _blobs()
    rows = ["f0,kind,f1,f2,f3,f4"] + [f"{a:.4f},{c}," + ",".join(f"{v:.4f}" for v in rest)
                                      for (a, *rest), c in zip(X, y)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    r = cli("train", "--data", "d.csv", "--label-column", "kind", "--epochs", "30", "--hidden", "8", "--out", "run",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path / "run")
    assert s["config"]["data"].startswith("file:") and s["final"]["test_accuracy"] >= 0.9
    # not images: the misclassified picture is skipped with the reason; the confusion matrix is drawn
    assert any(k.startswith("misclassified.png (5 input features are not a square image") for k in s["skipped"])
    assert "confusion.png" in s["files"]


def test_train_on_an_npz_file(tmp_path):
    X, y = _blobs(seed=1)
    np.savez(tmp_path / "d.npz", X=X.reshape(-1, 5, 1), y=y)  # any shape per example: flattened
    r = cli("train", "--data", "d.npz", "--epochs", "30", "--hidden", "8", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path / "run")["final"]["test_accuracy"] >= 0.9


@pytest.mark.parametrize("name, content, message", [
    ("a.csv", "x,label\n1,0\n2,1\n3\n", "a.csv: row 4 has 1 values, the header has 2 columns"),
    ("b.csv", "x,label\n1,0\nabc,1\n", "b.csv: row 3, column 'x': 'abc' is not a number"),
    ("c.csv", "x,label\n1,0\n2,1.5\n", "c.csv: row 3, column 'label': the class label must be a whole number"),
    ("d.csv", "1,2\n3,4\n", "d.csv: row 1 is all numbers; the first row must be a header"),
    ("e.npz", None, "e.npz: no array 'y' (it has: X)"),
    ("f.txt", "x\n", "f.txt: give a .csv file"),
])
def test_bad_data_files_name_file_row_and_column(tmp_path, name, content, message):
    if content is None:
        np.savez(tmp_path / name, X=np.ones((3, 2)))
    else:
        (tmp_path / name).write_text(content)
    r = cli("train", "--data", name, "--out", "run", cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = cli("train", "--data", "a.csv", "--label-column", "nope", cwd=tmp_path) if name == "a.csv" else None
    if r is not None:
        assert "no column 'nope' for --label-column (the columns are x, label)" in r.stderr


def test_a_nan_stop_still_writes_summary_and_curves_with_the_reason(tmp_path):
    r = cli("train", "--epochs", "3", "--lr", "1e30", "--momentum", "0", "--out", "run", cwd=tmp_path)
    assert r.returncode == 1 and "the loss is nan" in r.stderr
    s = summary(tmp_path / "run")
    assert s["stopped"]["reason"] == "non-finite loss in epoch 1" and "the loss is nan" in s["stopped"]["error"]
    assert s["final"] is None and (tmp_path / "run" / "curves.png").exists()


def test_huge_losses_print_in_scientific_notation():
    from chainrule.frontends.cli.train import number
    assert number(1879947536720812756055479210213376.0) == "1.880e+33"
    assert number(0.25) == "0.2500"


def test_weights_only_checkpoint_loading_for_inference(tmp_path):
    r = cli("train", "--epochs", "2", "--hidden", "16", "--optimizer", "adam", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    model = cr.nn.mlp([64, 16, 10])  # no optimizer, no Adam state: only the weights
    assert cr.checkpoint.load_weights(str(tmp_path / "run" / "checkpoint.npz"), model) == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    _, arrays = cr.checkpoint.read(str(tmp_path / "run" / "checkpoint.npz"))
    exe = cr.compile(model)
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    w1, b1, w2, b2 = (arrays[k] for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))
    np.testing.assert_allclose(exe(x), np.maximum(x @ w1.T + b1, 0) @ w2.T + b2, rtol=1e-5, atol=1e-5)
    with pytest.raises(cr.checkpoint.CheckpointError, match="fc1.weight is float32"):
        cr.checkpoint.load_weights(str(tmp_path / "run" / "checkpoint.npz"), cr.nn.mlp([64, 8, 10]))


def test_a_misspelt_option_gets_the_subcommands_usage_and_a_suggestion(tmp_path):
    r = cli("train", "--hiden", "8", cwd=tmp_path)
    assert r.returncode == 2
    assert "unrecognized arguments: --hiden (did you mean --hidden?)" in r.stderr
    assert r.stderr.startswith("usage: chainrule train")


def test_hard_threshold_is_not_offered_by_train(tmp_path):
    r = cli("train", "--activation", "hard_threshold", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice: 'hard_threshold'" in r.stderr and "Traceback" not in r.stderr
    assert "hard_threshold" not in cli("train", "--help", cwd=tmp_path).stdout


def test_defaults_agree_between_commands_and_the_library():
    from chainrule.frontends.cli.main import build_parser
    p = build_parser()
    pipelines = {c: p.parse_args([c]).pipeline for c in ("dump", "cost")}
    assert pipelines == {"dump": "gradient", "cost": "gradient"}
    from chainrule.frontends.cli.train import DEFAULT_LR
    assert DEFAULT_LR["adam"] == cr.optim.Adam().lr and DEFAULT_LR["sgd"] == cr.optim.SGD().lr


def test_gitignore_names_the_folders_the_tools_write():
    import pathlib
    ignored = (pathlib.Path(__file__).resolve().parents[1] / ".gitignore").read_text().split()
    from chainrule.frontends.cli.main import build_parser
    p = build_parser()
    assert p.parse_args(["train"]).out + "/" in ignored and p.parse_args(["dump"]).out + "/" in ignored
