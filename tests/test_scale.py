"""Scale: the work of building and first running the sequential executor grows linearly with the
graph. Work is counted, not timed: the number of lines of chainrule's code executed (a trace
hook), for a gradient chain of n and 4n steps. Quadratic work (the executor asked each buffer
for the buffers it overlaps by scanning all of them; the planner summed a prefix per buffer)
gave ratios of 9 and more; linear work gives 4.
The measured times are in docs/performance.md.
"""
import os
import sys

import numpy as np

import chainrule as cr
from chainrule.passes import memory

PACKAGE = os.path.dirname(os.path.abspath(cr.__file__))


def _chain(n):
    """n steps of h = tanh(h) * w, then sum: the lecture's deep chain, one weight shared by all."""
    b = cr.GraphBuilder("chain", dtype="f32")
    h = b.input("x", (4,))
    w = b.param("w", np.full(4, 0.5, np.float32))
    for _ in range(n):
        h = cr.tanh(h) * w
    return b.build(h.sum())


def lines_run(fn):
    """How many lines of chainrule's own code ``fn()`` executes (NumPy's and Python's not counted)."""
    count = [0]

    def local(frame, event, arg):
        if event == "line":
            count[0] += 1
        return local

    def call(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None
    old = sys.gettrace()
    sys.settrace(call)
    try:
        fn()
    finally:
        sys.settrace(old)
    return count[0]


def _build_and_run(g):
    exe = cr.compile(g, pipeline="gradient", verify_each=False)
    x = np.ones(4, np.float32)
    return lambda: exe(x)


def test_building_the_sequential_executor_is_linear_in_the_chain_length(monkeypatch):
    # arena placement is quadratic below MAX_ARENA_OBJECTS values by design (it packs tighter);
    # a small cap puts both chains in the regime every large graph is in
    monkeypatch.setattr(memory, "MAX_ARENA_OBJECTS", 50)
    small, big = 60, 240
    work = {n: lines_run(_build_and_run(_chain(n))) for n in (small, big)}
    ratio = work[big] / work[small]
    assert 3 < ratio < 5.5, f"{big // small}x the chain took {ratio:.1f}x the work: {work}"


def test_the_overlap_table_matches_the_definition():
    from chainrule.passes.memory import _overlaps
    rng = np.random.default_rng(0)
    for _ in range(500):
        k = int(rng.integers(0, 12))
        offsets = [int(o) for o in rng.integers(0, 20, k)]
        sizes = [int(s) for s in rng.choice([0, 1, 2, 5, 9], k)]
        want = [[c for c, (oc, nc) in enumerate(zip(offsets, sizes)) if oc < ob + nb and ob < oc + nc]
                for ob, nb in zip(offsets, sizes)]
        assert _overlaps(offsets, sizes) == want
