"""Every core's BLAS threads only where they give one thread's bits (``runtime/agree.py``), and the
guard choosing among three ways (``runtime/guard.py``)."""
import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule.passes.memory import plan_memory
from chainrule.runtime.agree import Agreeing
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from chainrule.runtime.guard import Guard
from chainrule.runtime.threads import BlasSetter, available_cores
from mlp_step import mlp_loss_graph
from test_split import _Clock  # a clock each way advances by its own cost


@pytest.fixture
def as_recorded(monkeypatch):
    """Plans and bits as on the machine of the recorded run in docs/performance.md, not this one's:
    its rates (a calibration taken while the host is busy measured 2 BLAS threads at 1.6x one, not
    1.95x, and predicted no gain from every core's threads at batch 32), and a BLAS whose threads
    keep a step's bits (on another machine OpenBLAS changed them for nearly every product, and
    every core's threads left the guard at the first call). A test of the ways' turns then tests
    the turns wherever it runs."""
    from chainrule.runtime import dataflow
    from chainrule.runtime.costmodel import Machine

    class Agrees(Agreeing):
        def check(self, arrays, P):
            self.ok = True
            return self.run(1, self.step, arrays, P)
    m = Machine(cores=2, madd=(2 / 100e9, 2 / 195e9), byte=1 / 122e9, call=0.9e-6, handoff=8.6e-6,
                launch=31.5e-6, task=0.53e-6)
    monkeypatch.setattr(dataflow, "calibrate", lambda: m)
    monkeypatch.setattr(dataflow, "Agreeing", Agrees)


def _fake(bits_follow_threads):
    """A step adding 1 to P['w'] and returning w * 3 (+ 1e-3 per extra BLAS thread if ``bits_follow_threads``);
    ``run(n, step, ...)`` passes the thread count through ``seen``."""
    seen = []

    def run(n, step, arrays, P):
        seen.append(n)
        return step(arrays, P, n)

    def step(arrays, P, n=1):
        P["w"] += 1
        return [P["w"] * 3 + (1e-3 * (n - 1) if bits_follow_threads else 0.0)]
    return step, run, seen


def test_a_step_that_agrees_runs_on_every_thread_after_one_checked_call():
    step, run, seen = _fake(False)
    P = {"w": np.zeros(2, np.float32)}
    way = Agreeing(step, run, 2)
    out = way([], P)
    assert way.ok is True and seen == [2, 1]  # checked: n threads on copies, then one for real
    assert P["w"].tolist() == [1, 1] and out[0].tolist() == [3, 3]  # the real parameters updated once
    way([], P)
    assert seen == [2, 1, 2] and P["w"].tolist() == [2, 2]


def test_a_step_whose_bits_change_gives_the_one_thread_answer_and_is_dropped():
    step, run, seen = _fake(True)
    dropped = []
    P = {"w": np.zeros(2, np.float32)}
    way = Agreeing(step, run, 2, on_disagree=lambda: dropped.append(1))
    out = way([], P)
    assert way.ok is False and dropped == [1] and out[0].tolist() == [3, 3] and P["w"].tolist() == [1, 1]
    way([], P)
    assert seen == [2, 1, 1]  # never again with two threads


def test_the_guard_runs_the_fastest_of_three_and_probes_each_of_the_others():
    clock = _Clock({"dataflow": 1.2, "sequential": 1.1, "many": 1.0})
    g = Guard({w: clock.way(w) for w in ("dataflow", "sequential", "many")}, clock=lambda: clock.now)
    for _ in range(400):
        g()
    assert g.current == "many"
    runs = [(w, len(list(c))) for w, c in itertools.groupby(clock.log[20:])]
    assert {w for w, _ in runs} == {"dataflow", "sequential", "many"}  # both others probed, two calls each
    assert all(n == 2 for w, n in runs if w != "many")
    clock.cost["many"] = 20.0  # another job takes a core: the two-thread BLAS collapses
    for _ in range(400):
        g()
    assert g.current == "sequential" and clock.log[-100:].count("sequential") > 90
    g.drop("sequential")
    assert "sequential" not in g.ways and g.current in ("dataflow", "many")
    g()
    g.drop("dataflow")
    g.drop("many")  # the last way stays
    assert list(g.ways) == ["many"]


def test_the_guard_tells_of_every_probe_and_a_way_can_be_replaced():
    clock = _Clock({"dataflow": 1.5, "sequential": 1.0, "many": 0.5})
    probed = []

    def on_probe(way):
        probed.append((way, g.medians[way]))
        if way == "dataflow":
            g.drop("dataflow")
            g.add("many", clock.way("many"))
    g = Guard({w: clock.way(w) for w in ("dataflow", "sequential")}, clock=lambda: clock.now, on_probe=on_probe)
    for _ in range(200):
        g()
    assert probed[0] == ("dataflow", 1.5) and set(g.ways) == {"sequential", "many"} and g.current == "many"
    assert "dataflow" not in clock.log[clock.log.index("many"):]
    assert ("sequential", 1.0) in probed  # a probe of one thread's code, which lost to ``many``


@pytest.mark.skipif(available_cores() < 2 or not BlasSetter().get(), reason="needs two cores and a BLAS library")
@pytest.mark.parametrize("sizes", [(784, 256, 10), (256, 512, 10)])  # a product summed in two (``summed``), and not
def test_the_dataflow_executor_keeps_one_threads_bits_whatever_blas_does(sizes):
    """With no tasks (one worker) and two BLAS threads predicted to pay (margin -1), the guard times the
    sequential code at one BLAS thread and at two; every call's bits equal the sequential executor's at one thread,
    whichever ran."""
    g = cr.compile(mlp_loss_graph(sizes), "training").graph
    p_seq, p_dfl = ({k: v.copy() for k, v in g.initializers.items()} for _ in range(2))
    seq = SequentialExecutor(g, p_seq, planner=plan_memory, threads=1)
    dfl = DataflowExecutor(g, p_dfl, planner=plan_memory, workers=1, margin=-1.0)  # two threads "pay"
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((32, sizes[0])).astype(np.float32)
    ts = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], 32)]
    for _ in range(40):
        a, c = seq.run_list([xs, ts]), dfl.run_list([xs, ts])
        assert all(u.tobytes() == v.tobytes() for u, v in zip(a, c))
    assert all(p_seq[k].tobytes() == p_dfl[k].tobytes() for k in p_seq)
    (key, agreed), = dfl.agreements.items()
    guard = dfl.guards[key]
    assert agreed.ok in (True, False) and ("sequential, 2 BLAS threads" in guard.ways) == agreed.ok
    if agreed.ok:
        # it ran beside the other way: at least one two-call run (once only, if 3x slower: ``Guard.slow``)
        assert guard.calls["sequential, 2 BLAS threads"] >= 2


def test_the_schedule_says_which_of_the_tasks_and_every_cores_threads_runs_first():
    from chainrule.runtime.tasks import Schedule
    s = Schedule([], ["a"], 2, makespan=1.0e-3, sequential=2.0e-3, margin=0.1)
    assert s.parallel and s.tasks_first  # nothing on every core to compare with
    s.every_core, s.blas_threads = 1.05e-3, 2
    assert not s.tasks_first and "sequential on 2 BLAS threads" in s.decision and "(1.050 ms on 2 BLAS" in str(s)
    assert s.ways == ["sequential, 2 BLAS threads", "dataflow"]
    s.every_core = 1.2e-3  # the tasks 1.2x shorter: over the margin
    assert s.tasks_first and s.decision.startswith("dataflow on 2 workers")
    assert s.ways == ["dataflow", "sequential, 2 BLAS threads"] and "then sequential on 2 BLAS threads" in s.decision


def test_tasks_that_pay_run_beside_one_thread_when_every_cores_threads_do_not():
    """The tasks 1.18x shorter than one thread, and every core's threads 1.09x: those are within the
    margin of one thread, and the tasks within it of them. The tasks still take their turns."""
    from chainrule.runtime.tasks import Schedule
    s = Schedule([], ["a"], 2, makespan=8.5e-3, sequential=10.0e-3, margin=0.1)
    s.every_core, s.blas_threads = 9.2e-3, 2
    assert s.parallel and not s.tasks_first and not s.every_core_pays
    assert s.ways == ["dataflow"]
    assert s.decision == "dataflow on 2 workers (predicted 1.18x the sequential sum); on 2 BLAS threads 1.09x, below the margin"


def test_with_nothing_predicted_to_pay_the_step_runs_at_one_thread_unguarded_and_says_so():
    from chainrule.runtime.tasks import Schedule
    s = Schedule([], ["a"], 2, makespan=2.0e-3, sequential=2.0e-3, margin=0.1)
    s.every_core, s.blas_threads = 1.5e-3, 2  # every core's threads 1.33x shorter: they get a turn
    assert not s.parallel and s.every_core_pays and "one BLAS thread against 2" in s.decision
    assert s.ways == ["sequential, 2 BLAS threads"]
    s.every_core = 1.9e-3  # 1.05x: below the margin
    assert not s.every_core_pays and s.decision.startswith("sequential (no tasks) at one BLAS thread")
    assert "on 2 BLAS threads 1.05x" in s.decision and s.ways == []
    g = cr.compile(mlp_loss_graph((784, 256, 10)), "training").graph
    p_seq, p_dfl = ({k: v.copy() for k, v in g.initializers.items()} for _ in range(2))
    seq = SequentialExecutor(g, p_seq, planner=plan_memory, threads=1)
    dfl = DataflowExecutor(g, p_dfl, planner=plan_memory, margin=10.0)  # 1 - margin < 0: nothing is predicted to pay
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((8, 784)).astype(np.float32)
    ts = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]
    for _ in range(3):
        a, c = seq.run_list([xs, ts]), dfl.run_list([xs, ts])
        assert all(u.tobytes() == v.tobytes() for u, v in zip(a, c))
    assert not dfl.guards and not dfl.agreements and "at one BLAS thread" in dfl.schedule_for([xs, ts]).decision


@pytest.mark.skipif(available_cores() < 2 or not BlasSetter().get(), reason="needs two cores and a BLAS library")
@pytest.mark.parametrize("batch", [32, 512])
def test_the_guard_starts_with_the_predicted_way_and_the_two_take_turns(batch, as_recorded):
    """The first way of several cores is the schedule's (``tasks_first``); at the first probe after its
    turn (``turn`` seconds), its ratio to one thread is noted and the other has its turn; then the
    better of the two holds (``runtime/turns.py``, simulated in ``tests/test_turns.py``)."""
    g = cr.compile(mlp_loss_graph([256, 512, 512, 10]), "training").graph
    run = DataflowExecutor(g, {k: v.copy() for k, v in g.initializers.items()}, planner=plan_memory)
    xs = np.random.default_rng(0).standard_normal((batch, 256)).astype(np.float32)
    run.run_list([xs, np.eye(10, dtype=np.float32)[np.arange(batch) % 10]])
    (key, sched), = run.schedules.items()
    guard, turns, many = run.guards[key], run.turns[key], "sequential, 2 BLAS threads"
    assert sched.parallel and sched.every_core is not None
    first, then = ("dataflow", many) if sched.tasks_first else (many, "dataflow")
    assert set(guard.ways) == {first, "sequential"} and list(turns.ways) == [first, then]
    guard.medians.update({first: 0.8e-3, "sequential": 1.0e-3})
    guard.on_probe(first)  # its turn is young (``turn`` seconds at least)
    assert set(guard.ways) == {first, "sequential"}
    turns.turn = 0.0
    guard.on_probe("sequential")
    assert set(guard.ways) == {then, "sequential"} and turns.ratio == {first: pytest.approx(0.8)}
    guard.medians[then] = 0.9e-3  # 0.9x one thread: the first did better
    guard.on_probe(then)
    assert set(guard.ways) == {first, "sequential"} and turns.holder == first and then in turns.due


@pytest.mark.skipif(available_cores() < 2 or not BlasSetter().get(), reason="needs two cores and a BLAS library")
def test_every_cores_threads_that_change_the_bits_give_way_to_the_tasks(as_recorded):
    g = cr.compile(mlp_loss_graph([256, 512, 512, 10]), "training").graph
    run = DataflowExecutor(g, {k: v.copy() for k, v in g.initializers.items()}, planner=plan_memory, margin=0.0)
    xs = np.random.default_rng(0).standard_normal((32, 256)).astype(np.float32)
    run.run_list([xs, np.eye(10, dtype=np.float32)[np.arange(32) % 10]])
    (key, sched), = run.schedules.items()
    guard = run.guards[key]
    sched_first = "dataflow" if sched.tasks_first else "sequential, 2 BLAS threads"
    assert set(guard.ways) == {sched_first, "sequential"}
    run.agreements[key].on_disagree()  # as if every core's threads gave other bits
    assert set(guard.ways) == {"dataflow", "sequential"}


@pytest.mark.skipif(available_cores() < 2 or not BlasSetter().get(), reason="needs two cores and a BLAS library")
def test_the_executor_runs_the_schedules_ways_even_when_every_cores_threads_do_not_pay():
    """A schedule whose tasks pay against one thread, and every core's threads do not (predicted
    0.95x one thread's sum: within the margin), runs the tasks beside one thread's code, guarded."""
    class Predicted(DataflowExecutor):
        def _every_core(self, sched, prep, m):
            sched = super()._every_core(sched, prep, m)
            sched.every_core, sched.makespan = 0.95 * sched.sequential, 0.9 * sched.sequential
            return sched
    g = cr.compile(mlp_loss_graph([256, 512, 512, 10]), "training").graph
    p_seq, p_dfl = ({k: v.copy() for k, v in g.initializers.items()} for _ in range(2))
    seq = SequentialExecutor(g, p_seq, planner=plan_memory, threads=1)
    run = Predicted(g, p_dfl, planner=plan_memory)
    xs = np.random.default_rng(0).standard_normal((128, 256)).astype(np.float32)
    ts = np.eye(10, dtype=np.float32)[np.arange(128) % 10]
    for _ in range(12):
        a, c = seq.run_list([xs, ts]), run.run_list([xs, ts])
        assert all(u.tobytes() == v.tobytes() for u, v in zip(a, c))
    (key, sched), = run.schedules.items()
    assert sched.parallel and not sched.tasks_first and not sched.every_core_pays
    assert set(run.guards[key].ways) == {"dataflow", "sequential"} and list(run.turns[key].ways) == ["dataflow"]
    assert key not in run.agreements and run.guards[key].calls["dataflow"] >= 2
