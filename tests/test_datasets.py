"""Bundled digits, stratified split, standardisation, mini-batches, and IDX files (written here)."""
import gzip
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule.frontends.train.datasets import DatasetError, find_mnist, load_idx, load_mnist, save_idx

D = cr.datasets


def test_bundled_digits():
    X, y = D.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.dtype == np.int64 and sorted(set(y.tolist())) == list(range(10))
    assert X.min() == 0 and X.max() == 16


def test_stratified_split_keeps_class_proportions():
    X, y = D.load_digits()
    Xtr, Xte, ytr, yte = D.train_test_split(X, y, 0.2, seed=0)
    assert len(Xtr) + len(Xte) == len(X)
    for c in range(10):
        assert abs(np.mean(yte == c) - np.mean(y == c)) < 0.01
    again = D.train_test_split(X, y, 0.2, seed=0)
    np.testing.assert_array_equal(again[1], Xte)  # deterministic
    with pytest.raises(DatasetError, match="test_fraction"):
        D.train_test_split(X, y, 1.5)


def test_standardize_uses_training_statistics_and_keeps_constant_features_finite():
    X, y = D.load_digits()
    tr, te = D.standardize(X[:1000], X[1000:])
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-5)
    live = X[:1000].std(0) > 0
    np.testing.assert_allclose(tr.std(0)[live], 1, rtol=1e-4)
    assert np.all(np.isfinite(tr)) and np.all(np.isfinite(te))


def test_batches_cover_every_example_once_and_depend_only_on_seed_and_epoch():
    X = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10)
    bs = list(D.batches(X, y, 3, seed=1, epoch=0))
    assert [len(b[1]) for b in bs] == [3, 3, 3, 1]
    assert sorted(np.concatenate([b[1] for b in bs]).tolist()) == list(range(10))
    same = np.concatenate([b[1] for b in D.batches(X, y, 3, seed=1, epoch=0)])
    other = np.concatenate([b[1] for b in D.batches(X, y, 3, seed=1, epoch=1)])
    np.testing.assert_array_equal(same, np.concatenate([b[1] for b in bs]))
    assert not np.array_equal(same, other)
    assert [len(b[1]) for b in D.batches(X, y, 3, drop_last=True)] == [3, 3, 3]
    assert np.array_equal(np.concatenate([b[1] for b in D.batches(X, y, 4, shuffle=False)]), y)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    path = str(tmp_path / ("a.idx" + (".gz" if gz else "")))
    save_idx(path, a)
    b = load_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def write(path, data):
    path.write_bytes(data)
    return str(path)


def idx_bytes(shape, payload, code=0x08):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


@pytest.mark.parametrize("name, data, match", [
    ("badmagic", b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
    ("dtype", idx_bytes((1,), b"\x00", code=0x07), "unknown IDX dtype code 0x07"),
    ("short", b"\x00\x00", "too short"),
    ("header", b"\x00\x00\x08\x03" + struct.pack(">I", 5), "truncated IDX header"),
    ("truncated", idx_bytes((2, 3), b"\x01\x02\x03"), "truncated: shape \\[2, 3\\] of uint8 needs 6 bytes, file has 3"),
    ("trailing", idx_bytes((2,), b"\x01\x02\x03"), "trailing bytes"),
    ("zero_dims", b"\x00\x00\x08\x00", "0 dimensions"),
])
def test_corrupt_idx_files_are_clear_errors(tmp_path, name, data, match):
    path = write(tmp_path / f"{name}.idx", data)
    with pytest.raises(DatasetError, match=match) as err:
        load_idx(path)
    assert path in str(err.value)


def test_truncated_gzip_idx_is_a_clear_error(tmp_path):
    data = gzip.compress(idx_bytes((100,), bytes(range(100))))
    path = write(tmp_path / "cut.idx.gz", data[: len(data) // 2])
    with pytest.raises(DatasetError, match="corrupt or truncated gzip"):
        load_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(DatasetError, match="no such IDX file"):
        load_idx(str(tmp_path / "nope.idx"))


def test_mnist_loader_on_small_files_written_here(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 4, 4)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    save_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), imgs)
    save_idx(str(tmp_path / "train-labels-idx1-ubyte"), labels)
    paths = find_mnist(str(tmp_path), "train")
    X, y = load_mnist(*paths)
    assert X.shape == (5, 16) and X.dtype == np.float32 and X.max() <= 1.0
    np.testing.assert_allclose(X[2], imgs[2].ravel() / 255.0, rtol=1e-6)
    assert y.tolist() == [3, 1, 4, 1, 5] and y.dtype == np.int64
    save_idx(str(tmp_path / "bad-labels"), labels[:3])
    with pytest.raises(DatasetError, match="has 5 images but .* has 3 labels"):
        load_mnist(paths[0], str(tmp_path / "bad-labels"))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte"):
        find_mnist(str(tmp_path), "test")
