"""Memory planning and scheduling: liveness, reuse, in-place, the planned-peak targets, valid orders."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import InputError
from chainrule.passes.basic import dce
from chainrule.passes.fuse_elementwise import fuse_elementwise
from chainrule.passes.fusion import fuse_softmax_ce
from chainrule.passes.memory import plan_memory
from chainrule.passes.schedule import levels_of, make_schedule, memory_aware_order, schedule
from golden import check_golden
from mlp_step import add_sgd, mlp_loss_graph


def _step(sizes):
    g = mlp_loss_graph(sizes)
    fuse_softmax_ce(g)
    add_sgd(g)
    fuse_elementwise(g)
    dce(g)
    schedule(g)
    return g


def test_planned_peak_targets_784_256_256_10_batch_512():
    g = _step((784, 256, 256, 10))
    plan = plan_memory(g, {"N": 512})
    assert plan.peak_bytes <= 1.1 * plan.lower_bound_bytes
    assert plan.peak_bytes <= 0.5 * plan.no_reuse_bytes
    assert len(plan.param_outputs) >= 4  # SGD writes most parameters in place
    assert "planned peak" in plan.report()


def test_the_lower_bound_is_a_true_lower_bound():
    """No step can do with less than the bytes live entering it or leaving it."""
    g = _step((784, 256, 256, 10))
    plan = plan_memory(g, {"N": 512})
    assert plan.lower_bound_bytes <= plan.peak_bytes
    assert plan.lower_bound_bytes >= 4 * 512 * 256 * 4  # fc1, relu, fc2, relu.1 are live together


def test_no_two_live_values_share_a_buffer():
    g = _step((12, 9, 9, 4))
    plan = plan_memory(g, {"N": 5})
    order = [n for n in g.nodes]
    pos = {id(n): i for i, n in enumerate(order)}
    life = {}
    for n in order:
        for o in n.outputs:
            if o.name in plan.buffer_of:
                last = max([pos[id(u)] for u, _ in o.uses] + [pos[id(n)]])
                life[o.name] = (pos[id(n)], last, plan.buffer_of[o.name], n)
    def share_bytes(b1, b2):
        o1, o2 = plan.buffer_offsets[b1], plan.buffer_offsets[b2]
        return o1 < o2 + plan.buffer_bytes[b2] and o2 < o1 + plan.buffer_bytes[b1]
    for a, (s1, e1, b1, n1) in life.items():
        for b, (s2, e2, b2, n2) in life.items():
            if a < b and share_bytes(b1, b2):
                overlap = s1 < e2 and s2 < e1  # sharing at one step is allowed only for in-place
                inplace = (e1 == s2 and n2.name in plan.alias_of) or (e2 == s1 and n1.name in plan.alias_of)
                assert not overlap or inplace, (a, b)
    assert plan.alias_of  # some node runs in place
    assert len(plan.live_bytes) == len(order)


def test_symbolic_dimension_needs_a_binding():
    g = _step((6, 5, 3))
    with pytest.raises(InputError, match="dimension.*N"):
        plan_memory(g)


def test_memory_aware_order_runs_each_branch_to_its_end():
    b = cr.GraphBuilder("branches")
    x = b.input("x", (1000,))
    y = b.input("y", (1000,))
    ea, eb = cr.exp(x), cr.exp(y)  # program order: both big temporaries first
    g = b.build(ea.sum() + eb.sum())
    before = cr.print_graph(g)
    assert schedule(g).changed
    cr.verify(g)
    check_golden("schedule_branches", before + "// after schedule\n" + cr.print_graph(g))
    ops = [n.op.name for n in g.nodes]
    assert ops == ["Exp", "ReduceSum", "Exp", "ReduceSum", "Add"]
    orig = cr.parse_graph(before)
    assert plan_memory(g).lower_bound_bytes < plan_memory(orig).lower_bound_bytes
    xv = np.linspace(0, 1, 1000, dtype=np.float32)
    assert cr.Interpreter(g).run_list([xv, xv])[0] == cr.Interpreter(orig).run_list([xv, xv])[0]


def test_schedule_object_levels_and_plan():
    g = _step((6, 5, 3))
    s = make_schedule(g, {"N": 4}, reorder=True)
    assert sorted(map(id, s.order)) == sorted(map(id, g.nodes))
    seen = set()
    for n in s.order:  # a valid topological order
        assert all(v.producer is None or id(v.producer) in seen for v in n.inputs)
        seen.add(id(n))
    level = {id(s.order[i]): k for k, lv in enumerate(s.levels) for i in lv}
    for n in s.order:  # nodes of one level never depend on each other
        assert all(v.producer is None or level[id(v.producer)] < level[id(n)] for v in n.inputs)
    assert max(len(lv) for lv in s.levels) >= 2  # independent gradient/update nodes
    assert s.plan is not None and "levels" in s.describe()
    assert levels_of(s.order) == s.levels
    assert memory_aware_order(g) == list(g.nodes)  # already scheduled: a fixed point
