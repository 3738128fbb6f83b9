"""``chainrule import / inspect / export / run / grad`` through ``main([...])`` and one subprocess."""
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.cli.main import main


def _loss_model(path, rng):
    """L = mean((x W + b)²) with W, b float initializers and an int shape initializer."""
    w = rng.standard_normal((3, 2)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["z"]),
             helper.make_node("Mul", ["z", "z"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["L"], keepdims=0)]
    g = helper.make_graph(nodes, "lossy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("L", TensorProto.FLOAT, [])],
                          initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    path.write_bytes(m.SerializeToString())
    return w, b


def test_import_and_inspect_print_summary_and_ir(tmp_path, rng, capsys):
    _loss_model(tmp_path / "m.onnx", rng)
    for cmd in ("import", "inspect"):
        assert main([cmd, str(tmp_path / "m.onnx")]) == 0
        out = capsys.readouterr().out
        assert "opset ai.onnx 18" in out and "graph lossy {" in out and "MatMul(%x, %W)" in out


def test_run_writes_outputs_keyed_by_name(tmp_path, rng):
    w, b = _loss_model(tmp_path / "m.onnx", rng)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    assert main(["run", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "in.npz"),
                 "--output", str(tmp_path / "out.npz")]) == 0
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["L"], np.mean((x @ w + b) ** 2), rtol=1e-5)


def test_grad_matches_the_formula(tmp_path, rng):
    w, b = _loss_model(tmp_path / "m.onnx", rng)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    assert main(["grad", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "in.npz"),
                 "--output", str(tmp_path / "g.npz")]) == 0
    g = np.load(tmp_path / "g.npz")
    z = x @ w + b
    dz = 2 * z / z.size  # L̄ = 1, z̄ = 2z / n
    np.testing.assert_allclose(g["W"], x.T @ dz, rtol=1e-4)
    np.testing.assert_allclose(g["b"], dz.sum(0), rtol=1e-4)
    assert main(["grad", str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "in.npz"),
                 "--output", str(tmp_path / "g2.npz"), "--wrt", "b"]) == 0
    assert list(np.load(tmp_path / "g2.npz")) == ["b"]


def test_export_an_ir_file_with_checkpoint_arrays(tmp_path, rng):
    step = cr.compile_train(cr.nn.Sequential(cr.nn.Linear(3, 2)), optimizer=cr.optim.SGD(lr=0.1))
    (tmp_path / "train_step.ir").write_text(cr.print_graph(step.graph))
    cr.checkpoint.save(str(tmp_path / "checkpoint.npz"), step)
    assert main(["export", str(tmp_path / "train_step.ir"), "--params", str(tmp_path / "checkpoint.npz"),
                 "-o", str(tmp_path / "step.onnx")]) == 0
    g = cr.import_onnx(str(tmp_path / "step.onnx"))
    assert str(g) == str(step.graph)


@pytest.mark.parametrize("argv, message", [
    (["run", "{d}/missing.onnx", "--inputs", "{d}/in.npz", "--output", "{d}/o.npz"], "no such file"),
    (["run", "{d}/m.onnx", "--inputs", "{d}/missing.npz", "--output", "{d}/o.npz"], "no such file"),
    (["run", "{d}/m.onnx", "--inputs", "{d}/bad.npz", "--output", "{d}/o.npz"], "missing input(s) x"),
    (["grad", "{d}/m.onnx", "--inputs", "{d}/in.npz", "--output", "{d}/o.npz", "--wrt", "nope"], "--wrt nope"),
    (["import", "{d}/text.onnx"], "not a valid ONNX model"),
])
def test_bad_input_is_one_line_error(tmp_path, rng, capsys, argv, message):
    _loss_model(tmp_path / "m.onnx", rng)
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 3), np.float32))
    np.savez(tmp_path / "bad.npz", y=np.zeros((2, 3), np.float32))
    (tmp_path / "text.onnx").write_text("hello, this is not a model\n")
    assert main([a.format(d=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_subprocess_exit_status(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "chainrule.frontends.cli.main", "inspect", str(tmp_path / "empty.onnx")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "empty" in r.stderr and "Traceback" not in r.stderr


# -- chainrule export RUN_DIR: the model chainrule train wrote --------------------------------------
@pytest.mark.parametrize("flags", [["--hidden", "16", "--epochs", "2"],
                                   ["--hidden", "12,8", "--activation", "tanh", "--optimizer", "adam",
                                    "--loss", "squared_error", "--epochs", "1"]])
def test_export_run_folder_predicts_like_the_trained_step(tmp_path, flags):
    import onnx
    import onnxruntime as ort
    from chainrule.frontends.train import checkpoint, datasets
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "chainrule.frontends.cli.main", "train", *flags, "--batch-size", "64",
                        "--out", str(run)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "model.onnx"
    r = subprocess.run([sys.executable, "-m", "chainrule.frontends.cli.main", "export", str(run), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "the trained model of" in r.stdout
    onnx.checker.check_model(str(out), full_check=True)
    # the model chainrule train trained takes raw pixels: its model.ir starts with the standardisation
    X, y = datasets.load_digits()
    _, Xte, _, yte = datasets.train_test_split(X, y, 0.2, seed=0)
    g = cr.parse_graph((run / "model.ir").read_text())
    assert "%preprocess.mean" in str(g) and "%preprocess.std" in str(g)
    checkpoint.load_weights(str(run / "checkpoint.npz"), g)
    want = cr.compile(g)(Xte)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: Xte})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.mean(np.argmax(got, axis=1) == np.argmax(want, axis=1)) == 1.0
    assert sess.get_inputs()[0].shape[0] == "N"  # symbolic batch


def test_export_run_folder_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "empty"), "-o", str(tmp_path / "m.onnx")]) != 0
    assert "no checkpoint.npz in this folder" in capsys.readouterr().err
    (tmp_path / "s.ir").write_text("graph g {\n}\n")
    assert main(["export", str(tmp_path / "s.ir"), "-o", str(tmp_path / "m.onnx")]) != 0
    err = capsys.readouterr().err
    assert "needs --params" in err and "Traceback" not in err
