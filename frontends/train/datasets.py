"""Data: the bundled handwritten digits, splits, mini-batches, and MNIST IDX files.

    X, y = cr.datasets.load_digits()                 # f32[1797,64] pixels 0..16, i64 labels
    Xtr, Xte, ytr, yte = cr.datasets.train_test_split(X, y, test_fraction=0.2, seed=0)
    Xtr, Xte = cr.datasets.standardize(Xtr, Xte)     # statistics of the training part only
    mean, std = cr.datasets.feature_stats(Xtr)        # ... or keep them, for cr.nn.Standardize
    X, y = cr.datasets.load_table("my.csv")           # a header row, the integer label last
    for xb, yb in cr.datasets.batches(Xtr, ytr, 32, seed=0, epoch=3): ...

The digits (UCI optical digits, CC BY 4.0) ship with the package; see
``data/README.md``. Nothing here touches the network. Shuffling depends only
on ``(seed, epoch)``, so a run resumed at epoch k sees the same batches as an
uninterrupted one.
"""
from __future__ import annotations

import gzip
import io
import os
import zlib
import csv
import math
from typing import Iterator, NamedTuple, Optional, Tuple

import numpy as np

from ...ir.errors import ChainruleError, ReadError
from ...ir.files import open_regular, write_file
from ...runtime.limits import human, memory_limit

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class DatasetError(ChainruleError, ValueError):
    """A data file is missing, corrupt or not what it claims to be; the message names the file."""


def load_digits(path: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The 8×8 digits: ``X`` f32[1797,64] (pixel counts 0..16) and labels ``y`` i64[1797]."""
    path = path or os.path.join(DATA_DIR, "digits.csv.gz")
    try:
        with open_regular(path, what="digits data file (reinstall the package)") as raw, \
                gzip.open(raw, "rt", encoding="ascii") as f:
            data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    except ReadError as err:
        raise DatasetError(str(err)) from None
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise DatasetError(f"{path}: cannot read the digits CSV: {err}") from None
    if data.shape[1] != 65:
        raise DatasetError(f"{path}: expected 64 pixel columns and a label, got {data.shape[1]} columns")
    return data[:, :64].astype(np.float32), data[:, 64].astype(np.int64)


class FeatureStats(NamedTuple):
    """Per-feature mean and standard deviation of a training set (std 1 where a feature is constant)."""
    mean: np.ndarray
    std: np.ndarray


def feature_stats(train: np.ndarray) -> FeatureStats:
    """The statistics ``standardize`` uses, in ``train``'s dtype: give them to ``cr.nn.Standardize``
    to make the standardisation part of the model."""
    std = train.std(axis=0)
    # constant features (std 0, e.g. always-blank corner pixels) are only shifted
    return FeatureStats(train.mean(axis=0).astype(train.dtype), np.where(std > 0, std, 1.0).astype(train.dtype))


def standardize(train: np.ndarray, *others: np.ndarray):
    """Shift and scale each feature to mean 0, std 1 on ``train``; apply the same to ``others``.

    Constant features (std 0, e.g. always-blank corner pixels) are only shifted.
    """
    mean, std = feature_stats(train)
    out = [((a - mean) / std).astype(train.dtype) for a in (train,) + others]
    return out[0] if not others else tuple(out)


def train_test_split(X: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0):
    """A stratified split: each class keeps its proportion in both parts. Returns Xtr, Xte, ytr, yte."""
    if not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(X) != len(y):
        raise DatasetError(f"X has {len(X)} rows but y has {len(y)} labels")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):  # sorted classes: deterministic
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test.append(idx[:int(round(len(idx) * test_fraction))])
    test_idx = np.sort(np.concatenate(test))
    if not 0 < len(test_idx) < len(y):  # an empty side has no mean (and no accuracy)
        side, need = ("testing", "larger") if len(test_idx) == 0 else ("training", "smaller")
        raise DatasetError(f"test_fraction must be {need}: {test_fraction} of {len(y)} examples leaves 0 for {side}")
    mask = np.zeros(len(y), bool)
    mask[test_idx] = True
    train_idx = np.flatnonzero(~mask)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def batches(X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = True, seed: int = 0,
            epoch: int = 0, drop_last: bool = False) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Mini-batches of one epoch; the order depends only on ``(seed, epoch)``."""
    if batch_size < 1:
        raise DatasetError(f"batch_size must be at least 1, got {batch_size}")
    n = len(X)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        yield X[idx], y[idx]


# -- MNIST IDX files -----------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class _Gunzip:
    """Reads gzip data a requested number of bytes at a time, so a header can be checked before
    the data it announces is unpacked (a 2 MB file can unpack to 2 GiB)."""

    def __init__(self, raw: bytes):
        self.d, self.tail = zlib.decompressobj(wbits=31), raw

    def read(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            if self.d.eof:  # the end of one gzip member: another may follow
                if not self.d.unused_data:
                    break
                self.tail, self.d = self.d.unused_data, zlib.decompressobj(wbits=31)
            chunk = self.d.decompress(self.tail, n - got)
            self.tail = self.d.unconsumed_tail
            if not chunk and not self.tail:
                if not self.d.eof:
                    raise EOFError("the compressed data ends early")
                continue
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)


class _Plain:
    def __init__(self, raw: bytes):
        self.view, self.at = memoryview(raw), 0

    def read(self, n: int) -> bytes:
        out = self.view[self.at:self.at + n]
        self.at += len(out)
        return out


def load_idx(path: str) -> np.ndarray:
    """Read an IDX file (MNIST format), plain or gzip-compressed, into an array.

    Layout: two zero bytes, a dtype code, the number of dimensions, each
    dimension as a big-endian u32, then the data. Any deviation (bad magic,
    unknown dtype, truncated or trailing data, corrupt gzip) is a DatasetError.
    The size the header declares is checked against the memory limit before
    the data is unpacked.
    """
    limit = memory_limit()
    try:
        with open_regular(path, what="IDX file") as f:  # a FIFO is refused, not waited on
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise DatasetError(f"{path}: the file is {human(size)}, over the memory limit of {human(limit)} "
                                   f"(CHAINRULE_MEMORY_LIMIT)")
            raw = f.read()
    except ReadError as err:
        raise DatasetError(str(err)) from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot read: {err}") from None
    src = _Gunzip(raw) if raw[:2] == b"\x1f\x8b" else _Plain(raw)
    try:
        magic = src.read(4)
        if len(magic) < 4:
            raise DatasetError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
        if magic[0] != 0 or magic[1] != 0:
            raise DatasetError(f"{path}: not an IDX file (magic starts {bytes(magic[:2]).hex()}, expected 0000)")
        code, ndim = magic[2], magic[3]
        if code not in _IDX_DTYPES:
            raise DatasetError(f"{path}: unknown IDX dtype code 0x{code:02x}")
        if ndim == 0:
            raise DatasetError(f"{path}: IDX header declares 0 dimensions")
        dims = src.read(4 * ndim)
        if len(dims) < 4 * ndim:
            raise DatasetError(f"{path}: truncated IDX header ({4 + len(dims)} bytes, need {4 + 4 * ndim} for "
                               f"{ndim} dimensions)")
        shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
        dt = np.dtype(_IDX_DTYPES[code])
        want = math.prod(shape) * dt.itemsize  # Python ints: 255 dimensions of 2**32 do not wrap
        if want > limit:
            raise DatasetError(f"{path}: the IDX header declares shape {list(shape)} of {dt.name} ({human(want)}), "
                               f"over the memory limit of {human(limit)} (CHAINRULE_MEMORY_LIMIT)")
        data = src.read(want)
        more = len(src.read(1))
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path}: corrupt or truncated gzip data: {err}") from None
    if len(data) != want or more:
        what, got = ("truncated", f"{len(data)}") if len(data) < want else \
            ("has trailing bytes", f"{len(raw) - 4 - 4 * ndim}" if isinstance(src, _Plain) else "more")
        raise DatasetError(f"{path}: IDX data {what}: shape {list(shape)} of {dt.name} needs {want} bytes, "
                           f"file has {got}")
    return np.frombuffer(data, dt).reshape(shape).astype(dt.newbyteorder("="))


def save_idx(path: str, array: np.ndarray, compress: Optional[bool] = None) -> None:
    """Write ``array`` as an IDX file (gzip if ``compress`` or the path ends in .gz)."""
    codes = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in _IDX_DTYPES.items()}
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=").str[1:]
    if key not in codes:
        raise DatasetError(f"IDX cannot store dtype {a.dtype}")
    code = codes[key]
    buf = io.BytesIO()
    buf.write(bytes([0, 0, code, a.ndim]))
    buf.write(np.asarray(a.shape, ">u4").tobytes())
    buf.write(a.astype(np.dtype(_IDX_DTYPES[code])).tobytes())
    data = buf.getvalue()
    if compress or (compress is None and path.endswith(".gz")):
        data = gzip.compress(data, mtime=0)
    write_file(path, data)


def load_mnist(images: str, labels: str, scale: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N,rows,cols u8) and labels (N,) from two IDX files -> X f32[N,rows·cols], y i64[N]."""
    X = load_idx(images)
    y = load_idx(labels)
    if X.ndim != 3:
        raise DatasetError(f"{images}: MNIST images must have 3 dimensions (N, rows, cols), got {list(X.shape)}")
    if y.ndim != 1:
        raise DatasetError(f"{labels}: MNIST labels must have 1 dimension, got {list(y.shape)}")
    if len(X) != len(y):
        raise DatasetError(f"{images} has {len(X)} images but {labels} has {len(y)} labels")
    X = X.reshape(len(X), -1).astype(np.float32)
    return (X / 255.0 if scale else X).astype(np.float32), y.astype(np.int64)


def find_mnist(folder: str, split: str = "train") -> Tuple[str, str]:
    """Paths of ``<split>-images-idx3-ubyte[.gz]`` and its labels file in ``folder``."""
    prefix = "train" if split == "train" else "t10k"
    out = []
    for kind, nd in (("images", 3), ("labels", 1)):
        base = os.path.join(folder, f"{prefix}-{kind}-idx{nd}-ubyte")
        for cand in (base, base + ".gz"):
            if os.path.exists(cand):
                out.append(cand)
                break
        else:
            raise DatasetError(f"{folder}: no {os.path.basename(base)}[.gz] (MNIST {split} {kind}) in this folder")
    return out[0], out[1]


# -- the user's own data: CSV and NPZ ------------------------------------------------
def _label(path, where, value) -> int:
    if not math.isfinite(value) or value != int(value) or value < 0:
        raise DatasetError(f"{path}: {where}: the class label must be a whole number >= 0, got {value!r}")
    return int(value)


def load_csv(path: str, label_column: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``X`` f32[N,features], ``y`` i64[N] from a CSV file: a header row of column names, then one example
    per row; the label is the last column, or the column named ``label_column``."""
    try:
        with open_regular(path, text=True, newline="") as f:
            rows = list(csv.reader(f))
    except ReadError as err:
        raise DatasetError(str(err)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"{path}: cannot read as CSV: {err}") from None
    rows = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]  # line numbers, blank lines skipped
    if not rows:
        raise DatasetError(f"{path}: the file is empty (expected a header row, then one example per row)")
    header = [c.strip() for c in rows[0][1]]
    if all(_is_number(c) for c in header):
        raise DatasetError(f"{path}: row {rows[0][0]} is all numbers; the first row must be a header naming "
                           f"the columns (e.g. x0,x1,...,label)")
    if label_column is None:
        li = len(header) - 1
    elif label_column in header:
        li = header.index(label_column)
    else:
        raise DatasetError(f"{path}: no column {label_column!r} for --label-column (the columns are "
                           f"{', '.join(header)})")
    if len(header) < 2:
        raise DatasetError(f"{path}: needs at least one feature column and a label column, the header has "
                           f"{len(header)} column")
    if len(rows) < 2:
        raise DatasetError(f"{path}: has a header but no examples")
    X = np.empty((len(rows) - 1, len(header) - 1), np.float32)
    y = np.empty(len(rows) - 1, np.int64)
    for n, (line, r) in enumerate(rows[1:]):
        if len(r) != len(header):
            raise DatasetError(f"{path}: row {line} has {len(r)} values, the header has {len(header)} columns")
        vals = []
        for j, c in enumerate(r):
            try:
                v = float(c)
            except ValueError:
                raise DatasetError(f"{path}: row {line}, column {header[j]!r}: {c.strip()!r} is not a number") from None
            if not math.isfinite(v):
                raise DatasetError(f"{path}: row {line}, column {header[j]!r}: {c.strip()!r} is not a finite number")
            vals.append(v)
        y[n] = _label(path, f"row {line}, column {header[li]!r}", vals.pop(li))
        X[n] = vals
    return X, y


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_npz(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """``X`` (N examples of any shape, flattened to f32[N,features]) and integer labels ``y`` i64[N]
    from the arrays named ``X`` and ``y`` of an ``.npz`` file."""
    from .npzfile import NpzRefused, read_npz  # no FIFO, no zip bomb, no pickle
    try:
        arrays = {k: a for k, a in read_npz(path).items() if isinstance(a, np.ndarray)}
    except ReadError as err:
        raise DatasetError(str(err)) from None
    except Exception as err:  # zipfile/numpy raise many types; NpzRefused says why it refused
        why = err if isinstance(err, NpzRefused) else f"not a readable .npz file: {err}"
        raise DatasetError(f"{path}: {why}") from None
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise DatasetError(f"{path}: no array {' or '.join(repr(k) for k in missing)} (it has: "
                           f"{', '.join(sorted(arrays)) or 'nothing'}); save with np.savez(path, X=X, y=y)")
    X, y = arrays["X"], arrays["y"]
    if X.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        raise DatasetError(f"{path}: X and y must be numeric arrays, got {X.dtype} and {y.dtype}")
    if X.ndim < 2 or y.ndim != 1:
        raise DatasetError(f"{path}: X must be [N, features...] and y [N], got X {list(X.shape)} and y {list(y.shape)}")
    if len(X) != len(y):
        raise DatasetError(f"{path}: X has {len(X)} rows but y has {len(y)} labels")
    X = X.reshape(len(X), -1).astype(np.float32)
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        raise DatasetError(f"{path}: X[{bad[0][0]}, {bad[0][1]}] is {X[tuple(bad[0])]} (not a finite number)")
    labels = np.empty(len(y), np.int64)
    for i, v in enumerate(y.tolist()):
        labels[i] = _label(path, f"y[{i}]", float(v))
    return X, labels


def load_table(path: str, label_column: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``load_csv`` or ``load_npz`` by the file's extension."""
    if path.lower().endswith(".npz"):
        if label_column is not None:
            raise DatasetError(f"{path}: --label-column is for CSV files; an .npz holds arrays X and y")
        return load_npz(path)
    if path.lower().endswith(".csv"):
        return load_csv(path, label_column)
    raise DatasetError(f"{path}: give a .csv file (a header row, the label last) or an .npz file (arrays X and y)")
