"""Scale: the work of building and first running the sequential executor, and of the clean-up
rewrites (simplify, cse, fold-constants), grows linearly with the graph. Work is counted, not
timed: the number of lines of chainrule's code executed (a trace hook), plus, for the list
methods that scan a list in C (``index``, ``insert``, ``remove``, ``count``), the length of the
list scanned. Quadratic work gives ratios of about the square of the size ratio; linear, the
size ratio. The measured times are in docs/performance.md.
"""
import os
import pathlib
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.passes import memory

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_rewrites import CASES  # noqa: E402  (the benchmark's own graphs)

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


LIST_SCANS = ("index", "insert", "remove", "count")


def work_done(fn):
    """``lines_run(fn)`` plus the elements of every list that chainrule's code scans with a list method
    in C (``nodes.insert(nodes.index(n), m)`` reads the whole list, yet is one line)."""
    scanned = [0]

    def profile(frame, event, arg):
        if (event == "c_call" and getattr(arg, "__name__", "") in LIST_SCANS
                and isinstance(getattr(arg, "__self__", None), list) and frame.f_code.co_filename.startswith(PACKAGE)):
            scanned[0] += len(arg.__self__)
    old = sys.getprofile()
    sys.setprofile(profile)
    try:
        lines = lines_run(fn)
    finally:
        sys.setprofile(old)
    return lines + scanned[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rewrites_are_linear_on_10000_and_100000_nodes(name):
    """A rewrite at every node of a chain (bench_rewrites.py): 10x the nodes is 10x the work. Before,
    each edit cost O(n) (the node list rebuilt or searched, a shared constant's use-list filtered,
    every node scanned for of=): simplify took 5.8 s on 10,000 nodes and 61 s on 20,000."""
    make, rewrite = CASES[name]
    work = {}
    for n in (1_000, 10_000, 100_000):  # 1,000 first: quadratic work fails there in seconds, not hours
        g = make(n)
        work[n] = work_done(lambda: rewrite(g))
        assert len(g.nodes) < n  # it did rewrite
        if n > 1_000:
            ratio = work[n] / work[n // 10]
            assert 9 < ratio < 11, f"{name}: {n // 10:,d} -> {n:,d} nodes took {ratio:.1f}x the work: {work}"


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
