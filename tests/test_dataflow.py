"""The dataflow executor: a threads budget, cost-based tasks and row chunks, a schedule you can print,
the same bits as the sequential executor, thread-safe calls, and a profile in the trace-event format."""
import json
import pathlib
import sys
import logging
import threading

import numpy as np
import pytest
from hypothesis import given

import chainrule as cr
from chainrule.passes.memory import plan_memory
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from chainrule.runtime.tasks import merge_chains
from chainrule.runtime.threads import BlasSetter, available_cores
from fuzz_graphs import random_graph, random_inputs
from test_fuzz_ir import FUZZ

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_dataflow import towers as tower_graph  # noqa: E402

FORCE = -10.0  # a margin no schedule fails: run the tasks on threads even when no gain is predicted
TINY = 1e-9  # a grain every node beats: cut every node that can be cut into row chunks
two_cores = pytest.mark.skipif(available_cores() < 2, reason="needs two cores to run two workers")


def towers(k=3, sizes=(24, 32, 32, 5)):
    """``k`` independent MLPs on one input, their losses summed (the benchmark's model, smaller), compiled."""
    return cr.compile(tower_graph(k, sizes)[0], "training").graph


def _batch(sizes=(24, 32, 32, 5), n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    t = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    return x, t


def _params(g):
    return {k: v.copy() for k, v in g.initializers.items()}


class _Spy:
    """``np.matmul`` that records the BLAS thread count it runs with (bound into the generated code)."""

    def __init__(self):
        self.seen, self.setb = set(), BlasSetter()

    def __call__(self, *a, **k):
        self.seen.add(self.setb.get())
        return np.matmul(*a, **k)


@pytest.mark.parametrize("margin", [FORCE, 10.0])  # the tasks on threads, and the sequential fallback
def test_every_task_runs_with_one_blas_thread_within_the_cores(margin):
    g = towers(sizes=(24, 64, 64, 5))
    setb = BlasSetter()
    for threads in (None, 1, 2, 64):
        run = DataflowExecutor(g, _params(g), planner=plan_memory, threads=threads, margin=margin, grain=TINY,
                               chunked=True)
        assert 1 <= run.workers <= available_cores()
        spy = _Spy()
        run.run_list(list(_batch((24, 64, 64, 5), n=64)))  # compiles
        for prep in list(run._preps.values()) + [run._prep]:
            prep.gen.ns["mm"] = spy
        before = setb.get()
        run.run_list(list(_batch((24, 64, 64, 5), n=64)))
        assert setb.get() == before  # the caller's count is back
        # 0: no BLAS library to ask; the fallback may run every core's threads (where they keep the bits)
        assert spy.seen <= ({0, 1} if margin == FORCE else {0, 1, run.budget}), spy.seen


def _covered(s, g, extent):
    """Every node runs once: whole, or in row chunks that cover its rows once, in order."""
    by_node = {}
    for p in sorted((p for t in s.tasks for p in t.parts), key=lambda p: (p.node, p.span or ())):
        by_node.setdefault(p.node, []).append(p.span)
    assert sorted(by_node) == list(range(len(g.nodes)))
    for i, cut in by_node.items():
        if cut != [None]:
            assert cut[0].lo == 0 and cut[-1].hi == extent(i, cut[0].axis), (i, cut)
            assert all(a.hi == b.lo and a.axis == b.axis for a, b in zip(cut, cut[1:])), (i, cut)


@two_cores
def test_schedule_covers_every_node_once_and_respects_dependencies():
    g = towers(k=1, sizes=(24, 64, 64, 5))  # one tower: its chunks are the parallelism
    run = DataflowExecutor(g, _params(g), planner=plan_memory, margin=FORCE, guarded=False, grain=TINY, chunked=True)
    xs = list(_batch((24, 64, 64, 5), n=64))
    s = run.schedule_for(xs)
    prep = next(iter(run._preps.values()))
    _covered(s, g, lambda i, axis: prep.emitted[i].type.shape[axis])
    by = {t.index: t for t in s.tasks}
    for t in s.tasks:
        for p in t.preds:
            assert by[p].finish <= t.start + 1e-12, (p, t.index)
    assert s.parallel and 0 < s.makespan and 0 < s.sequential and s.chunked > 0
    text = str(s)
    assert "predicted makespan" in text and "sequential sum" in text and "decision: dataflow" in text
    assert "[0:32]" in text or "[:, 0:32]" in text  # a chunk
    assert len({t.worker for t in s.tasks}) == 2


def _synthetic_schedule(batch):
    """The MLP 64-256-256-8's training step at ``batch``, scheduled with GEMMs big and the rest small."""
    from chainrule.runtime.costmodel import calibrate
    from chainrule.runtime.split import Accesses, plan_chunks
    from chainrule.runtime.tasks import list_schedule
    b = cr.GraphBuilder("mlp")
    x, t = b.input("x", ("N", 64)), b.input("t", ("N", 8))
    g = cr.compile(b.build(cr.cross_entropy(cr.softmax(cr.nn.mlp([64, 256, 256, 8], seed=0)(x)), t)),
                   "training").graph
    run = DataflowExecutor(g, _params(g), planner=plan_memory, workers=2, threads=2, margin=FORCE, guarded=False)
    run.run_list(list(_batch((64, 256, 256, 8), n=batch)))
    prep = next(iter(run._preps.values()))
    cost = [1.0 if n.op.blas else 0.01 for n in prep.nodes]
    chunks = plan_chunks(prep, cost, 0.1, 4)
    s = list_schedule(prep.deps, cost, [n.name for n in prep.nodes], calibrate(), 2, FORCE, 0.1, chunks,
                      {i: prep.emitted[i].type.shape[c.spans[0].axis] for i, c in chunks.items()},
                      Accesses(prep, run.params).conflict)
    return s, chunks, {n: i for i, n in enumerate(s.names)}


def test_chunks_of_one_batch_row_range_chain_into_one_task():
    """At batch 512, fc1[0:128] and relu[0:128] read and write the same rows, so they are one task;
    the weight gradient Z̄ᵀH reads every row of Z̄, so its chunks wait for every row chunk of Z̄."""
    from chainrule.runtime.split import Span
    s, chunks, at = _synthetic_schedule(512)
    tasks = [[(s.names[p.node], p.span) for p in t.parts] for t in s.tasks]
    assert [("fc1", Span(0, 0, 128)), ("relu", Span(0, 0, 128))] in tasks
    grad_w = [t for t in s.tasks if t.parts[0].node == at["grad_fc2.weight"]]
    assert len(grad_w) == 2 and all(t.parts[0].span is not None for t in grad_w)  # its two tiles
    owner = {t.index for t in s.tasks for p in t.parts if p.node == at["grad_fc2"]}
    for t in grad_w:
        assert set(t.preds) >= owner


def test_a_blas_node_is_cut_only_in_its_tiles():
    """fc1 at batch 512 is [512, 256], 8.4 M multiply-adds: the sequential code computes it in four
    tiles of 128 rows (``tiles.py``), and the tasks cut it there; at batch 128 (2.1 M) it is one call,
    and one task."""
    from chainrule.runtime.split import Span
    s, chunks, at = _synthetic_schedule(512)
    assert chunks[at["fc1"]].spans == [Span(0, 0, 128), Span(0, 128, 256), Span(0, 256, 384), Span(0, 384, 512)]
    s, chunks, at = _synthetic_schedule(128)
    assert at["fc1"] not in chunks


def test_small_chains_merge_into_one_task_without_cycles():
    # 0 -> 1 -> 2 (tiny), 0 -> 3 (big), {2, 3} -> 4
    deps = [[], [0], [1], [0], [2, 3]]
    groups = merge_chains(deps, [1.0, 0.1, 0.1, 5.0, 0.1], grain=0.5)
    assert [0, 1, 2] in groups and any(3 in g for g in groups)
    assert sorted(i for g in groups for i in g) == list(range(5))


def test_tiny_graph_falls_back_to_sequential_and_says_so(caplog):
    model = cr.nn.mlp([6, 5, 3], seed=0)
    exe = cr.compile(model, executor="dataflow")
    x = np.ones((4, 6), np.float32)
    with caplog.at_level(logging.INFO, logger="chainrule.dataflow"):
        y = exe(x)
    np.testing.assert_array_equal(y, cr.compile(model)(x))
    s = exe.schedule(x)
    assert not s.parallel and "sequential (no tasks)" in s.decision
    assert s.workers < 2 or "below the margin" in s.decision
    assert "sequential" in caplog.text


@two_cores
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("grain", [None, TINY])  # whole nodes, and every node that can be cut in chunks
def test_threaded_training_step_is_bit_identical_to_sequential(activation, grain):
    sizes = (48, 256, 256, 5)
    g = cr.compile(tower_graph(1 if grain else 2, sizes, activation)[0], "training").graph
    p_seq, p_dfl = _params(g), _params(g)
    seq = SequentialExecutor(g, p_seq, planner=plan_memory, threads=1)
    dfl = DataflowExecutor(g, p_dfl, planner=plan_memory, margin=FORCE, guarded=False, grain=grain,
                           chunked=bool(grain))
    for n in (128, 70, 128, 96):
        x, t = _batch(sizes, n=n, seed=n)
        a, b = seq.run_list([x, t]), dfl.run_list([x, t])
        assert all(u.tobytes() == v.tobytes() for u, v in zip(a, b))
    s = dfl.schedule_for([x, t])
    assert s.parallel and (grain is None or s.chunked > 0)
    prep = dfl._preps[dfl._key([x, t])]  # products in chunks too: their tiles (fc2 is 128×256×256)
    assert grain is None or any(p.span is not None and prep.nodes[p.node].op.blas for t in s.tasks for p in t.parts)
    for k in p_seq:
        assert p_seq[k].tobytes() == p_dfl[k].tobytes(), k


@two_cores
def test_guard_times_both_ways_and_keeps_the_bits():
    """Guarded, a training step alternates between the tasks on threads and the sequential code while
    it times them, then runs the faster: every step's loss and parameters equal the sequential executor's."""
    sizes = (48, 256, 256, 5)
    g = towers(sizes=sizes)
    p_seq, p_dfl = _params(g), _params(g)
    seq = SequentialExecutor(g, p_seq, planner=plan_memory, threads=1)
    dfl = DataflowExecutor(g, p_dfl, planner=plan_memory, margin=FORCE, grain=TINY, chunked=True)
    x, t = _batch(sizes, n=128)
    for _ in range(40):
        a, b = seq.run_list([x, t]), dfl.run_list([x, t])
        assert all(u.tobytes() == v.tobytes() for u, v in zip(a, b))
    assert all(p_seq[k].tobytes() == p_dfl[k].tobytes() for k in p_seq)
    guard = next(iter(dfl.guards.values()))
    # every way timed while warming up (a way swapped in late may be warming up still)
    assert all(guard.calls[w] >= 3 or len(guard.times[w]) < guard.warmup for w in guard.ways), guard.calls
    assert guard.calls["sequential"] >= 3
    # the tasks stay while they beat one thread; if they lost, every core's BLAS threads took their place
    assert "sequential" in guard.ways and len(guard.ways) == 2
    assert set(guard.ways) <= {"dataflow", "sequential", "sequential, 2 BLAS threads"}
    assert "running" in str(guard) and guard.current in guard.ways


@two_cores
@FUZZ
@given(random_graph())
def test_threaded_schedule_equals_sequential_on_random_graphs(g):
    xs = random_inputs(g)
    with np.errstate(all="ignore"):
        seq = SequentialExecutor(g, planner=plan_memory).run_list(xs)
        dfl = DataflowExecutor(g, planner=plan_memory, margin=FORCE, guarded=False, grain=TINY,
                               chunked=True).run_list(xs)
    for a, b in zip(seq, dfl):
        np.testing.assert_array_equal(a, b)


def _stress(call, inputs, expected, threads=4, calls=200):
    """``threads`` threads each make ``calls`` calls on different inputs; every answer must be the
    single-thread one."""
    wrong = []

    def worker(k):
        for c in range(calls):
            j = (k * 7 + c) % len(inputs)
            got = call(inputs[j])
            if not np.array_equal(got, expected[j]):
                wrong.append((k, c))
    ths = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return wrong


@pytest.mark.parametrize("executor", ["interpreter", "sequential", "dataflow", "dataflow-threaded", "numba"])
def test_four_threads_calling_one_executable_get_single_thread_answers(executor):
    g = towers(k=2)
    rng = np.random.default_rng(1)
    inputs = [[rng.standard_normal((64, 24)).astype(np.float32),
               np.eye(5, dtype=np.float32)[rng.integers(0, 5, 64)]] for _ in range(6)]
    infer = cr.compile(cr.nn.mlp([24, 32, 5], seed=0), executor="interpreter")
    g.updates.clear()  # the loss and its gradients, no update: every call has one right answer
    g.set_outputs(list(g.outputs))
    if executor == "dataflow-threaded":
        run = DataflowExecutor(g, _params(g), planner=plan_memory, margin=FORCE, guarded=False, grain=TINY,
                               chunked=True)
    elif executor == "interpreter":
        run = cr.Interpreter(g, _params(g))
    elif executor == "numba":
        pytest.importorskip("numba")  # the README's test command installs it
        from chainrule.runtime.numba_backend import NumbaExecutor
        run = NumbaExecutor(g, _params(g), planner=plan_memory)
    else:
        run = {"sequential": SequentialExecutor, "dataflow": DataflowExecutor}[executor](
            g, _params(g), planner=plan_memory)
    expected = [run.run_list(x)[0] for x in inputs]
    assert _stress(lambda x: run.run_list(x)[0], inputs, expected) == []
    xs = [x for x, _ in inputs]
    ref = [infer(x) for x in xs]
    assert _stress(infer, xs, ref) == []


def test_train_step_predict_and_evaluate_are_thread_safe():
    step = cr.compile_train(cr.nn.mlp([24, 32, 5], seed=0), executor="dataflow")
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((8, 24)).astype(np.float32) for _ in range(5)]
    ref = [step.predict(x) for x in xs]
    assert _stress(step.predict, xs, ref) == []
    t = rng.integers(0, 5, 8)
    ev = step.evaluate(xs[0], t)
    assert _stress(lambda x: np.array(step.evaluate(x, t)["loss" if "loss" in ev else list(ev)[0]]),
                   xs[:1], [np.array(ev["loss" if "loss" in ev else list(ev)[0]])]) == []


@pytest.mark.parametrize("executor", ["sequential", "dataflow"])
def test_compile_train_runs_on_the_chosen_executor(executor):
    from chainrule.runtime.interpreter import Interpreter
    ref = cr.compile_train(cr.nn.mlp([24, 32, 5], seed=0))
    step = cr.compile_train(cr.nn.mlp([24, 32, 5], seed=0), executor=executor, threads=1)
    assert type(step._train).__name__ == {"sequential": "SequentialExecutor", "dataflow": "DataflowExecutor"}[executor]
    assert not isinstance(step._train, Interpreter)
    x, _ = _batch((24, 32, 32, 5), n=8)
    t = np.arange(8) % 5
    for _ in range(3):
        assert step(x, t) == ref(x, t)
    with pytest.raises(cr.ChainruleError, match="unknown executor"):
        cr.compile_train(cr.nn.mlp([4, 2], seed=0), executor="gpu")


REQUIRED = {"X": ("name", "ph", "ts", "dur", "pid", "tid"), "M": ("name", "ph", "pid", "tid", "args")}


def check_trace(doc, graph):
    """The trace-event format's required fields: complete events (ph X) with microsecond ts and dur,
    metadata events (ph M) naming the threads; one complete event per node."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    names = []
    for e in doc["traceEvents"]:
        assert e["ph"] in REQUIRED, e
        for field in REQUIRED[e["ph"]]:
            assert field in e, (field, e)
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int) and isinstance(e["name"], str)
        if e["ph"] == "X":
            assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0 and e["dur"] >= 0
            assert {"op", "span", "shapes", "flops", "bytes"} <= set(e["args"])
            names.append((e["name"], e["args"]["span"]))
    whole = [n for n, rows in names if not rows]
    chunked = {n for n, rows in names if rows}
    assert sorted(whole + sorted(chunked)) == sorted(n.name for n in graph.nodes)  # once, or in chunks


@pytest.mark.parametrize("executor", ["interpreter", "sequential", "dataflow"])
def test_profile_writes_a_chrome_trace_and_a_gantt_chart(executor, tmp_path):
    g = towers()
    exe = cr.compile(g, "inference", executor=executor)
    xs = list(_batch())
    events = exe.profile(xs, str(tmp_path / "trace.json"), gantt=str(tmp_path / "gantt.png"))
    assert len(events) >= len(exe.graph.nodes)
    trace = json.loads((tmp_path / "trace.json").read_text())
    check_trace(trace, exe.graph)
    process, = [e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"]
    ran = "dataflow" if executor == "dataflow" else "sequential"  # an interpreter is timed as sequential code
    assert process == f"{exe.graph.name}: the {ran} executor"
    pytest.importorskip("matplotlib")
    assert (tmp_path / "gantt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gantt_legend_shows_each_ops_colour(tmp_path):
    """Each op's swatch in the legend has that op's colour (an empty bar once drew every swatch in the
    default blue), in a strip below the axes."""
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread
    from chainrule.runtime.profile import Event, gantt_png
    events = [Event("a", "Gemm", 0, 0, "", 0.0, 1e-3, [], 0, 0), Event("b", "Relu", 0, 1, "", 1e-3, 2e-3, [], 0, 0),
              Event("c", "Add", 0, 2, "", 2e-3, 3e-3, [], 0, 0)]
    assert gantt_png(events, str(tmp_path / "g.png"))
    img = (imread(str(tmp_path / "g.png"))[..., :3] * 255).round().astype(int)
    strip = img[int(img.shape[0] * 0.85):]  # below the x-axis label
    colours = {tuple(p) for p in strip.reshape(-1, 3)}
    for hexcode in ("#3b75af", "#d9653b", "#2a9d2a"):  # the palette's first three: Add, Gemm, Relu
        assert tuple(int(hexcode[k:k + 2], 16) for k in (1, 3, 5)) in colours


def test_the_gantt_chart_gives_each_of_a_training_steps_ops_its_own_colour(tmp_path):
    """A training step of an MLP has a dozen ops: each its own colour (8 colours once repeated)."""
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread
    from chainrule.runtime.profile import PALETTE, gantt_png
    step = cr.compile_train(cr.nn.mlp([6, 4, 3], seed=0))
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    events = step.profile(x, np.array([0, 1, 2, 0, 1]))
    ops = sorted({e.op for e in events})
    assert len(ops) >= 10 and len(set(PALETTE)) == len(PALETTE) >= len(ops)
    assert gantt_png(events, str(tmp_path / "g.png"))
    img = (imread(str(tmp_path / "g.png"))[..., :3] * 255).round().astype(int)
    colours = {tuple(p) for p in img[int(img.shape[0] * 0.8):].reshape(-1, 3)}
    assert all(tuple(int(c[k:k + 2], 16) for k in (1, 3, 5)) in colours for c in PALETTE[:len(ops)])


@two_cores
def test_profile_of_a_threaded_schedule_has_a_thread_per_worker(tmp_path):
    g = towers(k=1, sizes=(24, 64, 64, 5))
    run = DataflowExecutor(g, _params(g), planner=plan_memory, margin=FORCE, guarded=False, grain=TINY, chunked=True)
    from chainrule.runtime.profile import chrome_trace, profile
    xs = list(_batch((24, 64, 64, 5), n=64))
    run.run_list(xs)
    events = profile(run, xs)
    doc = chrome_trace(events, "towers")
    check_trace(doc, g)
    assert {e.worker for e in events} == {0, 1} or len({e.worker for e in events}) == 1  # a busy core may run nothing
    assert any(e.span == "[0:32]" for e in events)


@two_cores
def test_cli_profile_of_the_towers_shows_tasks_on_both_cores(tmp_path, capsys):
    """``chainrule profile towers --batch 128`` (README): four MLPs side by side, whose tasks run on two
    workers, first or in turn after every core's BLAS threads (which goes first follows the machine's
    calibration: where a GEMM on two BLAS threads scales well, the tasks are not predicted 1.11x shorter);
    the trace holds their nodes on both threads."""
    from chainrule.frontends.cli.main import main
    out = tmp_path / "trace.json"
    assert main(["profile", "towers", "--batch", "128", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "on 2 worker(s)" in text and "node events on 2 thread(s)" in text
    assert "decision: dataflow on 2 workers" in text or "then the tasks in turn" in text
    doc = json.loads(out.read_text())
    process, = [e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "process_name"]
    assert process == "towers: the dataflow executor"


def test_cli_profile_writes_the_trace(tmp_path, capsys):
    from chainrule.frontends.cli.main import main
    out = tmp_path / "trace.json"
    assert main(["profile", "mlp", "--out", str(out), "--batch", "8"]) == 0
    text = capsys.readouterr().out
    assert "schedule:" in text and "predicted makespan" in text and "wrote" in text
    doc = json.loads(out.read_text())
    assert any(e["ph"] == "X" for e in doc["traceEvents"])


def test_profile_takes_inputs_by_name_as_run_does(tmp_path):
    exe = cr.compile(cr.nn.mlp([6, 4, 3], seed=0), executor="dataflow")
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    name = exe.graph.inputs[0].name
    by_name, listed = exe.profile({name: x}), exe.profile([x])
    assert [e.node for e in by_name] == [e.node for e in listed]
    with pytest.raises(cr.ChainruleError, match=f"missing input\\(s\\) {name}; unknown input\\(s\\) nonsense"):
        exe.profile({"nonsense": x})


@pytest.mark.parametrize("kind", [dict(executor="sequential"), dict(executor="dataflow"), dict(check_numerics=True)])
def test_a_training_step_profiles_one_step_that_updates_as_a_step_does(kind, tmp_path):
    """``TrainStep.profile(x, t, path)``: one step timed node by node, the parameters updated bit for bit
    as by ``step(x, t)`` and the step counted."""
    model = cr.nn.mlp([6, 4, 3], seed=0)
    timed, plain = cr.compile_train(model, **kind), cr.compile_train(model, **kind)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    events = timed.profile(x, t, str(tmp_path / "step.json"))
    plain(x, t)
    assert timed.steps == plain.steps == 1
    assert all(timed.params[k].tobytes() == plain.params[k].tobytes() for k in plain.params)
    check_trace(json.loads((tmp_path / "step.json").read_text()), timed.graph)
    assert {e.node for e in events} == {n.name for n in timed.graph.nodes}
    before = {k: v.copy() for k, v in timed.params.items()}
    with pytest.raises(cr.ir.WriteError, match="the folder .*nowhere does not exist"):  # refused before the step
        timed.profile(x, t, str(tmp_path / "step2.json"), gantt=str(tmp_path / "nowhere" / "g.png"))
    assert timed.steps == 1 and not (tmp_path / "step2.json").exists()
    assert all(before[k].tobytes() == timed.params[k].tobytes() for k in before)
