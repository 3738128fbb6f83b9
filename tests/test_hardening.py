"""Regression tests of the adversarial probe (silent wrong answers, memory bombs, parser
crashes, unsafe writes, unclear messages). Each test failed before its fix."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from onnx import TensorProto, helper

import chainrule as cr
from chainrule.ir import ChainruleError, InputError, ParseError, ResourceError, VerifyError
from chainrule.passes.memory import plan_memory
from chainrule.runtime import Interpreter, limits
from chainrule.runtime.executor import SequentialExecutor

PARAM_OUT = """graph g {
  input %x: f32[2]
  param %w: f32[2]
  %y: f32[2] = Mul(%x, %w)
  return %y, %w
}
"""


# -- silent wrong answers ------------------------------------------------------------------
@pytest.mark.parametrize("check_numerics", [False, True])
def test_interpreter_returns_a_copy_of_a_parameter_output(check_numerics):
    """``y, w_out = exe(x)``; ``w_out *= 0`` must not change the model."""
    w = np.array([2.0, 3.0], np.float32)
    exe = Interpreter(cr.parse_graph(PARAM_OUT), {"w": w}, check_numerics=check_numerics)
    x = np.ones(2, np.float32)
    y, w_out = exe.run_list([x])
    w_out *= 0
    assert w.tolist() == [2.0, 3.0]
    assert exe.run_list([x])[0].tolist() == [2.0, 3.0]


def test_verifier_refuses_two_updates_of_one_parameter():
    text = PARAM_OUT.replace("  return %y, %w\n", "  %z: f32[2] = Neg(%w)\n  return %y\n"
                             "  update %w <- %y\n  update %w <- %z\n")
    g = cr.parse_graph(text)
    with pytest.raises(VerifyError) as info:
        cr.verify(g)
    msg = str(info.value)
    assert "%w is updated twice" in msg and ">>   update %w <- %z" in msg


def _step(**kw):
    return cr.compile_train(cr.nn.mlp([4, 3], seed=0), **kw)


def test_evaluate_refuses_nan_inputs():
    """NaN rows used to be counted as class 0 and an accuracy returned."""
    x = np.ones((4, 4), np.float32)
    x[2, 1] = np.nan
    with pytest.raises(InputError, match=r"evaluate: x has 1 non-finite value.*row 2"):
        _step().evaluate(x, [0, 1, 2, 0])


def test_evaluate_refuses_zero_rows():
    """0 rows used to give nan."""
    with pytest.raises(InputError, match="evaluate: no examples"):
        _step().evaluate(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))


def test_empty_training_batch_is_an_input_error():
    """It used to say 'the parameters are now invalid... lower the learning rate'."""
    step = _step()
    w = step.params["fc1.weight"].copy()
    with pytest.raises(InputError, match="training step 1: the batch is empty"):
        step(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    assert np.array_equal(step.params["fc1.weight"], w) and step.steps == 0


def test_inf_label_is_named():
    """An Inf label was cast to class index -9223372036854775808."""
    with pytest.raises(InputError, match=r"class-index targets must be finite.*inf"):
        _step()(np.ones((2, 4), np.float32), np.array([0.0, np.inf]))


def test_none_in_an_input_list_is_an_input_error():
    """``exe([[1, 2, None, 4]])`` used to return NaN."""
    exe = cr.compile(cr.nn.Linear(4, 3))
    with pytest.raises(InputError, match=r"input %x: .*None"):
        exe([[1, 2, None, 4]])
    with pytest.raises(InputError, match=r"input %x: .*None"):
        Interpreter(exe.graph).run_list([[[1, 2, None, 4]]])


def _stable_softmax_ce(x, w, t):
    """float64 reference: mean over the batch of −Σₖ tₖ log softmax(x W)ₖ and its gradient in W."""
    z = x.astype(np.float64) @ w.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(x)
    return -(t * logp).sum() / n, x.T.astype(np.float64) @ ((np.exp(logp) - t) / n)


def test_gradient_pipeline_fuses_softmax_cross_entropy_for_large_logits():
    """``cross_entropy(softmax(x @ W), t)`` with logits ±100: the unfused gradient −t / softmax(z) gave
    loss inf and a NaN gradient (a probability underflows to 0 in f32); fused, it is exact."""
    b = cr.GraphBuilder("g", dtype="f32")
    x, t = b.input("x", ("N", 3)), b.input("t", ("N", 3))
    w = b.param("W", np.eye(3, dtype=np.float32))
    exe = cr.compile(b.build(cr.cross_entropy(cr.softmax(x @ w), t)), pipeline="gradient")
    assert "SoftmaxCrossEntropy" in [n.op.name for n in exe.graph.nodes]
    xv = np.array([[100, -100, 0], [-100, 100, 0]], np.float32)
    tv = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
    loss, grad = exe(xv, tv)
    assert loss == 200.0 and np.isfinite(grad).all()
    want_loss, want_grad = _stable_softmax_ce(xv, np.eye(3), tv)
    assert want_loss == 200.0
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-6)
    # random weights, logits of about ±100: still the stable float64 answer
    rng = np.random.default_rng(0)
    wv = rng.normal(size=(3, 3)).astype(np.float32)
    exe.params["W"][...] = wv
    xv = (rng.normal(size=(5, 3)) * 60).astype(np.float32)
    tv = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 5)]
    loss, grad = exe(xv, tv)
    want_loss, want_grad = _stable_softmax_ce(xv, wv, tv)
    assert np.isfinite(grad).all() and abs(loss - want_loss) <= 1e-5 * abs(want_loss)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-4 * np.abs(want_grad).max())


# -- checkpoints and .npz files --------------------------------------------------------------
from chainrule.frontends.train import checkpoint  # noqa: E402
from chainrule.frontends.train.checkpoint import CheckpointError  # noqa: E402


def _saved(tmp_path, meta=None, edit=None):
    """A checkpoint of a small step; ``edit(meta_dict, arrays)`` rewrites it in place."""
    step = _step()
    path = str(tmp_path / "ck.npz")
    checkpoint.save(path, step, meta)
    if edit is not None:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        info = json.loads(str(arrays.pop("__meta__")))
        info = edit(info, arrays)
        np.savez(path, __meta__=np.array(json.dumps(info)), **arrays)
    return path, step


def test_checkpoint_of_nan_weights_is_refused(tmp_path):
    def nan_weights(info, arrays):
        arrays["fc1.weight"][:] = np.nan
        return info
    path, step = _saved(tmp_path, edit=nan_weights)
    before = step.params["fc1.weight"].copy()
    with pytest.raises(CheckpointError, match=r"ck.npz: fc1.weight holds 12 non-finite values"):
        checkpoint.load(path, step)
    assert np.array_equal(step.params["fc1.weight"], before)


@pytest.mark.parametrize("edit, words", [
    (lambda info, a: [1, 2], "metadata is a list, not an object"),
    (lambda info, a: {**info, "history": 5}, "field 'history' must be a list"),
    (lambda info, a: {**info, "epoch": -1}, "field 'epoch' must be a whole number"),
    (lambda info, a: {**info, "batch": "x"}, "field 'batch' must be a whole number"),
    (lambda info, a: {**info, "steps": 1.5}, "field 'steps' must be a whole number"),
    (lambda info, a: {**info, "config": []}, "field 'config' must be an object"),
    (lambda info, a: {**info, "params": "fc1.weight"}, "field 'params' must be a list of names"),
])
def test_checkpoint_metadata_of_the_wrong_shape_is_refused(tmp_path, edit, words):
    path, step = _saved(tmp_path, edit=edit)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path, step)
    assert "ck.npz" in str(info.value) and words in str(info.value)


def test_resume_position_past_the_epoch_is_refused(tmp_path):
    """``batch=10**9`` used to skip the whole epoch silently."""
    path, _ = _saved(tmp_path, {"epoch": 0, "batch": 10**9, "history": []})
    meta = checkpoint.read(path)[0]
    with pytest.raises(CheckpointError, match=r"ck.npz: field 'batch' is 1000000000, but an epoch has 45 batches"):
        checkpoint.resume_point(path, meta, epochs=3, nbatches=45)
    assert checkpoint.resume_point(path, {**meta, "batch": 7}, epochs=3, nbatches=45) == (0, 7, [])


def test_resume_of_a_crafted_checkpoint_is_a_one_line_error(tmp_path, capsys):
    from chainrule.frontends.cli.main import main
    out = str(tmp_path / "run")
    assert main(["train", "--epochs", "1", "--hidden", "", "--batch-size", "512", "--out", out]) == 0
    ck = os.path.join(out, "checkpoint.npz")
    with np.load(ck) as z:
        arrays = {k: z[k] for k in z.files}
    info = json.loads(str(arrays.pop("__meta__")))
    np.savez(ck, __meta__=np.array(json.dumps({**info, "epoch": 0, "batch": 10**9})), **arrays)
    assert main(["train", "--epochs", "1", "--hidden", "", "--batch-size", "512", "--out", out, "--resume", ck]) == 1
    assert "field 'batch' is 1000000000" in capsys.readouterr().err


def _within(seconds, fn, fifo):
    """``fn()``'s exception, or a failure if it blocks for ``seconds`` (then the FIFO gets a writer
    that closes at once, so the blocked reader sees end-of-file and the thread ends)."""
    import threading
    got = []

    def run():
        try:
            fn()
            got.append(None)
        except BaseException as err:  # noqa: BLE001 - handed to the test
            got.append(err)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(seconds)
        pytest.fail(f"reading the FIFO {os.path.basename(fifo)} blocked for {seconds} s")
    return got[0]


def _fifo_readers():
    """Every place a file the user names is read: (label, file name, call on the path)."""
    from chainrule.frontends.cli import common, dump, train as cli_train
    from chainrule.frontends.cli.main import main
    ns = __import__("argparse").Namespace
    return [
        ("load_idx", "train-images-idx3-ubyte", cr.datasets.load_idx),
        ("load_mnist", "images", lambda p: cr.datasets.load_mnist(p, p)),
        ("load_csv", "data.csv", cr.datasets.load_csv),
        ("load_npz", "data.npz", cr.datasets.load_npz),
        ("load_digits", "digits.csv.gz", cr.datasets.load_digits),
        ("checkpoint", "ck.npz", checkpoint.read),
        ("cli read_npz", "in.npz", common.read_npz),
        ("import_onnx", "m.onnx", cr.import_onnx),
        ("dump model.py", "model.py", dump.load_model),
        ("train model.py", "net.py", cli_train._user_model),
        ("check", "g.ir", lambda p: main(["--debug", "check", p])),
        ("export", "s.ir", lambda p: __import__("chainrule.frontends.cli.export", fromlist=["x"]).run(
            ns(ir=p, params="p.npz", output="o.onnx"))),
        ("run inputs", "in.npz", lambda p: common.read_feeds(cr.compile(cr.nn.Linear(2, 2)).graph, p)),
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("label", [r[0] for r in _fifo_readers()])
def test_a_fifo_named_as_any_input_file_is_refused_without_hanging(tmp_path, label):
    """A FIFO nobody writes to used to block ``load_idx`` (and ``chainrule check`` said "no such file")."""
    _, name, read = next(r for r in _fifo_readers() if r[0] == label)
    fifo = str(tmp_path / name)
    os.mkfifo(fifo)
    err = _within(20, lambda: read(fifo), fifo)
    assert isinstance(err, ChainruleError), repr(err)
    assert str(err) == f"{fifo}: is not a regular file (it is a FIFO)" and "\n" not in str(err)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_chainrule_check_of_a_fifo_is_one_line_naming_it(tmp_path, capsys):
    from chainrule.frontends.cli.main import main
    fifo = str(tmp_path / "g.ir")
    os.mkfifo(fifo)
    rc = []
    assert _within(20, lambda: rc.append(main(["check", fifo])), fifo) is None
    err = capsys.readouterr().err
    assert rc == [1] and err == f"chainrule check: error: {fifo}: is not a regular file (it is a FIFO)\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_place_of_the_machine_cache_is_measured_over(tmp_path, monkeypatch):
    """The cost model's cache file is read through the same check: a FIFO there means "measure"."""
    from chainrule.runtime import costmodel
    monkeypatch.setenv(costmodel.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(costmodel, "_MACHINE", {})
    fifo = costmodel._cache_file(costmodel._key())
    os.mkfifo(fifo)
    assert _within(60, costmodel.calibrate, fifo) is None
    assert os.path.isfile(fifo)  # the measurement was written over it, atomically


def test_checkpoint_zip_bomb_is_refused_before_decompressing(tmp_path, monkeypatch):
    """The declared sizes in the zip directory are checked against the limit before any member is read."""
    path = str(tmp_path / "bomb.npz")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("__meta__.npy", b"\0" * (4 << 20))
    monkeypatch.setattr(limits, "_limit", [1 << 20])
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(a) or real_open(self, *a, **k))
    with pytest.raises(CheckpointError, match=r"bomb.npz: its members would unpack to 4.0 MiB, over the memory limit"):
        checkpoint.read(path)
    assert opened == []


def test_npy_header_larger_than_its_member_is_refused(tmp_path):
    """A .npy header declaring 10**12 elements in a small member: refused before allocating."""
    path = str(tmp_path / "big.npz")
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", buf.getvalue() + b"\0" * 16)
    from chainrule.frontends.cli.common import CliInputError, read_npz
    with pytest.raises(CliInputError, match=r"big.npz: member x declares float32\[1000000000000\]"):
        read_npz(path)


def _with_big_member(path, name, shape, listed=False):
    """Add member ``name`` (f4 zeros of ``shape``, deflated: a few KB per 4 MB) to checkpoint ``path``;
    ``listed``: also name it in the metadata's parameter list (a crafted file, not a damaged one)."""
    import io
    with np.load(path) as z:
        meta = json.loads(str(z["__meta__"]))
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    if listed:
        meta["params"] = meta["params"] + [name]
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z, z.open(f"{name}.npy", "w", force_zip64=True) as f:
        f.write(hdr.getvalue())
        left = 4 * int(np.prod(shape))
        while left:
            f.write(bytes(min(left, 1 << 24)))
            left -= min(left, 1 << 24)


@pytest.mark.parametrize("name, listed, words", [
    ("extra", True, "does not match this model and optimizer: unexpected extra"),
    ("fc1.weight.big", False, "damaged checkpoint"),
])
def test_a_checkpoint_member_the_model_does_not_have_is_refused_before_it_is_read(tmp_path, monkeypatch, name,
                                                                                   listed, words):
    """A 3 MB checkpoint with a 3 GiB member (under the 8 GiB default limit) reached 3.1 GB RSS on
    --resume: every member was unpacked before the metadata and the model's names were looked at."""
    from chainrule.frontends.train import npzfile
    path = str(tmp_path / "ck.npz")
    checkpoint.save(path, _step())
    _with_big_member(path, name, (1 << 20,), listed)
    unpacked, real = [], npzfile._member
    monkeypatch.setattr(npzfile, "_member", lambda z, info, h: unpacked.append(info.filename) or real(z, info, h))
    with pytest.raises(CheckpointError, match=words):
        checkpoint.load(path, _step())
    assert unpacked == ["__meta__.npy"]
    unpacked.clear()
    if listed:  # the metadata alone is fine: --resume reads it first, without any array
        assert name in checkpoint.read_meta(path)["params"]
    else:
        with pytest.raises(CheckpointError, match="damaged"):
            checkpoint.read_meta(path)
    assert unpacked == ["__meta__.npy"]


def test_a_checkpoint_member_of_the_wrong_shape_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from chainrule.frontends.train import npzfile
    path = str(tmp_path / "ck.npz")
    step = _step()
    checkpoint.save(path, step)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    del arrays["fc1.weight"]
    np.savez(path, **arrays)
    _with_big_member(path, "fc1.weight", (1 << 20,))
    unpacked, real = [], npzfile._member
    monkeypatch.setattr(npzfile, "_member", lambda z, info, h: unpacked.append(info.filename) or real(z, info, h))
    with pytest.raises(CheckpointError, match=r"fc1.weight is float32\[1048576\] in the checkpoint but "
                                              r"float32\[3, 4\]"):
        checkpoint.load(path, _step())
    assert unpacked == ["__meta__.npy"]
    unpacked.clear()
    assert checkpoint.read_meta(path)["format"] == checkpoint.FORMAT and unpacked == ["__meta__.npy"]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc (Linux)")
def test_resuming_from_a_checkpoint_bomb_stays_small(tmp_path):
    """The whole --resume path, in a fresh process: a 512 MiB member in a 600 KB file."""
    import subprocess
    import sys
    out = str(tmp_path / "run")
    from chainrule.frontends.cli.main import main
    assert main(["train", "--epochs", "1", "--hidden", "", "--batch-size", "512", "--out", out]) == 0
    ck = os.path.join(out, "checkpoint.npz")
    _with_big_member(ck, "extra", (1 << 27,), listed=True)
    assert os.path.getsize(ck) < 1 << 20
    code = ("import chainrule\nfrom chainrule.frontends.cli.main import main\n"
            f"rc = main(['train', '--epochs', '1', '--hidden', '', '--batch-size', '512', '--out', {out!r}, "
            f"'--resume', {ck!r}])\n"
            # VmHWM: this process's own peak (ru_maxrss would count the pytest process it was spawned from)
            "peak = next(int(s.split()[1]) for s in open('/proc/self/status') if s.startswith('VmHWM:'))\n"
            "print(chainrule.__file__, rc, peak)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(cr.__file__)))  # this chainrule, whatever the cwd
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                       env={**os.environ, "PYTHONPATH": root})
    where, rc, rss_kib = r.stdout.split()[-3:]
    assert os.path.samefile(where, cr.__file__), where
    assert rc == "1" and "unexpected extra" in r.stderr, r.stderr[-2000:]
    assert int(rss_kib) < 400 << 10, f"peak RSS {int(rss_kib) >> 10} MiB"  # about 150; the member alone is 512


def test_an_idx_gzip_bomb_is_refused_from_its_header_before_it_is_unpacked(tmp_path, monkeypatch):
    """A 300 KB .gz whose IDX header declares 256 MiB: checked against the memory limit before unpacking
    (gzip.decompress unpacked all of it first: 4.2 GB RSS for a 2 GiB file)."""
    import gzip
    from chainrule.frontends.train import datasets
    path = str(tmp_path / "train-images-idx3-ubyte.gz")
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([1 << 12, 256, 256], ">u4").tobytes())
        for _ in range(16):
            f.write(bytes(1 << 24))
    assert os.path.getsize(path) < 1 << 20
    monkeypatch.setattr(limits, "_limit", [64 << 20])
    unpacked, real = [], datasets._Gunzip.read
    monkeypatch.setattr(datasets._Gunzip, "read", lambda self, n: unpacked.append(n) or real(self, n))
    with pytest.raises(cr.datasets.DatasetError, match=r"declares shape \[4096, 256, 256\] of uint8 \(256.0 MiB\), "
                                                       r"over the memory limit of 64.0 MiB"):
        cr.datasets.load_idx(path)
    assert sum(unpacked) == 16  # the magic and three dimensions, nothing more


def test_an_idx_file_still_loads_plain_gzipped_and_in_two_gzip_members(tmp_path):
    import gzip
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    for name in ("a-idx", "a-idx.gz"):
        cr.datasets.save_idx(str(tmp_path / name), a)
        assert np.array_equal(cr.datasets.load_idx(str(tmp_path / name)), a)
    raw = (tmp_path / "a-idx").read_bytes()
    (tmp_path / "two.gz").write_bytes(gzip.compress(raw[:10]) + gzip.compress(raw[10:]))
    assert np.array_equal(cr.datasets.load_idx(str(tmp_path / "two.gz")), a)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:-12])
    with pytest.raises(cr.datasets.DatasetError, match="cut.gz: corrupt or truncated gzip data"):
        cr.datasets.load_idx(str(tmp_path / "cut.gz"))
    (tmp_path / "long.gz").write_bytes(gzip.compress(raw + b"x"))
    with pytest.raises(cr.datasets.DatasetError, match="long.gz: IDX data has trailing bytes"):
        cr.datasets.load_idx(str(tmp_path / "long.gz"))


# -- memory ------------------------------------------------------------------------------------
def test_one_hot_kernel_does_not_build_an_identity_matrix(monkeypatch):
    """np.eye(depth) made memory grow with the square of the class count."""
    monkeypatch.setattr(np, "eye", lambda *a, **k: pytest.fail("OneHot built np.eye"))
    for outside in ("error", "zeros"):
        k = cr.OPS["OneHot"].kernel({"depth": 50_000, "dtype": cr.DType.f32, "out_of_range": outside})
        y = k(np.array([[3, 49_999]]))
        assert y.shape == (1, 2, 50_000) and y.dtype == np.float32
        assert y.sum() == 2 and y[0, 0, 3] == 1 and y[0, 1, 49_999] == 1


STATIC_BIG = "graph big {\n  input %x: f32[1000,1000]\n  %y: f32[1000,1000] = Exp(%x)\n  return %y\n}\n"


def test_memory_limit_is_checked_for_an_all_static_graph(monkeypatch):
    monkeypatch.setattr(limits, "_limit", [1 << 20])
    with pytest.raises(ResourceError, match=r"graph big would need 7.6 MiB of live values, over the memory limit of 1.0 MiB"):
        Interpreter(cr.parse_graph(STATIC_BIG)).run_list([np.zeros((1000, 1000), np.float32)])


def test_check_memory_is_the_hook_the_executors_call(monkeypatch):
    monkeypatch.setattr(limits, "_limit", [1 << 20])
    g = cr.parse_graph(STATIC_BIG.replace("1000,1000", "N,1000"))
    assert limits.peak_live_bytes(g, {"N": 10}) == 2 * 10 * 1000 * 4
    limits.check_memory(g, {"N": 10})
    with pytest.raises(ResourceError, match="graph big with N=1000 would need"):
        limits.check_memory(g, {"N": 1000})


def _onnx(nodes, shape):
    g = helper.make_graph(nodes, "bomb", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def test_a_static_tebibyte_graph_is_a_resource_error_in_the_sequential_executor(monkeypatch):
    """The executor checks the memory limit before it allocates its arena (not a raw MemoryError)."""
    m = _onnx([helper.make_node("Relu", ["x"], ["h"], name="r"), helper.make_node("Neg", ["h"], ["y"], name="n")],
              [1 << 20, 1 << 18])
    g = cr.import_onnx(m, max_tensor_bytes=1 << 62)
    exe = SequentialExecutor(g, planner=plan_memory)
    with pytest.raises(ResourceError, match=r"graph bomb would need 3.0 TiB of live values, over the memory limit"):
        exe.prepared(())
    monkeypatch.setattr(limits, "_limit", [1 << 20])  # and a static graph over a small limit
    small = cr.import_onnx(_onnx([helper.make_node("Relu", ["x"], ["y"], name="r")], [1000, 1000]))
    with pytest.raises(ResourceError, match="over the memory limit of 1.0 MiB"):
        SequentialExecutor(small, planner=plan_memory).prepared(())
    x = np.broadcast_to(np.float32(0), (1 << 20, 1 << 18))  # the public path: a 1 TiB input of no memory
    for executor in ("sequential", "dataflow"):
        with pytest.raises(ChainruleError, match="TiB of live values"):
            cr.compile(g, executor=executor)(x)


@pytest.mark.parametrize("text", ["inf", "1e400", "nan", "-5"])
def test_a_memory_limit_that_is_not_a_finite_size_is_refused(monkeypatch, text):
    monkeypatch.setenv("CHAINRULE_MEMORY_LIMIT", text)
    monkeypatch.setattr(limits, "_limit", [None])
    with pytest.raises(ResourceError, match="cannot read memory size"):
        limits.memory_limit()


# -- the IR parser -----------------------------------------------------------------------------
GOOD = "graph g {\n  input %x: f32[2,3]\n  %y: f32[2,3] = Relu(%x)\n  return %y\n}\n"


def test_parse_graph_accepts_crlf_text():
    """``chainrule check`` reads files with universal newlines; parse_graph refused CRLF."""
    assert cr.print_graph(cr.parse_graph(GOOD.replace("\n", "\r\n"))) == GOOD


def _attr_line(attrs):
    return GOOD.replace("= Relu(%x)", "= Softmax(%x) {" + attrs + "}")


@pytest.mark.parametrize("text, where", [
    ("graph g {\n  %y: i8[1] = Constant() {value=dense<i8[1]>[1000]}\n  return %y\n}\n", "line 2, column"),
    (_attr_line("axis=" + "[" * 5000), "line 3, column"),
    ('graph g {\n  input %"\\x41": f32[2]\n  return %"\\x41"\n}\n', "line 2, column 9"),
    (GOOD.replace("Relu(%x)", "Relu(%x) #[rule=abc]"), "line 3, column"),
    (GOOD.replace("Relu(%x)", "Relu(%x) {a=\"\\q\"}"), "line 3, column"),
    (GOOD.replace("f32[2,3]", "f32[99999999999999999999999,3]"), "line 2, column"),
])
def test_parser_crashes_are_parse_errors_with_line_and_column(text, where):
    with pytest.raises(ParseError) as info:
        cr.parse_graph(text)
    assert str(info.value).startswith(where)


@pytest.mark.parametrize("attrs", ['axis="one"', "axis=[1,2]", "axis=none", "axis=1.5", "axis=true"])
def test_an_attribute_of_the_wrong_type_is_an_ir_type_error(attrs):
    """``{axis=[1,2]}`` gave a TypeError from types.py under ``chainrule check``."""
    with pytest.raises(cr.ChainruleError, match="axis"):
        cr.verify(cr.parse_graph(_attr_line(attrs)))


@pytest.mark.parametrize("attrs", ['axes="one", keepdims=0', "axes=[[0]], keepdims=0", "axes=7, keepdims=0"])
def test_reduction_axes_of_the_wrong_type_are_an_ir_type_error(attrs):
    text = GOOD.replace("%y: f32[2,3] = Relu(%x)", "%y: f32[3] = ReduceSum(%x) {" + attrs + "}").replace(
        "return %y", "return %y")
    with pytest.raises(cr.ChainruleError, match="axes"):
        cr.verify(cr.parse_graph(text))


# -- unsafe writes -----------------------------------------------------------------------------
from chainrule.frontends.cli.main import main as cli  # noqa: E402
from chainrule.ir.files import MARKER, write_file  # noqa: E402


def _onnx_model(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "m",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    path = str(tmp_path / "m.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), path)
    np.savez(tmp_path / "in.npz", x=np.array([[-1.0, 2.0]], np.float32))
    return path


def test_run_output_names_the_file_it_wrote_and_refuses_to_overwrite(tmp_path, capsys):
    model = _onnx_model(tmp_path)
    out = str(tmp_path / "results")
    assert cli(["run", model, "--inputs", str(tmp_path / "in.npz"), "--output", out]) == 0
    assert f"wrote {out}.npz:" in capsys.readouterr().out and not os.path.exists(out)
    assert np.load(out + ".npz")["y"].tolist() == [[0.0, 2.0]]
    before = os.path.getmtime(out + ".npz")
    assert cli(["run", model, "--inputs", str(tmp_path / "in.npz"), "--output", out]) == 1
    assert "results.npz exists; give --force to overwrite it" in capsys.readouterr().err
    assert os.path.getmtime(out + ".npz") == before
    assert cli(["run", model, "--inputs", str(tmp_path / "in.npz"), "--output", out, "--force"]) == 0


def test_cost_png_names_the_file_it_wrote_and_refuses_to_overwrite(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = str(tmp_path / "timeline")
    assert cli(["cost", "logistic_l2", "--summary", "--png", out]) == 0
    assert f"wrote {out}.png" in capsys.readouterr().out and os.path.getsize(out + ".png") > 0
    assert cli(["cost", "logistic_l2", "--summary", "--png", out]) == 1
    assert "timeline.png exists; give --force" in capsys.readouterr().err


def test_dump_folder_gets_a_marker_and_a_folder_of_other_files_is_refused(tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "report.html").write_text("my own report")
    assert cli(["dump", "logistic_l2", "--no-svg", "-o", str(d)]) == 1
    assert "holds other files" in capsys.readouterr().err and (d / "report.html").read_text() == "my own report"
    fresh = tmp_path / "fresh"
    assert cli(["dump", "logistic_l2", "--no-svg", "-o", str(fresh)]) == 0
    assert (fresh / MARKER).exists()
    assert cli(["dump", "logistic_l2", "--no-svg", "-o", str(fresh)]) == 0  # our own folder: written again
    assert cli(["dump", "logistic_l2", "--no-svg", "-o", str(d), "--force"]) == 0
    assert (d / "00-input.ir").exists()


def test_dump_never_writes_through_a_symlink(tmp_path, capsys):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    d = tmp_path / "d"
    assert cli(["dump", "logistic_l2", "--no-svg", "-o", str(d)]) == 0
    os.remove(d / "report.html")
    os.symlink(outside, d / "report.html")
    assert cli(["dump", "logistic_l2", "--no-svg", "-o", str(d), "--force"]) == 1
    assert "report.html is a symbolic link" in capsys.readouterr().err
    assert outside.read_text() == "keep me"


def test_a_dump_file_name_cannot_leave_the_folder(tmp_path):
    from chainrule.ir.files import write_in
    with pytest.raises(cr.ChainruleError, match="not a plain file name"):
        write_in(str(tmp_path), "../escape.ir", "x")
    assert not (tmp_path.parent / "escape.ir").exists()


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path):
    """Disk full said '[Errno 28] No space left on device' and left a 0-byte features.png."""
    import errno

    def full(f):
        f.write(b"\x89PNG")
        raise OSError(errno.ENOSPC, "No space left on device")
    path = str(tmp_path / "features.png")
    with pytest.raises(cr.ChainruleError, match=r"cannot write .*features.png: No space left on device"):
        write_file(path, writer=full)
    assert os.listdir(tmp_path) == []


def test_plots_write_atomically(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import errno
    from matplotlib.figure import Figure
    from chainrule.frontends.train import plots

    def full(self, f, **kw):
        f.write(b"\x89PNG")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Figure, "savefig", full)
    with pytest.raises(cr.ChainruleError, match=r"features.png: No space left"):
        plots.plot_first_layer(np.ones((4, 64)), str(tmp_path / "features.png"))
    assert os.listdir(tmp_path) == []


def test_dump_lr_without_optimizer_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli(["dump", "logistic_l2", "--pipeline", "training", "--lr", "0.5"])
    assert info.value.code == 2 and "--lr needs --optimizer" in capsys.readouterr().err


# -- unclear messages --------------------------------------------------------------------------
def test_a_pass_that_runs_out_of_memory_says_so():
    """It said 'pass cse failed with MemoryError: ' with nothing after."""
    from chainrule.passes import PassManager, graph_pass

    @graph_pass("hungry")
    def hungry(graph):
        raise MemoryError()
    with pytest.raises(cr.ChainruleError) as info:
        PassManager([hungry]).run(cr.parse_graph(GOOD))
    assert str(info.value) == "pass hungry failed with MemoryError: it ran out of memory"


def test_a_test_fraction_that_leaves_no_training_examples_is_named(tmp_path, capsys):
    """It said 'zero-size array to reduction operation'."""
    assert cli(["train", "--epochs", "1", "--test-fraction", "0.999", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "--test-fraction must be smaller: 0.999 of 1797 examples leaves 0 for training" in err
    with pytest.raises(cr.ChainruleError, match="leaves 0 for testing"):
        cr.datasets.train_test_split(np.ones((20, 2)), np.arange(20) % 2, 0.001)


def test_checkpoint_save_failure_names_the_file(tmp_path, monkeypatch):
    import errno
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(cr.ChainruleError, match=r"cannot write .*ck.npz: No space left on device"):
        checkpoint.save(str(tmp_path / "ck.npz"), _step())
    assert os.listdir(tmp_path) == []


def test_implausible_machine_rates_are_measured_again_and_never_cached(tmp_path, monkeypatch):
    """A one-thread GEMM rate measured while other work held the core came out 32x slower than two
    threads'; cached, it misled every later schedule. Such a cache is measured over, and a measurement
    that stays implausible is used by the process but not written."""
    import json
    from chainrule.runtime import costmodel
    monkeypatch.setenv(costmodel.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(costmodel, "_MACHINE", {})
    good = costmodel.Machine(2, (2e-11, 1.1e-11), 1e-11, 1.5e-6, 8e-6, 6e-5, 1e-6)
    bad = good._replace(madd=(6.3e-10, 1.1e-11))
    assert costmodel.plausible(good) and not costmodel.plausible(bad)
    path = costmodel._cache_file(costmodel._key())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(bad._replace(cores=costmodel.available_cores())._asdict(), f)
    got = iter([bad, good._replace(cores=costmodel.available_cores())])
    monkeypatch.setattr(costmodel, "measure", lambda: next(got))
    m = costmodel.calibrate()
    assert m.madd == good.madd and json.load(open(path))["madd"] == list(good.madd)
    monkeypatch.setattr(costmodel, "_MACHINE", {})
    os.remove(path)
    monkeypatch.setattr(costmodel, "measure", lambda: bad)
    assert costmodel.calibrate().madd == bad.madd and not os.path.exists(path)
