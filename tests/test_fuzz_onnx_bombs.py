"""Fuzz: structurally valid ONNX models that ask for terabytes must fail small.

Each drawn model hides one size bomb: a huge declared input (static, or a symbolic batch
bound huge), an initializer whose dims claim more than its data, a folding bomb (an outer
product of two small initializers), an Expand or OneHot to a huge shape, a Reshape to one,
a ConstantOfShape or Tile to terabytes (their sizes are checked at import). A worker process
imports (with the default ``max_tensor_bytes``, or with it raised out of the way so that the
memory limit must hold alone), compiles and runs each one (its inputs are zero-stride arrays of the declared
shape, which cost no memory), under a memory limit of 256 MiB. The property: every model
ends in a ``ChainruleError``, and the worker's peak RSS (``resource.getrusage``) stays
under 1 GiB. The worker runs under an address-space limit, so a regression shows as a raw
``MemoryError`` in the report, not as a machine out of memory.

A fixed, derandomized budget of ``CHAINRULE_FUZZ_EXAMPLES // 2`` models (30, a few seconds);
a longer run: ``CHAINRULE_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_onnx_bombs.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from test_fuzz_ir import EXAMPLES

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and ru_maxrss in KiB: Linux")

RSS_BOUND = 1 << 30
WORKER = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
import numpy as np
import chainrule as cr
from chainrule.ir import ChainruleError
BATCH = 1 << 40  # what a symbolic dimension is bound to
for line in sys.stdin:
    path, max_bytes = line.rstrip("\n").split("\t")
    try:
        g = cr.import_onnx(path, max_tensor_bytes=int(max_bytes))
        exe = cr.compile(g)
        xs = [np.broadcast_to(np.zeros((), v.type.dtype.numpy), [BATCH if isinstance(d, str) else d
                                                                for d in v.type.shape]) for v in g.inputs]
        exe(*xs)
        kind, what = "ran", ""
    except ChainruleError as err:
        kind, what = "chainrule", f"{type(err).__name__}: {err}"
    except BaseException as err:
        kind, what = "raw", f"{type(err).__name__}: {err}"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"kind": kind, "what": what[:400], "rss": rss}), flush=True)
"""


class Worker:
    """The worker process; replaced after a model took it over the RSS bound (the peak is a
    high-water mark: the next model must not be blamed for it)."""

    def __init__(self):
        self.proc = None

    def start(self):
        env = dict(os.environ, CHAINRULE_MEMORY_LIMIT="256M", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)

    def stop(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
            self.proc = None

    def ask(self, path, max_tensor_bytes=1 << 30):
        if self.proc is None:
            self.start()
        self.proc.stdin.write(f"{path}\t{max_tensor_bytes}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()[-2000:]
            self.proc = None
            pytest.fail(f"the worker died: {err}")
        got = json.loads(line)
        if got["rss"] >= RSS_BOUND:
            self.stop()
        return got


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.stop()


# -- hostile models ------------------------------------------------------------------------------
F32 = TensorProto.FLOAT


def _model(nodes, rank, inputs=(), inits=()):
    """The graph output y has ``rank`` symbolic dimensions (the checker wants a shape; any size will do)."""
    y = helper.make_tensor_value_info("y", F32, [f"y{i}" for i in range(rank)])
    g = helper.make_graph(nodes, "bomb", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs], [y],
                          initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def _ints(name, values):
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


@st.composite
def huge_shape(draw, rank=None):
    """A shape of 2^31 to 2^46 float32 elements (8 GiB to 256 TiB)."""
    rank = rank or draw(st.integers(1, 3))
    bits = draw(st.integers(31, 46))
    cuts = sorted(draw(st.lists(st.integers(0, bits), min_size=rank - 1, max_size=rank - 1)))
    parts = [b - a for a, b in zip([0] + cuts, cuts + [bits])]
    return [1 << p for p in parts]


@st.composite
def hostile_model(draw):
    kind = draw(st.sampled_from(["input", "batch", "claims", "outer", "expand", "onehot", "reshape",
                                 "constant_of_shape", "tile"]))
    shape = draw(huge_shape())
    if kind == "input":  # a static declared input of terabytes, through an op or two
        op = draw(st.sampled_from(["Relu", "Exp", "Neg"]))
        return kind, _model([helper.make_node(op, ["x"], ["y"])], len(shape), inputs=[("x", F32, shape)])
    if kind == "batch":  # a symbolic batch, bound huge at run time
        width = 1 << draw(st.integers(0, 12))
        return kind, _model([helper.make_node("Tanh", ["x"], ["y"])], 2, inputs=[("x", F32, ["N", width])])
    if kind == "claims":  # an initializer whose dims claim terabytes, holding a few floats
        t = TensorProto(name="w", data_type=F32, dims=shape)
        t.float_data.extend([1.0] * draw(st.integers(0, 8)))
        return kind, _model([helper.make_node("Add", ["x", "w"], ["y"])], len(shape), inputs=[("x", F32, [1])], inits=[t])
    if kind == "outer":  # a folding bomb: k x 1 (op) 1 x k, two initializers of at most 256 KiB each
        k = draw(st.integers(17_000, 1 << 16))
        op = draw(st.sampled_from(["Mul", "Add", "Sub", "Div", "MatMul"]))
        a = numpy_helper.from_array(np.ones((k, 1), np.float32), "a")
        b = numpy_helper.from_array(np.ones((1, k), np.float32), "b")
        return kind, _model([helper.make_node(op, ["a", "b"], ["y"])], 2, inits=[a, b])
    if kind == "expand":
        return kind, _model([helper.make_node("Expand", ["x", "s"], ["y"])], len(shape), inputs=[("x", F32, [1])],
                            inits=[_ints("s", shape)])
    if kind == "onehot":  # depth 2^31.. classes for a handful of indices
        depth = 1 << draw(st.integers(31, 46))
        return kind, _model([helper.make_node("OneHot", ["i", "d", "v"], ["y"])], 2,
                            inputs=[("i", TensorProto.INT64, [draw(st.integers(1, 8))])],
                            inits=[_ints("d", [depth]), numpy_helper.from_array(np.array([0, 1], np.float32), "v")])
    if kind == "reshape":
        return kind, _model([helper.make_node("Reshape", ["x", "s"], ["y"])], len(shape), inputs=[("x", F32, [4])],
                            inits=[_ints("s", shape)])
    if kind == "constant_of_shape":
        return kind, _model([helper.make_node("ConstantOfShape", ["s"], ["y"])], len(shape), inits=[_ints("s", shape)])
    return kind, _model([helper.make_node("Tile", ["x", "r"], ["y"])], len(shape), inputs=[("x", F32, [1] * len(shape))],
                        inits=[_ints("r", shape)])


HOSTILE = settings(max_examples=max(EXAMPLES // 2, 1), derandomize=True, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@HOSTILE
@given(hostile_model(), st.booleans())
def test_a_size_bomb_ends_in_a_chainrule_error_with_bounded_memory(worker, tmp_path_factory, drawn, raised):
    """``raised``: import with max_tensor_bytes out of the way, so the memory limit must hold alone."""
    kind, model = drawn
    if kind != "claims":  # the one kind that lies about its data; the rest pass the ONNX checker
        onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("bomb") / f"{kind}.onnx"
    path.write_bytes(model.SerializeToString())
    assert path.stat().st_size < 1 << 20
    got = worker.ask(str(path), 1 << 62 if raised else 1 << 30)
    assert got["kind"] == "chainrule", f"{kind}: {got['kind']}: {got['what']}"
    assert got["rss"] < RSS_BOUND, f"{kind}: peak RSS {got['rss'] >> 20} MiB after {got['what']}"


def test_the_worker_reports_a_model_that_runs(worker, tmp_path):
    """The property can fail: a harmless model is reported as having run, with its RSS."""
    path = tmp_path / "ok.onnx"
    path.write_bytes(_model([helper.make_node("Relu", ["x"], ["y"])], 2, inputs=[("x", F32, [2, 3])]).SerializeToString())
    got = worker.ask(str(path))
    assert got["kind"] == "ran" and 0 < got["rss"] < RSS_BOUND
