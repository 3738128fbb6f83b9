"""Sequential and dataflow executors on planned buffers: same results as the interpreter, bit for bit."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import InputError
from chainrule.passes.basic import dce
from chainrule.passes.fuse_elementwise import fuse_elementwise
from chainrule.passes.fusion import fuse_softmax_ce, share_loss_softmax
from chainrule.passes.memory import plan_memory
from chainrule.passes.schedule import schedule
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from mlp_step import add_sgd, batch, mlp_loss_graph

SIZES = (20, 16, 16, 5)


def _step_graph(activation="relu"):
    g = mlp_loss_graph(SIZES, activation)
    fuse_softmax_ce(g)
    add_sgd(g)
    share_loss_softmax(g)
    fuse_elementwise(g)
    dce(g)
    schedule(g)
    cr.verify(g)
    return g


def _params(g):
    return {k: v.copy() for k, v in g.initializers.items()}


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_training_step_dataflow_equals_sequential_bit_for_bit(activation):
    g = _step_graph(activation)
    P = [_params(g) for _ in range(3)]
    runs = [cr.Interpreter(g, P[0]), SequentialExecutor(g, P[1], planner=plan_memory),
            DataflowExecutor(g, P[2], planner=plan_memory, workers=2)]
    for n in (7, 3, 7):  # two batch sizes: one plan per binding of N
        x, t = batch(SIZES, n=n, seed=n)
        outs = [r.run_list([x, t]) for r in runs]
        assert outs[1][0].tobytes() == outs[2][0].tobytes()
        np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-6)
    for k in P[0]:
        assert P[1][k].tobytes() == P[2][k].tobytes(), k
        np.testing.assert_allclose(P[0][k], P[1][k], rtol=1e-5, atol=1e-7)
        assert not np.array_equal(P[1][k], g.initializers[k])  # trained
    assert sorted(runs[1].plans) == [(3, 3), (7, 7)]  # one plan per binding of N (read from x and t)


def test_outputs_are_fresh_arrays_each_call(rng):
    model = cr.nn.mlp([6, 5, 3], seed=0)
    g = model.to_graph()
    run = SequentialExecutor(g, planner=plan_memory)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    a = run.run_list([x])[0]
    a_copy = a.copy()
    b = run.run_list([x * 2])[0]
    assert a is not b and np.array_equal(a, a_copy)
    np.testing.assert_allclose(a, cr.Interpreter(g).run_list([x])[0], rtol=1e-6)


def test_bad_inputs_give_the_interpreters_errors():
    g = _step_graph()
    for run in (SequentialExecutor(g, _params(g), planner=plan_memory),
                DataflowExecutor(g, _params(g), planner=plan_memory)):
        x, t = batch(SIZES, n=4)
        with pytest.raises(InputError, match="dtype"):
            run.run_list([x.astype(np.float64), t])
        with pytest.raises(InputError, match="takes 2 input"):
            run.run_list([x])
        with pytest.raises(InputError, match="dimension 1"):
            run.run_list([x[:, :3], t])


def test_compile_picks_the_executor(rng):
    model = cr.nn.mlp([6, 5, 3], seed=0)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    ref = cr.compile(model, executor="interpreter")(x)
    for kind in ("sequential", "dataflow"):
        exe = cr.compile(model, executor=kind)
        np.testing.assert_array_equal(exe(x), ref)
        assert exe.run({"x": x})[exe.graph.outputs[0].name].shape == (4, 3)
    with pytest.raises(cr.ChainruleError, match="unknown executor"):
        cr.compile(model, executor="gpu")


@pytest.mark.parametrize("call", [lambda m: cr.compile(m, executor="nonsense"),
                                  lambda m: cr.compile_train(m, executor="nonsense"),
                                  lambda m: cr.compile(m, backend="nonsense"),
                                  lambda m: cr.compile(m, pipeline="nonsense")])
def test_a_choice_there_is_not_is_an_argument_error_listing_the_choices(call):
    """A bad value of a known argument is a ValueError (``ArgumentError``), as in Python's own functions."""
    with pytest.raises(cr.ir.ArgumentError, match="nonsense'; choose from") as e:
        call(cr.nn.mlp([6, 5, 3], seed=0))
    assert isinstance(e.value, ValueError) and isinstance(e.value, cr.ChainruleError)


def test_blas_thread_cap_gives_the_same_results(rng):
    model = cr.nn.mlp([6, 5, 3], seed=0)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    ref = cr.compile(model)(x)
    for kind in ("sequential", "dataflow"):
        np.testing.assert_array_equal(cr.compile(model, executor=kind, threads=1)(x), ref)


def test_generated_step_binds_buffers_and_inlines_fused_bodies():
    """The sequential executor's code: no per-call plan look-ups; fused steps are NumPy calls on bound names."""
    g = _step_graph()
    run = SequentialExecutor(g, _params(g), planner=plan_memory)
    x, t = batch(SIZES, n=4)
    run.run_list([x, t])
    src = run.source
    assert "Fused" not in src and "mm(" in src and src.count("\n") > len(g.nodes)
    assert "copyto" not in src  # every SGD update is written into its parameter (planned in place)
    x2, t2 = batch(SIZES, n=4, seed=9)
    again = SequentialExecutor(g, _params(g), planner=plan_memory)
    np.testing.assert_array_equal(run.run_list([x2, t2])[0], (again.run_list([x, t]), again.run_list([x2, t2]))[1][0])


def test_sum_of_three_computed_in_place_on_its_last_operand():
    """Sum(a, b, c) where only c dies at the Sum: the planner puts the result in c's buffer, so the
    out-kernel must not overwrite c before reading it (it gave 2(a + b) instead of a + b + c)."""
    g = cr.Graph("sum3")
    x = g.add_input("x", cr.TensorType((4,), cr.DType.f32))
    e = cr.Emitter(g)
    a, b, c = e.Exp(x, name="a"), e.Sin(x, name="b"), e.Cos(x, name="c")
    s = e.Sum(a, b, c, name="s")
    g.set_outputs([e.Mul(e.Mul(s, a), b, name="t")])
    assert plan_memory(g).alias_of["s"] == 2  # the case this test is about
    xv = np.arange(4, dtype=np.float32)
    ref = cr.Interpreter(g).run_list([xv])[0]
    for run in (SequentialExecutor, DataflowExecutor):
        np.testing.assert_array_equal(run(g, planner=plan_memory).run_list([xv])[0], ref)
    fuse_elementwise(g)  # the same Sum as a step of a Fused body, in place on a dying operand
    np.testing.assert_array_equal(SequentialExecutor(g, planner=plan_memory).run_list([xv])[0], ref)


@pytest.mark.parametrize("executor", ["interpreter", "sequential", "dataflow"])
def test_outputs_keep_their_values_across_calls_and_updates(executor):
    """A view output of a reused buffer, and outputs that are (views of) an updated parameter,
    hold this call's values: the next call and the step's own updates do not change them."""
    b = cr.GraphBuilder("g")
    x = b.input("x", (2, 3))
    exe = cr.compile(b.build(cr.relu(x * 2.0).reshape(6)), executor=executor)
    first = exe(np.ones((2, 3), np.float32))
    exe(np.full((2, 3), 5, np.float32))
    np.testing.assert_array_equal(first, np.full(6, 2, np.float32))

    b = cr.GraphBuilder("u")
    x = b.input("x", (3,))
    w = b.param("w", np.ones(3, np.float32))
    g = b.build(cr.identity(w), w.reshape(3, 1))
    g.outputs.append(w.value)
    g.add_update(w.value, (w + x).value)
    exe = cr.compile(g, executor=executor)
    ident, col, same = exe(np.ones(3, np.float32))
    for out in (ident, col.ravel(), same):
        np.testing.assert_array_equal(out, [1, 1, 1])  # w before the step
    np.testing.assert_array_equal(exe.params["w"], [2, 2, 2])  # w after it
