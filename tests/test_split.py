"""Row chunks and pulled tasks: the ``row_split`` facet of the ops, chunks that give the whole node's bits
(a row slice of a one-thread sgemm against the whole sgemm), which chunks must wait for which, and the
workers that pull ready tasks by priority."""
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import OPS, DType, TensorType
from chainrule.passes.memory import plan_memory
from chainrule.runtime.codegen import Code
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import Emission
from chainrule.runtime.pull import TaskGraph, Workers
from chainrule.runtime.split import Accesses, chunk_lines, exact, row_ranges, split_axes
from chainrule.runtime.threads import BlasSetter

F32 = DType.f32


def T(*shape):
    return TensorType(shape, F32)


# -- the facet ------------------------------------------------------------------------------------
def test_row_split_is_a_facet_of_the_op():
    gemm = OPS["Gemm"]
    attrs = gemm.check_attrs({"transB": 1})
    assert gemm.row_split(attrs, [T(128, 784), T(256, 784), T(256)], T(128, 256)) == (0, None, None)
    grad_w = gemm.check_attrs({"transA": 1})  # W̄ = Z̄ᵀX: rows of W̄ are columns of Z̄
    assert gemm.row_split(grad_w, [T(128, 256), T(128, 784)], T(256, 784)) == (1, None)
    assert OPS["MatMul"].row_split({}, [T(64, 8), T(8, 3)], T(64, 3)) == (0, None)
    assert OPS["MatMul"].row_split({}, [T(8), T(8, 3)], T(3)) is None  # a vector has no rows to split
    add = OPS["Add"]
    assert add.row_split({}, [T(64, 256), T(256)], T(64, 256)) == (0, None)  # the bias is read whole
    assert add.row_split({}, [T(64, 256), T(1, 256)], T(64, 256)) == (0, None)
    assert add.row_split({}, [T(64, 1), T(64, 256)], T(64, 256)) == (0, 0)
    assert OPS["ReduceSum"].row_split({"axes": (0,)}, [T(64, 256)], T(256)) is None  # sums over rows
    assert add.row_split({}, [T(), T()], T()) is None


def test_row_ranges_start_at_multiples_of_the_unit():
    assert row_ranges(128, 4) == [(0, 32), (32, 64), (64, 96), (96, 128)]
    assert row_ranges(784, 4) == [(0, 224), (224, 448), (448, 672), (672, 784)]
    assert row_ranges(100, 4) == [(0, 32), (32, 64), (64, 96), (96, 100)]
    assert row_ranges(32, 4) == [(0, 32)]


def _emission(opname, attrs, in_types, code):
    op = OPS[opname]
    attrs = op.check_attrs(attrs)
    out = op.infer(in_types, attrs)[0]
    return Emission(op, attrs, code.const(np.empty(out.shape, np.float32), "o"),
                    [code.const(np.zeros(t.shape, np.float32), "x") for t in in_types], in_types, out, -1, [])


def test_a_chunk_is_the_ops_own_lines_on_row_slices():
    code = Code()
    e = _emission("Gemm", {"transA": 1}, [T(128, 256), T(128, 784)], code)
    lines = chunk_lines(code, e, split_axes(e), 0, 64)
    assert lines == [f"mm({e.args[0]}[:, 0:64].T, {e.args[1]}, {e.out}[0:64])"]
    e = _emission("Gemm", {"transB": 1}, [T(128, 784), T(256, 784), T(256)], code)
    text = "\n".join(chunk_lines(code, e, split_axes(e), 32, 64))
    assert f"{e.args[0]}[32:64], {e.args[1]}.T, {e.out}[32:64]" in text and f", {e.args[2]}, " in text


# -- the same bits --------------------------------------------------------------------------------
# the GEMMs of the benchmarks' training steps: forward Z = XWᵀ, backward X̄ = Z̄W, weight W̄ = Z̄ᵀX
SHAPES = [(m, k, n) for m, k, n in [(128, 784, 256), (128, 256, 256), (512, 784, 256), (512, 256, 256),
                                     (128, 784, 1024), (128, 1024, 1024), (512, 1024, 1024), (128, 256, 384),
                                     (128, 384, 384), (256, 128, 784), (1024, 128, 784), (384, 128, 384)]]


def _rows_of_whole_sgemm(mode, m, k, n, ranges, rng):
    """Does computing rows ``ranges`` of a one-thread sgemm one by one give the whole call's bits?"""
    if mode == "nt":
        a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((n, k), dtype=np.float32)
        f = lambda r0, r1, out: np.matmul(a[r0:r1], b.T, out=out)  # noqa: E731
    elif mode == "nn":
        a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        f = lambda r0, r1, out: np.matmul(a[r0:r1], b, out=out)  # noqa: E731
    else:
        a, b = rng.standard_normal((k, m), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        f = lambda r0, r1, out: np.matmul(a[:, r0:r1].T, b, out=out)  # noqa: E731
    whole, parts = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    f(0, m, whole)
    for r0, r1 in ranges:
        f(r0, r1, parts[r0:r1])
    return whole.tobytes() == parts.tobytes()


@pytest.fixture
def one_blas_thread():
    setb = BlasSetter()
    before = setb.get()
    setb(1)
    yield
    if before:
        setb(before)


@pytest.mark.parametrize("mode", ["nt", "nn", "tn"])
def test_row_slices_of_a_one_thread_sgemm_are_its_rows(mode, one_blas_thread):
    """The shapes the benchmarks split (128 columns or more, chunks of multiples of 32 rows): on this
    machine's BLAS, a row slice of a one-thread sgemm equals those rows of the whole sgemm."""
    rng = np.random.default_rng(0)
    bad = [(m, k, n, c) for m, k, n in SHAPES for c in (2, 4)
           if not _rows_of_whole_sgemm(mode, m, k, n, row_ranges(m, c), rng)]
    assert bad == []


@pytest.mark.parametrize("shape", [(128, 784, 10), (128, 256, 10), (64, 32, 32), (128, 1024, 1024)])
def test_exact_agrees_with_comparing_the_bits(shape, one_blas_thread):
    """``exact`` is what the executor asks before it splits a BLAS node; where OpenBLAS uses another
    kernel for the chunks (few columns), it must say no."""
    m, k, n = shape
    code = Code()
    e = _emission("Gemm", {"transB": 1}, [T(m, k), T(n, k)], code)
    ranges = row_ranges(m, 2)
    assert exact(e, split_axes(e), ranges) == _rows_of_whole_sgemm("nt", m, k, n, ranges, np.random.default_rng(0))


# -- which chunks wait for which -------------------------------------------------------------------
def _mlp_prep():
    b = cr.GraphBuilder("mlp")
    x, t = b.input("x", ("N", 64)), b.input("t", ("N", 8))
    g = cr.compile(b.build(cr.cross_entropy(cr.softmax(cr.nn.mlp([64, 256, 256, 8], seed=0)(x)), t)),
                   "training").graph
    run = DataflowExecutor(g, {k: v.copy() for k, v in g.initializers.items()}, planner=plan_memory,
                           workers=2, threads=2, margin=-10.0, grain=1e-9, guarded=False)
    rng = np.random.default_rng(0)
    run.run_list([rng.standard_normal((128, 64)).astype(np.float32), np.eye(8, dtype=np.float32)[np.arange(128) % 8]])
    prep = next(iter(run._preps.values()))
    return prep, Accesses(prep, run.params), {n.name: i for i, n in enumerate(prep.nodes)}


def test_chunks_wait_only_for_the_bytes_they_touch():
    prep, acc, at = _mlp_prep()
    fc1, relu, gw = at["fc1"], at["relu"], at["grad_fc2.weight"]
    assert acc.conflict(relu, (0, 32), fc1, (0, 32))  # relu[0:32] reads fc1[0:32]
    assert not acc.conflict(relu, (32, 64), fc1, (0, 32))
    grad = at["grad_fc2"]
    assert all(acc.conflict(gw, (0, 128), grad, r) for r in row_ranges(128, 4))  # Z̄ᵀH reads every row of Z̄
    upd, fwd = at["new_fc2.weight"], at["fc2"]  # the update overwrites W, which every forward chunk read
    assert all(acc.conflict(upd, (0, 64), fwd, r) for r in row_ranges(128, 4))


# -- workers pulling tasks -----------------------------------------------------------------------
def _graph(n, edges, log, prio=None):
    succs = [[] for _ in range(n)]
    npreds = [0] * n
    for a, b in edges:
        succs[a].append(b)
        npreds[b] += 1
    fns = [lambda env, k=k: log.append(k) for k in range(n)]
    return TaskGraph(fns, succs, npreds, prio or list(range(n)))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_run_every_task_once_after_its_predecessors(workers):
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (3, 5), (3, 6), (4, 7), (5, 7), (6, 7)]
    pool = Workers(workers)
    for _ in range(50):
        log = []
        pool.run(_graph(8, edges, log), None)
        assert sorted(log) == list(range(8))
        assert all(log.index(a) < log.index(b) for a, b in edges)


def test_one_worker_takes_ready_tasks_by_priority():
    log = []
    Workers(1).run(_graph(5, [(0, 1), (0, 2), (0, 3), (0, 4)], log, prio=[0, 4, 3, 1, 2]), None)
    assert log == [0, 3, 4, 2, 1]


def test_a_failing_task_raises_in_the_caller_and_the_next_call_runs():
    pool = Workers(2)
    log = []
    g = _graph(6, [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 5)], log)

    def boom(env):
        raise ValueError("task 3 failed")
    bad = g._replace(fns=list(g.fns[:3]) + [boom] + list(g.fns[4:]))
    with pytest.raises(ValueError, match="task 3 failed"):
        pool.run(bad, None)
    assert 4 not in log and 5 not in log
    log.clear()
    pool.run(g, None)
    assert sorted(log) == list(range(6))


def test_tasks_run_on_several_threads():
    names = set()
    lock = threading.Lock()
    gate = threading.Barrier(2, timeout=10)

    def task(env):  # two tasks that can only finish together: both workers must run one
        with lock:
            names.add(threading.current_thread().name)
        gate.wait()
    Workers(2).run(TaskGraph([task, task], [[], []], [0, 0], [0, 1]), None)
    assert len(names) == 2
