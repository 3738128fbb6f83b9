"""im2col's workspace is planned memory: the planner counts a convolution's scratch arrays at its
step (in the timeline, the peak and the lower bound) and places them in the arena, and the planned
executors pass the same arrays to every call instead of allocating them, bit for bit as before."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir.ops import conv
from chainrule.ir.ops.outkernels import workspace_layout
from chainrule.passes.memory import plan_memory
from chainrule.runtime.dataflow import DataflowExecutor
from chainrule.runtime.executor import SequentialExecutor
from chainrule.runtime.interpreter import Interpreter

nn = cr.nn
SCRATCH_OPS = ("Conv", "ConvTranspose", "ConvFilterGrad")


def cnn_step_graph():
    """A training step whose backward pass holds all three convolutions (conv2's x̄ is a ConvTranspose)."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=0), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, stride=2, padding=(1, 1), groups=2, seed=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(24, 10, seed=2))
    return cr.compile_train(model, input_shape=("N", 1, 8, 8), optimizer=cr.optim.SGD(lr=0.1)).graph


def batch(rng, n=5):
    return [rng.standard_normal((n, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, n)]


def test_memory_plan_counts_each_convolutions_workspace_at_its_step():
    g = cnn_step_graph()
    plan = plan_memory(g, {"N": 5})
    nodes = {n.name: n for n in g.nodes}
    assert sorted({nodes[k].op.name for k in plan.workspace_bytes}) == sorted(SCRATCH_OPS)
    without = plan_memory(g, {"N": 5})
    for name, b in plan.workspace_bytes.items():
        n = nodes[name]
        assert b == workspace_layout(n, {"N": 5}).nbytes > 0
        parts = n.op.workspace([v.type for v in n.inputs], dict(n.attrs))
        assert b >= sum(t.nbytes({"N": 5}) for t in parts)  # the columns (C·kh·kw·Ho·Wo·N) and the copies
        i = plan.order.index(name)
        # the step's live bytes are the planned values live there plus the scratch
        assert plan.live_bytes[i] >= b
        assert plan.lower_bound_bytes >= plan.live_bytes[i]
    assert plan.peak_bytes >= plan.lower_bound_bytes >= max(plan.workspace_bytes.values())
    assert without.live_bytes == plan.live_bytes  # deterministic
    # the workspace has bytes of its own in the arena, disjoint from every value live at its step
    for name, b in plan.workspace_of.items():
        lo, hi = plan.buffer_offsets[b], plan.buffer_offsets[b] + plan.buffer_bytes[b]
        assert hi - lo >= plan.workspace_bytes[name]
        n = nodes[name]
        for v in list(n.inputs) + list(n.outputs):
            if v.name in plan.buffer_of:
                c = plan.buffer_of[v.name]
                assert plan.buffer_offsets[c] >= hi or plan.buffer_offsets[c] + plan.buffer_bytes[c] <= lo, v.name


def test_cost_memory_on_the_cnn_shows_the_workspace(capsys):
    from chainrule.frontends.cli import main as cli
    assert cli.main(["cost", "cnn", "--memory", "--summary", "--batch", "16"]) == 0
    out = capsys.readouterr().out
    assert "workspaces (kernel scratch, planned): 2 nodes, largest" in out
    assert "at node conv1" in out


@pytest.mark.parametrize("executor", [SequentialExecutor, DataflowExecutor])
def test_planned_executors_reuse_one_workspace_and_match_the_interpreter_bit_for_bit(executor, monkeypatch):
    g = cnn_step_graph()
    seen = []  # per kernel call: the address of its columns, or None when the kernel allocated them
    real = conv._scratch

    def scratch(shapes, dtype, workspace):
        seen.append(None if workspace is None else workspace[1].__array_interface__["data"][0])
        return real(shapes, dtype, workspace)
    monkeypatch.setattr(conv, "_scratch", scratch)
    params = {k: np.array(v) for k, v in g.initializers.items()}
    interp = Interpreter(g, {k: v.copy() for k, v in params.items()})
    exe = executor(g, {k: v.copy() for k, v in params.items()}, planner=plan_memory)
    rng = np.random.default_rng(0)
    calls = []
    for _ in range(3):
        xs = batch(rng)
        seen.clear()
        want = interp.run_list(xs)
        assert seen and all(s is None for s in seen)  # the interpreter allocates its scratch
        seen.clear()
        got = exe.run_list(xs)
        plan = next(iter(exe.plans.values()))
        # every call was given its scratch (the dataflow executor's guard runs the step twice when it
        # first checks that every core's BLAS threads keep the bits, runtime/agree.py)
        n = len(plan.workspace_of)
        assert None not in seen and (len(seen) == n or (executor is DataflowExecutor and len(seen) == 2 * n))
        calls.append(sorted(set(seen)))
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        for k in params:  # the updates too
            np.testing.assert_array_equal(exe.params[k], interp.params[k], err_msg=k)
    assert calls[0] == calls[1] == calls[2]  # the same arrays at every call


def test_workspace_of_a_static_conv_is_typed_and_bound():
    t = cr.TensorType(("N", 3, 7, 7), cr.DType.f32)
    w = cr.TensorType((4, 3, 3, 3), cr.DType.f32)
    attrs = conv.Conv().check_attrs({"pads": (1, 1, 1, 1), "strides": (2, 2)})
    types = conv.Conv().workspace([t, w], attrs)
    assert [tt.shape for tt in types] == [(3, 9, 9, "N"), (3, 3, 3, 4, 4, "N"), (1, 4, 16, "N")]
