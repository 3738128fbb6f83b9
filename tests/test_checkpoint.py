"""Checkpoints: no pickle, atomic writes, clear errors, and resume == uninterrupted run."""
import os
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.frontends.train.checkpoint import CheckpointError, load, read, save


def make_step(seed=0, opt=None):
    return cr.compile_train(cr.nn.mlp([8, 6, 3], seed=seed), optimizer=opt or cr.optim.Adam(lr=0.02))


def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((40, 8)).astype(np.float32), rng.integers(0, 3, 40)


def train(step, x, t, epochs):
    for ep in epochs:
        step.fit_epoch(x, t, batch_size=8, seed=7, epoch=ep)


@pytest.mark.parametrize("opt", [cr.optim.Adam(lr=0.02), cr.optim.SGD(lr=0.1, momentum=0.9)],
                         ids=["adam", "sgd-momentum"])
def test_resume_from_checkpoint_equals_an_uninterrupted_run(tmp_path, opt):
    x, t = data()
    full = make_step(opt=opt)
    train(full, x, t, range(4))                       # 2k epochs straight

    half = make_step(opt=opt)
    train(half, x, t, range(2))                       # k epochs, save
    path = str(tmp_path / "ckpt.npz")
    save(path, half, {"epoch": 2})
    resumed = make_step(seed=99, opt=opt)             # a fresh step, different initial weights
    meta = load(path, resumed)
    assert meta["epoch"] == 2 and resumed.steps == half.steps
    train(resumed, x, t, range(2, 4))                 # the other k epochs
    for k, v in full.graph.initializers.items():
        np.testing.assert_array_equal(resumed.graph.initializers[k], v, err_msg=k)  # params and optimizer state


def test_checkpoint_is_npz_without_pickle_and_holds_state(tmp_path):
    step = make_step()
    x, t = data()
    step(x, t)
    path = save(str(tmp_path / "c.npz"), step, {"note": "hello"})
    with np.load(path, allow_pickle=False) as z:
        names = set(z.files)
        assert all(z[k].dtype != object for k in z.files)
    assert {"fc1.weight", "fc1.weight.m", "adam.step", "__meta__"} <= names
    meta, arrays = read(path)
    assert meta["note"] == "hello" and meta["steps"] == 1 and meta["format"] == "chainrule-checkpoint"
    assert not [f for f in os.listdir(tmp_path) if f != "c.npz"]  # no temporary file left


def test_a_failed_write_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    step = make_step()
    path = str(tmp_path / "c.npz")
    save(path, step, {"epoch": 1})
    good = open(path, "rb").read()

    def crash(*a, **k):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save(path, step, {"epoch": 2})
    assert open(path, "rb").read() == good
    assert os.listdir(tmp_path) == ["c.npz"]


def test_load_errors_are_clear(tmp_path):
    step = make_step()
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load(str(tmp_path / "missing.npz"), step)
    path = str(tmp_path / "c.npz")
    save(path, step)
    data_ = open(path, "rb").read()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data_[: len(data_) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load(str(cut), step)
    other = tmp_path / "other.npz"
    np.savez(str(other), a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not a chainrule checkpoint"):
        load(str(other), step)
    with pytest.raises(CheckpointError, match="missing .*fc1.weight.velocity"):
        load(path, make_step(opt=cr.optim.SGD(lr=0.1, momentum=0.9)))
    bigger = cr.compile_train(cr.nn.mlp([8, 7, 3], seed=0), optimizer=cr.optim.Adam(lr=0.02))
    before = bigger.params["fc1.bias"].copy()
    with pytest.raises(CheckpointError, match=r"fc1.weight is float32\[6, 8\] in the checkpoint"):
        load(path, bigger)
    np.testing.assert_array_equal(bigger.params["fc1.bias"], before)  # nothing was changed


def test_corrupt_zip_member(tmp_path):
    path = str(tmp_path / "c.npz")
    save(path, make_step())
    bad = str(tmp_path / "bad.npz")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"garbage" if name == "fc1.bias.npy" else src.read(name))
    with pytest.raises(CheckpointError, match="bad.npz: not a readable checkpoint"):
        load(bad, make_step())
