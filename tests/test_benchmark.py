"""The benchmark script runs (its smallest configuration) and refuses to time two different
computations. It measures nothing here: tests never assert on timings."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_step  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.passes.optimizer import SGDUpdate  # noqa: E402
from chainrule.passes.pipeline import training_pipeline  # noqa: E402


def test_benchmark_smoke_run_prints_its_table():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_step.py"), "--smoke"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "step us" in r.stdout and "numpy us" in r.stdout
    assert "fixed per-step overhead (2-2-2-2)" in r.stdout and "per-node dispatch overhead" in r.stdout


def test_benchmark_numba_smoke_run_prints_its_table(tmp_path):
    pytest.importorskip("numba")
    import os
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_step.py"), "--smoke", "--backend", "numba"],
                       capture_output=True, text=True, timeout=600, env=dict(os.environ, CHAINRULE_CACHE=str(tmp_path)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "numba us" in r.stdout and "cold s" in r.stdout and "load average" in r.stdout


def _pair(sizes=(6, 5, 3), n=4):
    g, _ = bench_step.train_graph(sizes)
    exe = cr.compile(g, pipeline=training_pipeline(optimizer=SGDUpdate(lr=bench_step.LR)))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    t = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    hand = bench_step.NumpyMLP({k: v.copy() for k, v in exe.params.items()}, sizes, n)
    return exe, hand, x, t


def test_the_hand_written_step_computes_what_chainrule_computes():
    bench_step.same_step(*_pair())


def test_a_different_hand_written_step_is_refused():
    exe, hand, x, t = _pair()
    hand.W[0] += 0.5  # not the same network any more
    with pytest.raises(AssertionError, match="differs"):
        bench_step.same_step(exe, hand, x, t)


def test_compare_revisions_runs_two_revisions_side_by_side():
    """benchmarks/compare_revisions.py unpacks both revisions and times them in one process."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_revisions.py"), "HEAD", "HEAD",
                        "--reps", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if "new/old" in line]
    assert len(rows) == 3 and all("HEAD:" in line for line in rows)
