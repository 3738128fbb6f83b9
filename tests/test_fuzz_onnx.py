"""Property-based tests at the edges: random registry graphs through both executors and
through ONNX, and random mutations of valid ONNX bytes.

Same fixed, derandomized budget as ``test_fuzz_ir.py``; a longer run:
``CHAINRULE_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_onnx.py``.
"""
from __future__ import annotations

import builtins
import io
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ir import ChainruleError
from fuzz_graphs import random_graph, random_inputs
from test_fuzz_ir import FUZZ


@FUZZ
@given(random_graph())
def test_dataflow_executor_equals_sequential_bit_for_bit(g):
    xs = random_inputs(g)
    with np.errstate(all="ignore"):
        seq = cr.compile(g, executor="sequential")(*xs)
        dfl = cr.compile(g, executor="dataflow")(*xs)
    seq = seq if isinstance(seq, tuple) else (seq,)
    dfl = dfl if isinstance(dfl, tuple) else (dfl,)
    for a, b in zip(seq, dfl):
        np.testing.assert_array_equal(a, b)


@FUZZ
@given(g=random_graph())
def test_onnx_export_then_import_preserves_results(g, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fuzz") / "g.onnx")
    cr.export_onnx(g, path)
    back = cr.import_onnx(path)
    cr.verify(back)
    xs = random_inputs(g)
    with np.errstate(all="ignore"):
        want = cr.Interpreter(g).run_list(xs)
        got = cr.Interpreter(back).run_list(xs)
    for a, b in zip(want, got):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, equal_nan=True)


class _ReadGuard:
    """Records every file opened for reading while active, to check none lies outside ``root``."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.outside = []

    def _check(self, path):
        if isinstance(path, (str, bytes, os.PathLike)):
            real = os.path.realpath(os.fsdecode(path))
            if not real.startswith(self.root + os.sep) and real != self.root:
                self.outside.append(real)

    def __enter__(self):
        self._open, self._io_open, self._os_open = builtins.open, io.open, os.open

        def guarded_open(file, *a, **k):
            self._check(file)
            return self._open(file, *a, **k)

        def guarded_os_open(path, flags, *a, **k):
            self._check(path)
            return self._os_open(path, flags, *a, **k)
        builtins.open = io.open = guarded_open
        os.open = guarded_os_open
        return self

    def __exit__(self, *exc):
        builtins.open, io.open, os.open = self._open, self._io_open, self._os_open


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        kind = rng.integers(0, 4)
        i = int(rng.integers(0, max(len(b), 1)))
        if kind == 0 and b:
            b[i % len(b)] = int(rng.integers(0, 256))
        elif kind == 1:
            b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8))
        elif kind == 2 and b:
            del b[i:i + int(rng.integers(1, 16))]
        else:  # point a string field at an outside file
            b[i:i] = b"../../etc/passwd"
    return bytes(b)


@FUZZ
@given(g=random_graph(), seed=st.integers(0, 2**31 - 1))
def test_mutated_onnx_bytes_import_or_raise_chainrule_error_and_stay_in_folder(g, seed, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mut")
    good = folder / "good.onnx"
    cr.export_onnx(g, str(good))
    data = good.read_bytes()
    rng = np.random.default_rng(seed)
    for k in range(4):
        bad = folder / f"bad{k}.onnx"
        bad.write_bytes(_mutate(data, rng))
        with _ReadGuard(folder) as guard:
            try:
                cr.verify(cr.import_onnx(str(bad)))
            except ChainruleError:
                pass
        assert not guard.outside, f"import read outside the model's folder: {guard.outside}"


def test_the_read_guard_notices_an_outside_read(tmp_path):
    """The guard itself works (so the property above can fail)."""
    with _ReadGuard(tmp_path) as guard:
        with open(__file__, "rb"):
            pass
    assert guard.outside


@pytest.mark.parametrize("name", ["empty", "zeros"])
def test_degenerate_bytes(tmp_path, name):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"" if name == "empty" else bytes(64))
    with pytest.raises(ChainruleError, match="m.onnx"):
        cr.import_onnx(str(p))
