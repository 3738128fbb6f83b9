"""A product's bits do not follow the BLAS thread count (``summed``, ir/ops/linalg.py)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir.ops.linalg import SPLIT_K, split_k, summed
from chainrule.passes.memory import plan_memory
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from chainrule.runtime.threads import BlasSetter, available_cores
from mlp_step import mlp_loss_graph

rng = np.random.default_rng(0)


def test_which_products_are_summed_in_two():
    assert not split_k(SPLIT_K) and not split_k(512) and not split_k(10)
    assert split_k(784) and split_k(SPLIT_K + 1) and split_k("N")  # unknown until run: checked then


@pytest.mark.parametrize("sa,sb", [((5, 784), (784, 7)), ((784,), (784, 3)), ((4, 784), (784,)),
                                   ((2, 3, 300), (300, 6)), ((6, 300), (2, 300, 5)), ((3, 512), (512, 4))])
def test_summed_is_the_product(sa, sb):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    want = np.matmul(a, b)
    got = summed(a, b)
    assert got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-12)
    out = np.empty_like(want)
    assert summed(a, b, out) is out and np.array_equal(out, got)
    if not split_k(sa[-1]):
        assert np.array_equal(got, want)  # one call: NumPy's own bits


def test_generated_code_sums_in_two_only_where_k_needs_it():
    def source(k):
        g = cr.compile(mlp_loss_graph([k, 64, 10]), "training").graph
        exe = SequentialExecutor(g, planner=plan_memory)
        exe.run_list([np.ones((32, k), np.float32), np.eye(10, dtype=np.float32)[np.arange(32) % 10]])
        return exe.source
    assert "mmk" in source(784) and "mmk" not in source(256)


def _openblas() -> bool:
    libs = BlasSetter()._libs
    return bool(libs) and libs[0].internal_api == "openblas"


# the bits are measured on OpenBLAS (NumPy's wheels); another library may sum otherwise, which the
# dataflow executor's check on a step's first call (agree.py) catches
needs_threads = pytest.mark.skipif(available_cores() < 2 or not _openblas(),
                                   reason="needs two cores and OpenBLAS (NumPy's wheels) with threadpoolctl")


def _bits_on_one_and_every_thread(fn):
    """The bytes of ``fn()`` on one BLAS thread, and on every core's."""
    setter = BlasSetter()
    prev = setter.get()
    try:
        got = []
        for threads in (1, available_cores()):
            setter(threads)
            got.append(fn().tobytes())
        return got
    finally:
        setter(prev)


def _threads_keep_bits(shapes, dtype=np.float32) -> bool:
    """Does this BLAS give each plain product ``[m,k] @ [k,n]`` the same bits on every core's threads
    as on one? OpenBLAS 0.3.31's Haswell kernel did, for every K a multiple of 32, on one machine;
    on another it changed nearly every product, K = 32 included."""
    for m, k, nn in shapes:
        a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, nn)).astype(dtype)
        one, every = _bits_on_one_and_every_thread(lambda: a @ b)
        if one != every:
            return False
    return True


@needs_threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_summed_products_have_the_same_bits_on_any_thread_count(dtype):
    """Where this BLAS keeps the bits of a product whose K is a multiple of 32, ``summed`` keeps them
    for any K: it is such a product plus one of fewer than 32 terms."""
    shapes = [(128, 784, 256), (32, 1500, 1000), (513, 456, 10), (2, 2500, 256)]
    kept = [(m, k, nn) for m, k, nn in shapes
            if _threads_keep_bits([(m, k - k % 32, nn), (m, k % 32, nn)], dtype)]
    if not kept:
        pytest.skip(f"this BLAS changes the bits of whole products whose K is a multiple of 32 on "
                    f"{available_cores()} threads: no order of sums keeps them, and agree.py keeps such "
                    "steps at one thread")
    for m, k, nn in kept:
        a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((nn, k)).astype(dtype)
        one, every = _bits_on_one_and_every_thread(lambda: summed(a, b.T))
        assert one == every, (m, k, nn)


@needs_threads
def test_a_784_wide_mlp_step_runs_on_every_core_with_one_threads_bits():
    """The step the dataflow executor's guard checks (``agree.py``) agrees where this BLAS keeps the
    bits of its products (summed), so it may run on every core's BLAS threads; and its bits equal the
    sequential executor's at one thread either way."""
    g = cr.compile(mlp_loss_graph([784, 256, 10]), "training").graph
    p1, p2 = ({k: v.copy() for k, v in g.initializers.items()} for _ in range(2))
    seq = SequentialExecutor(g, p1, planner=plan_memory, threads=1)
    dfl = DataflowExecutor(g, p2, planner=plan_memory, workers=1, margin=-1.0)  # no tasks; every core's "pay"
    xs = rng.standard_normal((128, 784)).astype(np.float32)
    ts = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    for _ in range(12):
        assert all(u.tobytes() == v.tobytes() for u, v in zip(seq.run_list([xs, ts]), dfl.run_list([xs, ts])))
    assert all(p1[k].tobytes() == p2[k].tobytes() for k in p1)
    (agreed,) = dfl.agreements.values()
    (guard,) = dfl.guards.values()
    many = dfl.schedule_for([xs, ts]).every_core_way
    assert agreed.ok in (True, False) and (many in guard.ways) == agreed.ok
    # the step's products: x W1ᵀ summed (768 + 16 terms), h W2ᵀ, and the gradients' (K = 10, 128)
    products = [(128, 768, 256), (128, 16, 256), (128, 256, 10), (128, 10, 256), (10, 128, 256), (256, 128, 784)]
    if _threads_keep_bits(products):
        assert agreed.ok is True
