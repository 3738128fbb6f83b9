"""Chunks and pulled tasks: the ``split`` facet of the ops, chunks that give the whole node's bits (a row
or column slice of a one-thread sgemm against the whole sgemm), which chunks must wait for which, and the
workers that pull ready tasks by priority."""
import itertools
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import OPS, DType, TensorType
from chainrule.ir.ops.linalg import summed
from chainrule.passes.memory import plan_memory
from chainrule.runtime.codegen import Code
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import Emission, SequentialExecutor
from chainrule.runtime.pull import TaskGraph, Workers
from chainrule.runtime.split import Accesses, Span, chunk_lines, spans
from chainrule.runtime.tiles import tiles
from chainrule.runtime.threads import BlasSetter

F32 = DType.f32


def T(*shape):
    return TensorType(shape, F32)


# -- the facet ------------------------------------------------------------------------------------
def test_split_is_a_facet_of_the_op():
    gemm = OPS["Gemm"]
    attrs = gemm.check_attrs({"transB": 1})
    fwd = [T(128, 784), T(256, 784), T(256)]  # Z = XWᵀ + b
    assert gemm.split(attrs, fwd, T(128, 256), 0) == (0, None, None)
    assert gemm.split(attrs, fwd, T(128, 256), 1) == (None, 0, 0)  # columns of Z: rows of W, entries of b
    grad_w = gemm.check_attrs({"transA": 1})  # W̄ = Z̄ᵀX: rows of W̄ are columns of Z̄
    assert gemm.split(grad_w, [T(128, 256), T(128, 784)], T(256, 784), 0) == (1, None)
    assert gemm.split(grad_w, [T(128, 256), T(128, 784)], T(256, 784), 2) is None
    assert OPS["MatMul"].split({}, [T(64, 8), T(8, 3)], T(64, 3), 0) == (0, None)
    assert OPS["MatMul"].split({}, [T(64, 8), T(8, 3)], T(64, 3), 1) == (None, 1)
    assert OPS["MatMul"].split({}, [T(8), T(8, 3)], T(3), 0) is None  # a vector has no rows to split
    add = OPS["Add"]
    assert add.split({}, [T(64, 256), T(256)], T(64, 256), 0) == (0, None)  # the bias is read whole
    assert add.split({}, [T(64, 256), T(256)], T(64, 256), 1) == (1, 0)
    assert add.split({}, [T(64, 256), T(1, 256)], T(64, 256), 0) == (0, None)
    assert add.split({}, [T(64, 1), T(64, 256)], T(64, 256), 0) == (0, 0)
    assert OPS["ReduceSum"].split({"axes": (0,)}, [T(64, 256)], T(256), 0) is None  # sums over rows
    assert add.split({}, [T(), T()], T(), 0) is None


def test_spans_start_at_multiples_of_the_unit():
    assert spans(0, 128, 4) == [Span(0, 0, 32), Span(0, 32, 64), Span(0, 64, 96), Span(0, 96, 128)]
    assert spans(1, 784, 4) == [Span(1, 0, 224), Span(1, 224, 448), Span(1, 448, 672), Span(1, 672, 784)]
    assert spans(0, 100, 4) == [Span(0, 0, 32), Span(0, 32, 64), Span(0, 64, 96), Span(0, 96, 100)]
    assert spans(0, 32, 4) == [Span(0, 0, 32)]
    assert str(Span(0, 0, 32)) == "[0:32]" and str(Span(1, 64, 128)) == "[:, 64:128]"


def _emission(opname, attrs, in_types, code):
    op = OPS[opname]
    attrs = op.check_attrs(attrs)
    out = op.infer(in_types, attrs)[0]
    return Emission(op, attrs, code.const(np.empty(out.shape, np.float32), "o"),
                    [code.const(np.zeros(t.shape, np.float32), "x") for t in in_types], in_types, out, -1, [])


def test_a_chunk_is_the_ops_own_lines_on_row_slices():
    code = Code()
    e = _emission("Gemm", {"transA": 1}, [T(128, 256), T(128, 784)], code)
    lines = chunk_lines(code, e, Span(0, 0, 64))
    assert lines == [f"mm({e.args[0]}[:, 0:64].T, {e.args[1]}, {e.out}[0:64])"]
    e = _emission("Gemm", {"transB": 1}, [T(128, 784), T(256, 784), T(256)], code)
    text = "\n".join(chunk_lines(code, e, Span(0, 32, 64)))
    assert f"{e.args[0]}[32:64], {e.args[1]}.T, {e.out}[32:64]" in text and f", {e.args[2]}, " in text
    text = "\n".join(chunk_lines(code, e, Span(1, 128, 256)))
    assert f"mmk({e.args[0]}, {e.args[1]}[128:256].T, {e.out}[:, 128:256])" in text  # K = 784: summed in two
    assert f"{e.args[2]}[128:256]" in text


@pytest.fixture
def one_blas_thread():
    setb = BlasSetter()
    before = setb.get()
    setb(1)
    yield
    if before:
        setb(before)


# -- the same bits: tiles ------------------------------------------------------------------------
def test_tiles_read_the_shape_only():
    """A product of ``MIN_MADDS`` or more is cut along its longer side in at most ``MOST`` tiles of
    ``LEAST`` or more; the machine plays no part, so the bits are the same on every run."""
    code = Code()
    fwd = _emission("Gemm", {"transB": 1}, [T(512, 1024), T(1024, 1024), T(1024)], code)
    assert tiles(fwd) == [Span(1, 0, 256), Span(1, 256, 512), Span(1, 512, 768), Span(1, 768, 1024)]
    grad_w = _emission("Gemm", {"transA": 1}, [T(128, 384), T(128, 256)], code)  # W̄ = Z̄ᵀX, 384×256
    assert tiles(grad_w) == [Span(0, 0, 128), Span(0, 128, 256), Span(0, 256, 384)]
    assert tiles(_emission("Gemm", {"transB": 1}, [T(32, 784), T(256, 784)], code)) == \
        [Span(1, 0, 128), Span(1, 128, 256)]
    assert tiles(_emission("Gemm", {"transB": 1}, [T(1, 784), T(256, 784)], code)) is None  # 0.2 M madds
    assert tiles(_emission("Gemm", {"transB": 1}, [T(4096, 784), T(10, 784)], code)) == \
        [Span(0, 0, 1024), Span(0, 1024, 2048), Span(0, 2048, 3072), Span(0, 3072, 4096)]
    assert tiles(_emission("Add", {}, [T(512, 1024), T(1024)], code)) is None  # not a product


def test_the_sequential_code_computes_a_big_product_in_its_tiles(one_blas_thread):
    """The planned code of ``X Wᵀ + b`` at 256×784 → 512 is its tiles' calls, one after the other: the
    same bits as computing each slice alone, whatever the BLAS does with a whole call."""
    b = cr.GraphBuilder("fc")
    x = b.input("x", ("N", 784))
    lin = cr.nn.Linear(784, 512, seed=0)
    lin.bias[:] = np.linspace(-1, 1, 512, dtype=np.float32)
    g = cr.compile(b.build(cr.relu(lin(x))), "inference").graph
    run = SequentialExecutor(g, dict(g.initializers), planner=plan_memory)
    xs = np.random.default_rng(0).standard_normal((256, 784)).astype(np.float32)
    y = run.run_list([xs])[0]
    w, bias = g.initializers["linear.weight"], g.initializers["linear.bias"]
    cut = [Span(1, 0, 128), Span(1, 128, 256), Span(1, 256, 384), Span(1, 384, 512)]
    want = np.empty((256, 512), np.float32)
    for s in cut:
        summed(xs, w[s.lo:s.hi].T, want[:, s.lo:s.hi])  # K = 784: summed in two, as every executor does
        want[:, s.lo:s.hi] += bias[s.lo:s.hi]
    np.maximum(want, 0, out=want)
    assert y.tobytes() == want.tobytes()
    np.testing.assert_allclose(y, np.maximum(xs @ w.T + bias, 0), rtol=1e-5, atol=1e-5)


# -- which chunks wait for which -------------------------------------------------------------------
def _mlp_prep(batch):
    b = cr.GraphBuilder("mlp")
    x, t = b.input("x", ("N", 64)), b.input("t", ("N", 8))
    g = cr.compile(b.build(cr.cross_entropy(cr.softmax(cr.nn.mlp([64, 256, 256, 8], seed=0)(x)), t)),
                   "training").graph
    run = DataflowExecutor(g, {k: v.copy() for k, v in g.initializers.items()}, planner=plan_memory,
                           workers=2, threads=2, margin=-10.0, grain=1e-9, guarded=False)
    rng = np.random.default_rng(0)
    run.run_list([rng.standard_normal((batch, 64)).astype(np.float32),
                  np.eye(8, dtype=np.float32)[np.arange(batch) % 8]])
    prep = next(iter(run._preps.values()))
    return prep, Accesses(prep, run.params), {n.name: i for i, n in enumerate(prep.nodes)}


def test_chunks_wait_only_for_the_bytes_they_touch():
    prep, acc, at = _mlp_prep(512)
    fc1, relu, gw = at["fc1"], at["relu"], at["grad_fc2.weight"]
    rows = spans(0, 512, 4)
    assert acc.conflict(relu, rows[0], fc1, rows[0])  # relu[0:128] reads fc1[0:128]
    assert not acc.conflict(relu, rows[1], fc1, rows[0])
    grad = at["grad_fc2"]
    assert all(acc.conflict(gw, Span(0, 0, 64), grad, r) for r in rows)  # Z̄ᵀH reads every row of Z̄
    upd, fwd = at["new_fc2.weight"], at["fc2"]  # the update overwrites W, which every forward chunk read
    assert all(acc.conflict(upd, Span(0, 0, 64), fwd, r) for r in rows)
    cols = spans(1, 256, 2)  # a column slice conflicts with every row chunk it crosses
    assert acc.conflict(relu, rows[1], fc1, cols[0])


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


def test_a_call_shortens_the_switch_interval_and_gives_it_back():
    import sys
    from chainrule.runtime.pull import SWITCH
    seen = []
    before = sys.getswitchinterval()
    Workers(2).run(TaskGraph([lambda env: seen.append(sys.getswitchinterval())], [[]], [0], [0]), None)
    assert seen == [pytest.approx(min(before, SWITCH))] and sys.getswitchinterval() == before


# -- the measured guard ------------------------------------------------------------------------------
class _Clock:
    """A clock that each way advances by its own cost (``cost`` can change between calls)."""

    def __init__(self, cost):
        self.now, self.cost, self.log = 0.0, cost, []

    def way(self, name):
        def run():
            self.log.append(name)
            self.now += self.cost[name]
            return name
        return run


def test_guard_runs_the_faster_way_and_times_the_other_ever_less_often():
    from chainrule.runtime.guard import Guard
    clock = _Clock({"dataflow": 1.1, "sequential": 1.0})
    g = Guard({w: clock.way(w) for w in ("dataflow", "sequential")}, clock=lambda: clock.now)
    for _ in range(300):
        g()
    runs = [(w, len(list(calls))) for w, calls in itertools.groupby(clock.log)]
    assert all(n == 2 for w, n in runs if w == "dataflow")  # a probe: two calls, the second timed
    # back from a probe, one call untimed, then 10 timed (a way 1.1x slower keeps a two-call probe
    # within 2% of the time after 2 x 0.1 / 2% calls), 20, 40, 80 before the next probe
    assert [n for w, n in runs if w == "sequential"][2:6] == [11, 21, 41, 81]
    assert g.current == "sequential" and "running sequential" in str(g)
    clock.cost["dataflow"] = 0.5  # the other core is free again: the next probes see it
    for _ in range(600):
        g()
    assert g.current == "dataflow" and clock.log[-50:].count("dataflow") > 40


def test_guard_keeps_the_probes_of_a_much_slower_way_within_its_share():
    """A two-thread BLAS on two busy cores is 20x slower: probing it as often as a way 10% slower would
    cost 15% of the time; the guard waits until a probe is 2% of the calls since the last."""
    from chainrule.runtime.guard import Guard
    clock = _Clock({"dataflow": 1.0, "sequential": 21.0})
    g = Guard({w: clock.way(w) for w in ("dataflow", "sequential")}, clock=lambda: clock.now)
    for _ in range(20):
        g()
    start, calls = clock.now, len(clock.log)
    for _ in range(5000):
        g()
    spent = clock.log[calls:].count("sequential") * 21.0
    assert g.current == "dataflow" and 0 < spent / (clock.now - start) <= 0.025


def test_after_a_slow_stretch_the_guard_finds_the_faster_way_again_within_every_seconds():
    """On this host two BLAS threads on 784-256-256-10 at batch 128 ran 1.3 ms a step, then for 5-12 s
    at a time 2.25 ms, one thread 1.92 ms. Through such a stretch the probes of the two threads drift
    2048 calls apart (4 s of one thread's calls); ``every`` keeps them at most 0.5 s apart."""
    from bisect import bisect_left

    from chainrule.runtime.guard import EVERY, Guard
    MS, stretch = 1e-3, (5.0, 15.0)

    def back(every):
        now, log = [0.0], []

        def way(name):
            def run():
                slow = name == "many" and stretch[0] <= now[0] < stretch[1]
                log.append((now[0], name))
                now[0] += {"many": 2.25 if slow else 1.3, "sequential": 1.92}[name] * MS
            return run
        g = Guard({w: way(w) for w in ("many", "sequential")}, clock=lambda: now[0], every=every)
        while now[0] < stretch[1] + 6.0:
            g()
        assert any(w == "sequential" for t, w in log if stretch[0] + 1 < t < stretch[1])  # one thread ran
        runs = [t for t, w in log if w == "many" and t >= stretch[1]]
        ahead = next(t for i, t in enumerate(runs) if bisect_left(runs, t + 0.1) - i > 50)  # a run, not a probe
        return ahead - stretch[1]
    assert back(EVERY) <= EVERY + 0.05
    assert back(None) > 1.0  # counted in calls alone


def test_the_guard_times_a_far_slower_way_once_while_warming_up():
    """Two BLAS threads on two busy cores took 500 ms a call against 2.5 ms: three timed calls of it
    to warm up would cost more than a training run's first thousand steps. A way whose fastest call
    took 3x the other's median is known slower at once, and probed as its time allows."""
    from chainrule.runtime.guard import Guard
    clock = _Clock({"many": 200.0, "sequential": 1.0})
    g = Guard({w: clock.way(w) for w in ("many", "sequential")}, clock=lambda: clock.now)
    for _ in range(3000):
        g()
    runs = [(w, len(list(calls))) for w, calls in itertools.groupby(clock.log)]
    assert runs[:2] == [("many", 2), ("sequential", 2998)]  # its next probe after 2 x 199 / 2% = 19900 calls
    spent = clock.log.count("many") * 200.0
    assert g.current == "sequential" and spent / clock.now < 0.12
    clock.cost["late"] = 300.0
    g.add("late", clock.way("late"))
    for _ in range(3000):
        g()
    assert clock.log.count("late") == 2  # timed once, as a probe, then spaced as its time allows
