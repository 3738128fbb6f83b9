"""Every raise site of the project's error types has a message a person can act on.

``error_sites.raise_sites()`` finds, by an AST scan of the package, every
``raise <X>Error(...)`` whose class is a ``ChainruleError`` subclass, and names it
``module:function#k``. ``SITES`` below maps each name to a snippet that triggers it and the
words its message must contain (the node, op, input, argument or file that is wrong). The
test checks that the snippet raises a ChainruleError, that the error (or one it wraps) was
raised at exactly that site, and that the message the user sees contains the words.

A new raise site without an entry fails ``test_every_raise_site_has_an_entry``: add one line
``"module:function#k": (lambda: <code that triggers it>, ["words", ...]),``.
``PENDING`` (now empty) lists sites allowed to lack an entry; it may only shrink (a stale name
fails). Races, a missing optional package (onnxruntime, matplotlib, Graphviz) and an onnx that
refuses an attribute are simulated with ``unittest.mock``.
"""
import os
import traceback

import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import DType, Emitter, Graph, TensorType
from chainrule.ir.errors import ChainruleError
from chainrule.ir.files import open_regular
from chainrule.ir.ops.shape import reshape_target
from error_sites import raise_sites

F32 = DType.f32


def T(*shape, dt=F32):
    return TensorType(tuple(shape), DType.of(dt))


def emit(opname, *types, **attrs):
    """Emit ``opname`` on fresh inputs of ``types`` (triggers the op's type rule)."""
    g = Graph("g")
    xs = [g.add_input(f"x{i}", t) for i, t in enumerate(types)]
    return Emitter(g).emit(opname, xs, attrs)


def _export_dilated_average_pool():
    g, (x,) = graph_with(T(1, 1, 5, 5))
    g.set_outputs([Emitter(g).AveragePool(x, kernel_shape=(2, 2), dilations=(2, 2))])
    return cr.export_onnx(g)


def graph_with(*types):
    g = Graph("g")
    return g, [g.add_input(f"x{i}", t) for i, t in enumerate(types)]


def run(text, *arrays, **kw):
    g = cr.parse_graph(text)
    return cr.Interpreter(g, **kw).run_list(list(arrays))


_TMP = []  # the module's temp folder (made on first use, removed after the module's tests)


def _tmpdir():
    """A fresh folder inside the module's temp folder."""
    import tempfile
    if not _TMP:
        _TMP.append(tempfile.mkdtemp(prefix="chainrule-error-sites-"))
    return tempfile.mkdtemp(dir=_TMP[0])


@pytest.fixture(autouse=True, scope="module")
def _cleanup_tmp():
    yield
    import shutil
    while _TMP:
        shutil.rmtree(_TMP.pop(), ignore_errors=True)


def _remove_used():
    g, (x,) = graph_with(T(2))
    e = Emitter(g)
    a = e.Exp(x)
    e.Neg(a)
    g.remove_node(a.producer)


def _remove_output():
    g, (x,) = graph_with(T(2))
    a = Emitter(g).Exp(x)
    g.set_outputs([a])
    g.remove_node(a.producer)


def _remove_twice():
    g, (x,) = graph_with(T(2))
    a = Emitter(g).Exp(x)
    g.remove_node(a.producer)
    g.remove_node(a.producer)


def _insert_before_removed():
    g, (x,) = graph_with(T(2))
    a = Emitter(g).Exp(x)
    g.remove_node(a.producer)
    Emitter(g, before=a.producer).Neg(x)


def _insert_before_left_out():
    """A reorder that leaves a node out of the list (a caller's mistake), then an insert before it."""
    g, (x,) = graph_with(T(2))
    a = Emitter(g).Exp(x)
    g.nodes = []
    Emitter(g, before=a.producer).Neg(x)
    return g.nodes


def _remove_param_used():
    g, (x,) = graph_with(T(2))
    w = g.add_param("w", np.ones(2, np.float32))
    Emitter(g).Mul(x, w)
    g.remove_param(w)


def _node_twice():
    g, (x,) = graph_with(T(2))
    n = Emitter(g).emit("Exp", [x])
    g.add_node(n, [T(2)], ["again"])


def _foreign_input():
    g, (x,) = graph_with(T(2))
    h, (y,) = graph_with(T(2))
    Emitter(g).Exp(y)


def _cycle():
    g, (x,) = graph_with(T(2))
    e = Emitter(g)
    a = e.Exp(x)
    b = e.Neg(a)
    a.producer.set_input(0, b)
    from chainrule.passes import topological_order
    topological_order(g)


def _sum_to():
    g, (x,) = graph_with(T(3, 4))
    Emitter(g).sum_to(x, T(5))


def _numerics():
    g = cr.parse_graph("graph g {\n  input %x: f32[2]\n  %y: f32[2] = Log(%x)\n  return %y\n}\n")
    cr.Interpreter(g, check_numerics=True).run_list([np.array([-1.0, 1.0], np.float32)])


def _exec_fail():
    g = cr.parse_graph("graph g {\n  input %i: i64[2]\n  %y: f32[2,3] = OneHot(%i) {depth=3}\n  return %y\n}\n")
    cr.Interpreter(g).run_list([np.array([0, 7])])


def _resource():
    from chainrule.runtime import limits
    old = limits._limit[0]
    limits._limit[0] = 1000
    try:
        g = cr.parse_graph("graph big {\n  input %x: f32[N,100]\n  %y: f32[N,100] = Exp(%x)\n  return %y\n}\n")
        cr.Interpreter(g).run_list([np.zeros((100, 100), np.float32)])
    finally:
        limits._limit[0] = old


def _verify_fail():
    g, (x,) = graph_with(T(2))
    y = Emitter(g).Exp(x)
    y.type = T(3)
    g.set_outputs([y])
    cr.verify(g)


def _pass_fail(kind):
    from chainrule.passes import PassManager, graph_pass

    @graph_pass("breaks")
    def breaks(graph):
        if kind == "chainrule":
            graph.value("nope")
        if kind == "other":
            raise RuntimeError("boom")
        for v in graph.outputs:
            v.type = T(7)
        return True
    g, (x,) = graph_with(T(2))
    g.set_outputs([Emitter(g).Exp(x)])
    PassManager([breaks], print_after=("nosuch",) if kind == "print" else ()).run(g)


def _backward(case):
    from chainrule.passes import backward
    g, (x, y) = graph_with(T(), T(2))
    e = Emitter(g)
    L = e.ReduceSum(e.Exp(y), axes=None, keepdims=0)
    if case == "noloss":
        backward(g, [], [x])
    if case == "nowrt":
        backward(g, [L], [])
    if case == "vector":
        backward(g, [y], [y])
    if case == "foreign":
        h, (z,) = graph_with(T(2))
        backward(g, [L], [z])
    backward(g, [L], [x])


def _optimizer(case):
    from chainrule.passes import SGDUpdate
    g, (x,) = graph_with(T(2))
    w = g.add_param("w", np.ones(2, np.float32))
    g.set_outputs([Emitter(g).Mul(x, w)])
    SGDUpdate(lr=0.1, params=None if case == "none" else ["w"]).run(g)


def _infer_shapes():
    from chainrule.passes import infer_shapes
    g, (x, y) = graph_with(T(2), T(2))
    Emitter(g).emit("Add", [x, y])
    y.type = T(3)
    infer_shapes.run(g)


def _required_attr():
    from chainrule.ir.ops.base import REQUIRED, Op

    class Demo(Op):
        attrs = {"k": REQUIRED}
    op = Demo()
    op.name = "Demo"
    op.check_attrs({})


def _ckpt(tmp_blob=None, other=None):
    """A tiny train step; write ``tmp_blob`` (bytes) or ``other``'s checkpoint, then load it."""
    from chainrule.frontends.train import checkpoint
    from chainrule.frontends.train.step import compile_train
    step = compile_train(cr.nn.mlp([4, 3], seed=0), metrics=[])
    d = _tmpdir()
    path = os.path.join(d, "ck.npz")
    if tmp_blob is not None:
        if callable(tmp_blob):
            tmp_blob(path)
        else:
            open(path, "wb").write(tmp_blob)
    elif other is not None:
        checkpoint.save(path, compile_train(cr.nn.mlp(other, seed=0), metrics=[]))
    checkpoint.load(path, step)


def _npz(meta=None, **arrays):
    import json
    return lambda path: np.savez(path, **({"__meta__": np.array(json.dumps(meta))} if meta is not None else {}),
                                 **arrays)


def _nan_ckpt(path):
    from chainrule.frontends.train import checkpoint
    step = cr.compile_train(cr.nn.mlp([4, 3], seed=0), metrics=[])
    step.graph.initializers["fc1.weight"][:] = np.nan
    checkpoint.save(path, step)


_META = {"format": "chainrule-checkpoint", "version": 1, "params": ["fc1.weight", "fc1.bias"], "state": []}


def _gradcheck(case):
    b = cr.GraphBuilder("g")
    x = b.input("x", (2,))
    w = b.param("w", np.ones(2, np.float32))
    out = (x * w) if case == "vector" else (x * w).sum()
    g = b.build(out)
    if case == "missing":
        cr.gradcheck(g, {})
    if case == "wrong":
        sig = cr.OPS["Mul"]
        old = type(sig).vjp
        type(sig).vjp = lambda self, e, node, gys: [e.Mul(e.Mul(gys[0], node.inputs[1]), e.const(2.0, node.inputs[0].dtype)),
                                                    e.Mul(e.Mul(gys[0], node.inputs[0]), e.const(2.0, node.inputs[0].dtype))]
        try:
            cr.gradcheck(g, {"x": np.ones(2)}, raise_on_failure=True)
        finally:
            type(sig).vjp = old
    cr.gradcheck(g, {"x": np.ones(2)})


PARSE_USE = "graph g {\n  input %x: f32[2]\n  %y: f32[2] = Relu(%z)\n  return %y\n}\n"


def _cli_onnx(case):
    """Trigger a raise site of the model-file commands on files made in a temp folder."""
    import argparse
    from onnx import TensorProto, helper, numpy_helper
    from chainrule.frontends.cli import export as cli_export, grad as cli_grad, run as cli_run
    d = _tmpdir()
    j = lambda n: os.path.join(d, n)  # noqa: E731
    nodes = [helper.make_node("MatMul", ["x", "W"], ["L"])]
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1])],
                          initializer=[numpy_helper.from_array(np.ones((2, 1), np.float32), "W")])
    with open(j("m.onnx"), "wb") as f:
        f.write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9).SerializeToString())
    np.savez(j("in.npz"), x=np.ones((1, 2), np.float32))
    np.savez(j("bad.npz"), y=np.ones(1))
    np.savez(j("wide.npz"), x=np.ones((1, 3), np.float32))
    with open(j("junk.npz"), "w") as f:
        f.write("junk")
    step = cr.compile_train(cr.nn.Sequential(cr.nn.Linear(2, 2)), metrics=[])
    with open(j("s.ir"), "w") as f:
        f.write(cr.print_graph(step.graph))
    np.savez(j("p.npz"), **{k: np.zeros(1, np.float32) for k in step.graph.initializers})
    ns = argparse.Namespace
    run = {
        "feeds": lambda: cli_run.run(ns(model=j("m.onnx"), inputs=j("bad.npz"), output=j("o.npz"))),
        "wide": lambda: cli_run.run(ns(model=j("m.onnx"), inputs=j("wide.npz"), output=j("o.npz"))),
        "npz1": lambda: cli_run.run(ns(model=j("m.onnx"), inputs=j("none.npz"), output=j("o.npz"))),
        "npz2": lambda: cli_run.run(ns(model=j("m.onnx"), inputs=j("junk.npz"), output=j("o.npz"))),
        "export1": lambda: cli_export.run(ns(ir=j("none.ir"), params=j("p.npz"), output=j("o.onnx"))),
        "export_missing": lambda: cli_export.run(ns(ir=j("nosuch"), params=None, output=j("o.onnx"))),
        "export2": lambda: cli_export.run(ns(ir=j("s.ir"), params=j("in.npz"), output=j("o.onnx"))),
        "export3": lambda: cli_export.run(ns(ir=j("s.ir"), params=j("p.npz"), output=j("o.onnx"))),
        "grad2": lambda: cli_grad.run(ns(model=j("m.onnx"), inputs=j("in.npz"), output=j("o.npz"), wrt=None)),
    }
    return run[case]()


def _cli_export_run(case):
    """Trigger a raise site of ``chainrule export RUN_DIR`` (cli.export.trained_model) on a fake run folder."""
    import argparse
    from chainrule.frontends.train import checkpoint
    from chainrule.frontends.cli import export as cli_export
    d = _tmpdir()
    step = cr.compile_train(cr.nn.mlp([3, 2, 2]), metrics=[])
    if case != "model":  # "missing": model.ir has a third layer the checkpoint lacks
        model = cr.compile_train(cr.nn.mlp([3, 2, 2, 2]), metrics=[]) if case == "missing" else step
        with open(os.path.join(d, "model.ir"), "w") as f:
            f.write(cr.print_graph(model.model_graph))
    if case == "shape":
        step.graph.initializers["fc1.bias"] = np.zeros(5, np.float32)
    checkpoint.save(os.path.join(d, "checkpoint.npz"), step, {"config": {"hidden": [2]}})
    if case == "params":
        with open(os.path.join(d, "s.ir"), "w") as f:
            f.write(cr.print_graph(step.graph))
        return cli_export.run(argparse.Namespace(ir=os.path.join(d, "s.ir"), params=None, output="o.onnx"))
    return cli_export.trained_model(d)


def _fifo(name):
    """A FIFO ``name`` in a fresh temp folder (nobody writes to it: reading it would block forever)."""
    path = os.path.join(_tmpdir(), name)
    os.mkfifo(path)
    return path


def _lying_npz(path):
    """An .npz whose member x.npy declares float64[1000000] (8 MB) but holds only its header."""
    import io
    import zipfile
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6,)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", buf.getvalue())
    return path


def _read_fails(module, fn):
    """``fn()`` with ``module``'s ``open_regular`` giving a file whose read fails (an I/O error)."""
    import io
    from unittest import mock

    class Broken(io.BytesIO):
        def read(self, *a):
            raise OSError(5, "Input/output error")

        def fileno(self):  # fstat'ed for its size: an empty file
            self.fd = getattr(self, "fd", None) or os.open(os.devnull, os.O_RDONLY)
            return self.fd

        def close(self):
            if getattr(self, "fd", None):
                os.close(self.fd)
            super().close()
    with mock.patch(f"{module}.open_regular", lambda *a, **k: Broken()):
        return fn()


def _tmp(name, data=None):
    """A path ``name`` in a fresh temp folder, holding ``data`` (bytes or str) if given."""
    path = os.path.join(_tmpdir(), name)
    if data is not None:
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
    return path


def _cli(*argv):
    """Run ``chainrule ARGV`` with --debug, so the ChainruleError propagates."""
    from chainrule.frontends.cli.main import main
    return main(["--debug", *argv])


def _zip_member(path):
    """An .npz whose one member is not a .npy file (NpzFile hands it back as bytes)."""
    import zipfile
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "hello")


def _notes_npz():
    path = _tmp("z.npz")
    _zip_member(path)
    return path


def _files(case):
    """Trigger a raise site of ir/files.py in a temp folder."""
    import errno
    from unittest import mock
    from chainrule.ir import files
    d = _tmpdir()
    j = lambda n: os.path.join(d, n)  # noqa: E731
    if case == "link":
        os.symlink(j("elsewhere"), j("out.txt"))
        return files.write_file(j("out.txt"), "x")
    if case == "full":
        def full(f):
            raise OSError(errno.ENOSPC, "No space left on device")
        return files.write_file(j("out.txt"), writer=full)
    if case == "name":
        return files.write_in(d, "../up.txt", "x")
    if case == "notdir":
        open(j("plain"), "w").close()
        return files.prepare_dump_dir(j("plain"))
    if case == "mkdir":
        with mock.patch("os.makedirs", side_effect=PermissionError(errno.EACCES, "Permission denied")):
            return files.prepare_dump_dir(j("sub"))
    open(j("report.html"), "w").close()
    return files.prepare_dump_dir(d)


def _meta_param():
    from types import SimpleNamespace
    from chainrule.frontends.train import checkpoint
    g = Graph("g")
    g.add_param("__meta__", np.zeros(2, np.float32))
    checkpoint.save(_tmp("ck.npz"), SimpleNamespace(graph=g, steps=0))


def _train(*extra):
    """``chainrule train`` on the bundled digits for one epoch into a temp folder."""
    return _cli("train", "--epochs", "1", "--hidden", "8", "--out", _tmp("run"), *extra)


def _weights_ckpt():
    """A checkpoint of a 4-input, 3-class softmax regression (fc1 only)."""
    path = _tmp("ck.npz")
    cr.checkpoint.save(path, cr.compile_train(cr.nn.mlp([4, 3], seed=0), metrics=[]))
    return path


def _data_npz(name, **arrays):
    path = _tmp(name)
    np.savez(path, **arrays)
    return path


def _resume_other():
    out = _tmp("run")
    _cli("train", "--epochs", "1", "--hidden", "", "--batch-size", "512", "--out", out)
    _cli("train", "--epochs", "1", "--hidden", "4", "--batch-size", "512", "--out", out,
         "--resume", os.path.join(out, "checkpoint.npz"))


def _step(loss="cross_entropy", **kw):
    return cr.compile_train(cr.nn.mlp([4, 3], seed=0), loss=loss, metrics=[], **kw)


def _graph(*outs, names=("x",)):
    b = cr.GraphBuilder("model")
    xs = [b.input(n, ("N", 4)) for n in names]
    return b.build(*[f(*xs) for f in outs])


def _only_bias():
    b = cr.GraphBuilder("biased")
    x = b.input("x", ("N", 3))
    return cr.compile_train(b.build(x + b.param("bias", np.zeros(3, np.float32))),
                            optimizer=cr.optim.SGD(0.1, weight_decay=0.01))


def _gz(name, data: bytes):
    import gzip
    return _tmp(name, gzip.compress(data))


def _with_limit(size, fn):
    """``fn()`` under a memory limit of ``size`` (then the default again)."""
    from chainrule.runtime import limits
    limits.set_memory_limit(size)
    try:
        return fn()
    finally:
        limits.set_memory_limit(None)


def _idx(name, header: bytes, nbytes: int = 0):
    return _tmp(name, header + bytes(nbytes))


def _mnist(images_shape, labels_shape):
    from chainrule.frontends.train import datasets
    im, lb = _tmp("im"), _tmp("lb")
    datasets.save_idx(im, np.zeros(images_shape, np.uint8))
    datasets.save_idx(lb, np.zeros(labels_shape, np.uint8))
    return datasets.load_mnist(im, lb)


def _dot(case):
    import subprocess
    from unittest import mock
    from chainrule.frontends.inspect.dot import render_svg
    if case == "missing":
        with mock.patch("shutil.which", return_value=None):
            return render_svg("digraph {}")
    if case == "slow":
        def slow(*a, **k):
            raise subprocess.TimeoutExpired("dot", 0.5)
        with mock.patch("shutil.which", return_value="dot"), mock.patch("subprocess.run", slow):
            return render_svg("digraph {}", timeout=0.5)
    if case == "bad":
        def fail(*a, **k):
            return subprocess.CompletedProcess(a, 1, b"", b"Error: syntax error in line 1 near '{'")
        with mock.patch("shutil.which", return_value="dot"), mock.patch("subprocess.run", fail):
            return render_svg("digraph {")


def _no_matplotlib():
    import sys
    from unittest import mock
    from chainrule.frontends.train import plots
    with mock.patch.dict(sys.modules, {"matplotlib": None, "matplotlib.backends": None,
                                       "matplotlib.backends.backend_agg": None, "matplotlib.figure": None}):
        plots._figure(4, 3)


def _example_fails():
    from unittest import mock
    from chainrule.examples import one_hot

    def main(out_dir=None):
        raise AssertionError("y = [0, 1, 0] expected")
    with mock.patch.object(one_hot, "main", main):
        _cli("examples", "one_hot")


def _flatten_grad():
    b = cr.GraphBuilder("g")
    x = b.input("x", ("N", "M"))
    y = b.op("Flatten", x * b.param("w", np.ones(1, np.float32)), axis=1, name="flat")
    cr.compile(b.build(y.sum()), pipeline="gradient")


def _model_py(text):
    from chainrule.frontends.cli.dump import load_model
    return load_model(_tmp("model.py", text))


# -- ONNX --------------------------------------------------------------------------------
def _om(nodes, inputs=(("x", [2, 3]),), outputs=(("y", [2, 3]),), inits=(), opset=18, ir=9, name="g", **graph_kw):
    """A ModelProto of float tensors (graph ``name``) built from ``nodes``."""
    from onnx import TensorProto, helper
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    g = helper.make_graph(list(nodes), name, [vi(n, s) for n, s in inputs], [vi(n, s) for n, s in outputs],
                          initializer=list(inits), **graph_kw)
    ops = opset if isinstance(opset, list) else [helper.make_opsetid("", opset)]
    return helper.make_model(g, opset_imports=ops, ir_version=ir)


def _node(op, ins=("x",), outs=("y",), name="n", **attrs):
    from onnx import helper
    return helper.make_node(op, list(ins), list(outs), name=name, **attrs)


def _const_node(name, value):
    from onnx import helper, numpy_helper
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))


def _imp(*nodes, **kw):
    """Import the model of ``nodes`` (``_om`` keywords; ``static_inputs``/``max_tensor_bytes`` go to import_onnx)."""
    opts = {k: kw.pop(k) for k in ("static_inputs", "max_tensor_bytes", "allow_nonfinite") if k in kw}
    return cr.import_onnx(_om(nodes or [_node("Relu")], **kw), **opts)


def _tp(name, dims, floats=(), dtype=None):
    """A TensorProto built field by field (onnx.helper refuses inconsistent ones)."""
    from onnx import TensorProto
    t = TensorProto(name=name, data_type=dtype or TensorProto.FLOAT, dims=list(dims))
    t.float_data.extend(floats)
    return t


def _init(t, **kw):
    """Import ``%y = Add(%x, w)`` with initializer ``t``."""
    return _imp(_node("Add", ["x", "w"]), inits=[t], **kw)


def _ext(location=None, offset=0, length=24, setup=None):
    """Import a model whose initializer w (f32[2,3]) lives in external file ``location`` of its folder;
    ``setup(folder)`` makes extra files first."""
    from onnx import TensorProto
    t = _tp("w", [2, 3])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, v
    path = _tmp("model.onnx", _om([_node("Add", ["x", "w"])], inits=[t]).SerializeToString())
    folder = os.path.dirname(path)
    with open(os.path.join(folder, "w.bin"), "wb") as f:
        f.write(np.arange(6, dtype=np.float32).tobytes())
    if setup:
        setup(folder)
    return cr.import_onnx(path)


def _outside(folder):
    """A file outside ``folder``, linked into it as link.bin (symlink) and hard.bin (hard link)."""
    secret = _tmp("secret.bin", b"s" * 24)
    os.symlink(secret, os.path.join(folder, "link.bin"))
    os.link(secret, os.path.join(folder, "hard.bin"))


def _ext_unchecked_link():
    """A symbolic link that appears after the link check (a race): the realpath check still refuses it."""
    from unittest import mock
    with mock.patch("os.path.islink", return_value=False):
        _ext("link.bin", setup=_outside)


def _ext_swapped_for_a_fifo():
    """w.bin is a regular file when stat'ed, a FIFO when opened (a race): what is opened is checked."""
    from unittest import mock
    real = os.stat

    def stat(path, *a, **k):
        st = real(path, *a, **k)
        if str(path).endswith("w.bin"):
            return os.stat_result((0o100644,) + st[1:3] + (1,) + st[4:6] + (24,) + st[7:10])
        return st

    def swap(folder):
        os.remove(os.path.join(folder, "w.bin"))
        os.mkfifo(os.path.join(folder, "w.bin"))
    with mock.patch("os.stat", stat):
        _ext("w.bin", setup=swap)


def _ext_shrinks():
    """The data file shrinks between stat() and read() (a race): the short read is reported."""
    from unittest import mock
    real = os.stat

    def stat(path, *a, **k):
        st = real(path, *a, **k)
        if str(path).endswith("w.bin"):
            return os.stat_result(st[:6] + (st.st_size + 8,) + st[7:10])
        return st
    with mock.patch("os.stat", stat):
        _ext("w.bin", offset=8)


def _ext_tp():
    from onnx import TensorProto
    t = _tp("w", [2, 3])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "w.bin"
    return t


def _vi_input_init():
    """Graph input w declared INT64 whose initializer (its default) is float."""
    from onnx import TensorProto, helper
    g = helper.make_graph([_node("Add", ["x", "w"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                           helper.make_tensor_value_info("w", TensorProto.INT64, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                          initializer=[_tp("w", [1], [1.0])])
    return cr.import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9))


def _rename_twice():
    """Softmax on axis 0 of opset 11 leaves an internal value y/flatten; a later node writing that name clashes."""
    return _imp(_node("Softmax", axis=0), _node("Relu", ["y"], ["y/flatten"], name="r"), opset=11,
                outputs=(("y/flatten", [2, 3]),))


def _meta(node, **props):
    from onnx import helper
    helper.set_metadata_props(node, props)
    return node


def _composite(**props):
    """A node carrying chainrule export metadata (``chainrule.<key>`` = value)."""
    return _imp(_meta(_node("Relu"), **{f"chainrule.{k}": v for k, v in props.items()}))


def _model_meta(**props):
    from onnx import helper
    m = _om([_node("Relu")])
    helper.set_model_props(m, props)
    return cr.import_onnx(m)


def _attr(**fields):
    """Import Transpose with an attribute made field by field."""
    from onnx import AttributeProto
    n = _node("Transpose", outs=["y"])
    n.attribute.append(AttributeProto(**fields))
    return _imp(n, outputs=(("y", [3, 2]),))


def _attr_unreadable():
    """onnx.helper refuses an attribute type it does not know (this onnx returns None for UNDEFINED, so the
    refusal is simulated)."""
    from unittest import mock

    def refuse(a):
        raise ValueError(f"Unsupported ONNX attribute: {a.name}")
    with mock.patch("onnx.helper.get_attribute_value", refuse):
        _attr(name="perm", type=7, ints=[1, 0])



def _vi_input(vi):
    from onnx import TensorProto, helper
    g = helper.make_graph([_node("Relu")], "g", [vi], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return cr.import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9))


def _too_deep():
    from unittest import mock
    from chainrule.frontends.onnx import importer as onnx_import

    def deep(self):
        raise RecursionError("maximum recursion depth exceeded")
    with mock.patch.object(onnx_import._Importer, "run", deep):
        _imp()


def _export_unknown_op():
    """An op registered without an entry in the ONNX tables (a new op) is refused by name."""
    from chainrule.ir.ops import OPS
    from chainrule.ir.ops.base import Op

    class Frob(Op):
        def infer(self, ins, attrs):
            return [ins[0]]
    op = Frob()
    op.name = "Frob"
    OPS["Frob"] = op
    try:
        g, (x,) = graph_with(T(2))
        g.set_outputs([Emitter(g).emit("Frob", [x]).outputs[0]])
        cr.export_onnx(g)
    finally:
        del OPS["Frob"]


def _export_taken():
    g = cr.parse_graph("graph g {\n  input %x: f32[2]\n  param %w: f32[2]\n  %w.next: f32[2] = Mul(%x, %w)\n"
                       "  update %w <- %w.next\n  return %w.next\n}\n")
    g.initializers["w"] = np.ones(2, np.float32)
    cr.export_onnx(g)


def _numba(case):
    """backend='numba' without numba installed (simulated), and numba refusing the generated code
    (an op whose element expression names no NumPy function, in a cache folder of its own)."""
    import sys
    from unittest import mock
    from chainrule.runtime import numba_backend
    if case == "missing":
        with mock.patch.dict(sys.modules, {"numba": None, "numba.core.registry": None}), \
                mock.patch.dict(numba_backend._STATE, clear=True):
            return cr.compile(cr.nn.Linear(2, 2), backend="numba")
    pytest.importorskip("numba")
    from chainrule.ir import OPS
    g, (x,) = graph_with(T(3))
    g.set_outputs([Emitter(g).Exp(x)])
    with mock.patch.object(type(OPS["Exp"]), "expr", "np.no_such_function({x})"), \
            mock.patch.dict(os.environ, {"CHAINRULE_CACHE": _tmpdir()}):
        return cr.compile(g, backend="numba")(np.ones(3, np.float32))


def _ort(case):
    import sys
    from unittest import mock
    if case == "missing":
        with mock.patch.dict(sys.modules, {"onnxruntime": None}):
            return cr.compile(cr.nn.Linear(2, 2), backend="onnxruntime")
    exe = cr.compile(cr.nn.Linear(2, 2), backend="onnxruntime")
    return exe.run({"z": np.ones((1, 2))}) if case == "run" else exe()





def _grad_cli(nodes, outputs, inits=(), wrt=None):
    import argparse
    from chainrule.frontends.cli import export as cli_export, grad as cli_grad, run as cli_run
    path = _tmp("m.onnx", _om(nodes, outputs=outputs, inits=inits).SerializeToString())
    return cli_grad.run(argparse.Namespace(model=path, inputs=None, output=_tmp("o.npz"), wrt=wrt))

def _keyed(case):
    """Trigger a raise site of the specialisation keys (a Reshape whose target is a graph input)."""
    import argparse
    from onnx import TensorProto, helper
    from chainrule.frontends.cli import inspect as cli_inspect, run as cli_run
    from chainrule.frontends.onnx.keys import check_key
    ins = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [2, 3]),
           helper.make_tensor_value_info("shape", TensorProto.INT64, [300 if case == "big" else 2])]
    m = helper.make_model(helper.make_graph([helper.make_node("Reshape", ["data", "shape"], ["y"], name="r")], "m", ins,
                                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]),
                          opset_imports=[helper.make_opsetid("", 18)])
    data = np.ones((2, 3), np.float32)
    if case == "big":
        return cr.import_onnx(m)
    keyed = cr.import_onnx(m)
    d = _tmpdir()
    path = os.path.join(d, "m.onnx")
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    np.savez(os.path.join(d, "in.npz"), data=data, shape=np.array([3, 3]))
    g = keyed.specialize({"shape": np.array([3, 2])})
    run = {
        "count": lambda: cr.compile(keyed)(data),
        "names": lambda: cr.compile(keyed).run({"data": data}),
        "missing": lambda: keyed.specialize({"data": data}),
        "refused": lambda: keyed.specialize({"shape": np.array([4, 2])}),
        "ragged": lambda: check_key("shape", TensorType((2,), DType.i64), [[1], [1, 2]]),
        "dtype": lambda: check_key("shape", TensorType((2,), DType.i64), np.array([3, 2], np.int32)),
        "shape": lambda: check_key("shape", TensorType((2,), DType.i64), np.array([3, 2, 1])),
        "size": lambda: check_key("shape", TensorType(("k",), DType.i64), np.ones(300, np.int64)),
        "finite": lambda: check_key("r", TensorType((), DType.f32), np.float32("inf")),
        "one": lambda: cr.compile_train(keyed),
        "other": lambda: cr.Interpreter(g).run_list([data, np.array([2, 3])]),
        "not_input": lambda: g.set_key(g.outputs[0], np.zeros((3, 2), np.float32)),
        "key_shape": lambda: g.set_key(g.inputs[0], np.zeros(3, np.float32)),
        "cli_none": lambda: cli_inspect.run(argparse.Namespace(model=path, max_tensor_bytes=None)),
        "cli_bad": lambda: cli_run.run(argparse.Namespace(model=path, inputs=os.path.join(d, "in.npz"),
                                                          output=os.path.join(d, "o.npz"))),
    }
    return run[case]()


SITES = {
    # -- frontends.cli: model-file commands -----------------------------------------------------------
    "frontends.cli.common:read_feeds#1": (lambda: _cli_onnx("feeds"), ["bad.npz", "missing input(s) x"]),
    "frontends.cli.run:run#1": (lambda: _cli_onnx("wide"), ["wide.npz", "input %x dimension 1 must be 2"]),
    "frontends.cli.common:run_python#1": (lambda: __import__("chainrule.frontends.cli.common", fromlist=["x"]).run_python(
        compile("import chainrule as cr\nmodel = cr.nn.Linearr(3, 2)\n", "typo.py", "exec"), "typo.py"),
        ["typo.py failed while it ran", 'File "typo.py", line 2', "no attribute 'Linearr'"]),
    "frontends.cli.common:read_npz#1": (lambda: _cli_onnx("npz1"), ["none.npz", "no such file"]),
    "frontends.cli.common:read_npz#2": (lambda: __import__("chainrule.frontends.cli.common", fromlist=["x"]).read_npz(
        _lying_npz(_tmp("l.npz"))), ["l.npz: member x declares float64[1000000]", "holds only"]),
    "frontends.cli.common:read_npz#4": (lambda: __import__("chainrule.frontends.cli.common", fromlist=["x"]).read_npz(
        _notes_npz()), ["z.npz", "not .npy arrays: notes.txt"]),
    "frontends.cli.common:read_npz#3": (lambda: _cli_onnx("npz2"), ["junk.npz", "not a readable .npz"]),
    # -- specialisation keys (frontends/onnx/keys.py) ---------------------------------------------------
    "frontends.onnx.importer:_keyed_model#1": (lambda: _keyed("big"), ["node 'r' (Reshape)", "'shape'",
                                                                       "declared i64[300]", "at most 256"]),
    "frontends.onnx.keys:KeyedModel.specialize#1": (lambda: _keyed("missing"), ["on the values of shape",
                                                                                 "give a value for shape"]),
    "frontends.onnx.keys:KeyedModel.specialize#2": (lambda: _keyed("refused"), ["input %shape = [4, 2]",
                                                                                 "cannot reshape [2, 3] to [4, 2]"]),
    "frontends.onnx.keys:check_key#1": (lambda: _keyed("ragged"), ["input %shape", "cannot be read as an array"]),
    "frontends.onnx.keys:check_key#2": (lambda: _keyed("dtype"), ["input %shape", "must have dtype int64", "int32"]),
    "frontends.onnx.keys:check_key#3": (lambda: _keyed("shape"), ["input %shape", "must have type i64[2]", "[3]"]),
    "frontends.onnx.keys:check_key#4": (lambda: _keyed("size"), ["input %shape", "at most 256 numbers; it has 300"]),
    "frontends.onnx.keys:check_key#5": (lambda: _keyed("finite"), ["input %r", "= inf is not finite"]),
    "frontends.compile:KeyedExecutable.executable_for#1": (lambda: _keyed("count"), ["model m takes 2 input(s)",
                                                                                      "%data, %shape", "got 1"]),
    "frontends.compile:KeyedExecutable.run#1": (lambda: _keyed("names"), ["takes inputs data, shape, got data"]),
    "frontends.python.lower:to_graph#2": (lambda: _keyed("one"), ["cannot train m as one graph", "%shape",
                                                                  "specialize({'shape': value})"]),
    "ir.core:Graph.set_key#1": (lambda: _keyed("not_input"), ["only a graph input", "not %y (node)"]),
    "ir.core:Graph.set_key#2": (lambda: _keyed("key_shape"), ["key %data", "f32[2,3] cannot hold", "[3]"]),
    "runtime.interpreter:check_keys#1": (lambda: _keyed("other"), [
        "input %shape is a specialisation key of graph m", "built for %shape = [3, 2], got [2, 3]"]),
    "frontends.cli.common:import_model#1": (lambda: _keyed("cli_none"), ["m.onnx: graph input(s) shape set shapes",
                                                                         "--inputs"]),
    "frontends.cli.common:import_model#2": (lambda: _keyed("cli_bad"), ["in.npz: input %shape = [3, 3]",
                                                                        "cannot reshape"]),
    "frontends.cli.export:_read_ir#1": (lambda: _cli_onnx("export1"), ["none.ir", "no such file"]),
    "frontends.cli.export:run#1": (lambda: _cli_onnx("export2"), ["in.npz", "lacks arrays"]),
    "frontends.cli.export:run#2": (lambda: _cli_onnx("export3"), ["p.npz", "the graph wants"]),
    "frontends.cli.grad:run#2": (lambda: _cli_onnx("grad2"), ["m.onnx", "not a float scalar"]),
    "frontends.cli.export:trained_model#1": (lambda: _cli_export_run("model"), ["no model.ir", "chainrule train"]),
    "frontends.cli.export:trained_model#2": (lambda: _cli_export_run("missing"), ["array fc3.weight is missing",
                                                                                 "model.ir wants f32[2,2]"]),
    "frontends.cli.export:_need_params#1": (lambda: _cli_onnx("export_missing"), ["nosuch", "no such file or folder"]),
    "frontends.cli.export:_need_params#2": (lambda: _cli_export_run("params"), ["s.ir", "needs --params"]),
    "frontends.python.nn:Module.__call__#1": (lambda: cr.nn.mlp([4, 3])(np.ones((2, 4), np.float32)),
                                              ["Sequential was called on a ndarray", "cr.compile(model)(x)"]),
    "frontends.onnx.importer:_Importer.symbolic_output#1": (
        lambda: _imp(_node("Shape", name="sh"), inputs=(("x", ["N", 3]),), outputs=(("y", [2]),)),
        ["graph output 'y'", "shape value [N, 3]", "symbolic dimensions"]),
    # -- ir.core -------------------------------------------------------------------------
    "ir.core:Graph._new_leaf#1": (lambda: [Graph("g").add_input("x", T(1)) for _ in range(1)] and
                                  (lambda g: (g.add_input("x", T(1)), g.add_input("x", T(1))))(Graph("g")),
                                  ["already has a value named 'x'"]),
    "ir.core:Graph.add_param#1": (lambda: Graph("g").add_param("w", np.ones(1), kind="buffer"), ["'buffer'"]),
    "ir.core:Graph.add_param#2": (lambda: Graph("g").add_param("w"), ["parameter 'w'"]),
    "ir.core:Graph.param#1": (lambda: Graph("g").param("w"), ["no parameter 'w'"]),
    "ir.core:Graph.value#1": (lambda: Graph("g").value("v"), ["no value named 'v'"]),
    "ir.core:Graph.add_node#1": (_node_twice, ["already in a graph"]),
    "ir.core:Graph.add_node#2": (_foreign_input, ["input 0 (%x0)", "Exp", "another graph"]),
    "ir.core:Graph.add_node#3": (_insert_before_removed, ["Neg node before exp", "not in graph 'g'"]),
    "ir.core:Graph._settle#1": (_insert_before_left_out, ["node neg (Neg) was inserted before a node", "not in the node list"]),
    "ir.core:Graph.remove_nodes#1": (_remove_twice, ["cannot remove node exp (Exp)", "not in graph 'g'"]),
    "ir.core:Graph.remove_nodes#2": (_remove_used, ["cannot remove node", "Exp", "%exp is still used by neg"]),
    "ir.core:Graph.remove_nodes#3": (_remove_output, ["Exp", "%exp is a graph output"]),
    "ir.core:Graph.add_update#1": (lambda: (lambda g: g.add_update(g.add_input("x", T(1)), g.inputs[0]))(Graph("g")),
                                   ["%x (input)"]),
    # -- ir.types, ops ----------------------------------------------------------------
    "ir.types:DType.of#1": (lambda: DType.of(object()), ["is not a dtype", "supported: f16"]),
    "ir.types:DType.of#2": (lambda: DType.of(np.complex64), ["unsupported dtype complex64"]),
    "ir.types:TensorType.__post_init__#1": (lambda: T(2, -1), ["negative dimension -1"]),
    "ir.types:TensorType.__post_init__#2": (lambda: T(2, "a b"), ["dimension 'a b'"]),
    "ir.types:broadcast_shapes#1": (lambda: emit("Add", T(3), T(4)), ["Add", "f32[3]", "f32[4]"]),
    "ir.types:normalize_axis#1": (lambda: emit("Softmax", T(3), axis=[1, 2]), ["Softmax axis must be an integer", "[1, 2]"]),
    "ir.types:normalize_axis#2": (lambda: emit("Softmax", T(3), axis=2), ["Softmax axis 2", "rank 1"]),
    "ir.types:axis_list#1": (lambda: emit("ReduceSum", T(3), axes="one"), ["reduction axes must be a list of integer",
                                                                           "'one'"]),
    "ir.ops:get_op#1": (lambda: emit("Frob", T(1)), ["unknown op 'Frob'", "supported ops: ", " Add, "]),
    "ir.ops.base:Op.check_attrs#1": (lambda: emit("Relu", T(1), alpha=1.0), ["Relu has no attribute 'alpha'"]),
    "ir.ops.base:Op.check_attrs#2": (_required_attr, ["Demo needs attribute 'k'"]),  # no registered op has one
    "ir.ops.base:Op.check_arity#1": (lambda: emit("Add", T(1)), ["Add takes 2 inputs, got 1"]),
    "ir.ops.base:same_dtype#1": (lambda: emit("Add", T(1), T(1, dt="f64")), ["Add", "f32[1], f64[1]"]),
    "ir.ops.base:need_float#1": (lambda: emit("Exp", T(1, dt="i64")), ["Exp needs a float operand", "i64[1]"]),
    "ir.ops.elementwise:Binary.infer#1": (lambda: emit("Sub", T(2, dt="bool"), T(2, dt="bool")),
                                          ["Sub needs numeric operands", "bool[2]"]),
    "ir.ops.elementwise:Neg.infer#1": (lambda: emit("Neg", T(2, dt="bool")), ["Neg needs a numeric operand", "bool[2]"]),
    "ir.ops.elementwise:Cast.infer#1": (lambda: emit("Cast", T(2), to=DType.f8e4m3fn, saturate=2),
                                        ["Cast saturate must be 0 or 1, got 2"]),
    "ir.ops.elementwise:Cast.infer#2": (lambda: emit("Cast", T(2), to=DType.f8e8m0, round_mode="even"),
                                        ["Cast round_mode must be", "'even'"]),
    "ir.ops.elementwise:Where.infer#1": (lambda: emit("Where", T(2), T(2), T(2)), ["Where", "bool condition", "f32[2]"]),
    "ir.ops.elementwise:Where.infer#2": (lambda: emit("Where", T(2, dt="bool"), T(2), T(2, dt="f64")),
                                         ["Where", "f32[2] and f64[2]"]),
    "ir.ops.indexing:Gather.infer#1": (lambda: emit("Gather", T(3), T(2)), ["Gather needs integer indices", "f32[2]"]),
    "ir.ops.indexing:Gather.infer#2": (lambda: emit("Gather", T(), T(2, dt="i64")), ["Gather", "rank ≥ 1", "f32[]"]),
    "ir.ops.indexing:ScatterAddLike.infer#1": (lambda: emit("ScatterAddLike", T(2), T(2), T(3)),
                                               ["ScatterAddLike needs integer indices", "f32[2]"]),
    "ir.ops.indexing:ScatterAddLike.infer#2": (lambda: emit("ScatterAddLike", T(2), T(2, dt="i64"), T()),
                                               ["ScatterAddLike", "rank ≥ 1", "f32[]"]),
    "ir.ops.indexing:ScatterAddLike.infer#3": (lambda: emit("ScatterAddLike", T(2, 4), T(2, dt="i64"), T(5, 3)),
                                               ["ScatterAddLike updates f32[2,4]", "[2, 3]", "i64[2]"]),
    "ir.ops.indexing:Concat.infer#1": (lambda: emit("Concat", T(2), T(2, 2)), ["Concat", "f32[2], f32[2,2]"]),
    "ir.ops.indexing:Concat.infer#2": (lambda: emit("Concat", T(2, 3), T(2, 4), axis=0), ["Concat", "dimension 1"]),
    "ir.ops.indexing:Concat.infer#3": (lambda: emit("Concat", T("N", 3), T("N", 3), axis=0), ["Concat", "symbolic"]),
    "ir.ops.linalg:_mm_shape#1": (lambda: emit("MatMul", T(), T(2)), ["MatMul", "rank ≥ 1", "f32[]"]),
    "ir.ops.linalg:_mm_shape#2": (lambda: emit("MatMul", T(2, 3), T(4, 5)), ["MatMul", "f32[2,3]", "f32[4,5]"]),
    "ir.ops.linalg:Gemm.infer#1": (lambda: emit("Gemm", T(2), T(2, 2)), ["Gemm needs matrices", "f32[2]"]),
    "ir.ops.linalg:Gemm.infer#2": (lambda: emit("Gemm", T(2, 3), T(4, 5)), ["Gemm inner dimensions", "[2,3]", "[4,5]"]),
    "ir.ops.linalg:Gemm.infer#3": (lambda: emit("Gemm", T(2, 3), T(3, 5), T(2, 1, 5)), ["Gemm bias C", "f32[2,1,5]"]),
    "ir.ops.losses:Loss.infer#1": (lambda: emit("SoftmaxCrossEntropy", T(10), T(10)), ["SoftmaxCrossEntropy", "[N,K]", "f32[10]"]),
    "ir.ops.losses:Loss.infer#2": (lambda: emit("SquaredError", T(2, 3), T(2, 4)), ["SquaredError", "f32[2,3]", "f32[2,4]"]),
    "ir.ops.losses:Loss.infer#3": (lambda: emit("SquaredError", T(2), T(2), reduction="max"), ["SquaredError", "'max'"]),
    "ir.ops.losses:SoftmaxCrossEntropy.infer#1": (lambda: emit("SoftmaxCrossEntropy", T(2, 3), T(2, 3), probs=2),
                                                  ["SoftmaxCrossEntropy probs", "0 or 1", "got 2"]),
    "ir.ops.reductions:_ArgExtreme.infer#1": (lambda: emit("ArgMin", T(2, 3), select_last_index=2),
                                              ["ArgMin select_last_index must be 0 or 1, got 2"]),
    "ir.ops.reductions:reduced_axes#1": (lambda: emit("ReduceSum", T(2, 3), axes=(1, -1)), ["axes (1, -1) repeat"]),
    # CNN ops: each type rule names the op, the operand and the attribute that do not fit
    "ir.ops.conv:Conv._geometry#1": (lambda: emit("Conv", T(1, 1, 5, 5), T(2, 1, 3)), ["Conv needs a static weight"]),
    "ir.ops.conv:Conv._geometry#2": (lambda: emit("Conv", T(1, 1, 5, 5), T(2, 1, 3, 3), kernel_shape=(2, 2)),
                                     ["kernel_shape (2, 2) differs"]),
    "ir.ops.conv:Conv.infer#1": (lambda: emit("Conv", T(1, 2, 5, 5), T(2, 1, 3, 3)), ["has 2 channels", "expects 1"]),
    "ir.ops.conv:Conv.infer#2": (lambda: emit("Conv", T(1, 1, 5, 5), T(2, 1, 3, 3), T(3)), ["Conv bias", "[2]"]),
    "ir.ops.conv:ConvFilterGrad.infer#1": (lambda: emit("ConvFilterGrad", T(1, 1, 5, 5), T(1, 2, 3, 3)),
                                           ["needs attribute 'kernel_shape'"]),
    "ir.ops.conv:ConvFilterGrad.infer#2": (lambda: emit("ConvFilterGrad", T(1, 1, 5, 5), T(1, 2, 2, 2), kernel_shape=(3, 3)),
                                           ["is not the output of a Conv"]),
    "ir.ops.conv:ConvTranspose._out_sizes#1": (lambda: emit("ConvTranspose", T(1, 1, 1, 1), T(1, 1, 1, 1), pads=(1, 1, 1, 1)),
                                               ["ConvTranspose output would be"]),
    "ir.ops.conv:ConvTranspose.infer#1": (lambda: emit("ConvTranspose", T(1, 1, 3, 3), T(1, 1, 3)),
                                          ["ConvTranspose needs a static weight"]),
    "ir.ops.conv:ConvTranspose.infer#2": (lambda: emit("ConvTranspose", T(1, 2, 3, 3), T(1, 1, 3, 3)), ["has 2 channels"]),
    "ir.ops.conv:ConvTranspose.infer#3": (lambda: emit("ConvTranspose", T(1, 1, 3, 3), T(1, 2, 3, 3), T(3)),
                                          ["ConvTranspose bias"]),
    "ir.ops.conv:_group#1": (lambda: emit("Conv", T(1, 2, 5, 5), T(3, 1, 3, 3), group=2), ["not divisible by group=2"]),
    "ir.ops.conv:_static#1": (lambda: emit("ConvFilterGrad", T(1, "C", 5, 5), T(1, 2, 3, 3), kernel_shape=(3, 3)),
                              ["ConvFilterGrad needs a static channel count"]),
    "ir.ops.norm:BatchNormalization.infer#1": (
        lambda: emit("BatchNormalization", T(2, 3), T(3), T(3), T(3), T(3), training_mode=1), ["BatchNormTraining"]),
    "ir.ops.norm:DropoutMask.infer#1": (lambda: emit("DropoutMask", T(2, 3), T()), ["integer scalar step", "f32[]"]),
    "ir.ops.norm:DropoutMask.infer#2": (lambda: emit("DropoutMask", T(2, 3), T(dt=DType.i64), ratio=1.0),
                                        ["ratio must be in [0, 1)"]),
    "ir.ops.norm:_check#1": (lambda: emit("BatchNormTraining", T(3), T(3), T(3)), ["BatchNormTraining needs [N,C]"]),
    "ir.ops.norm:_check#2": (lambda: emit("BatchNormTraining", T(2, 3), T(4), T(3)), ["input 1 should be f32[3]"]),
    "ir.ops.pool:AveragePoolGrad.infer#1": (
        lambda: emit("AveragePoolGrad", T(1, 1, 2, 2), T(1, 1, 4, 4), kernel_shape=(2, 2)), ["not the AveragePool output"]),
    "ir.ops.pool:GlobalAveragePool.infer#1": (lambda: emit("GlobalAveragePool", T(2, 3)), ["GlobalAveragePool needs"]),
    "ir.ops.base:refuse_restricted#1": (lambda: emit("Exp", T(3, dt=DType.bf16)),
                                         ["Exp does not take bf16 operands, got bf16[3]", "Cast them to f32"]),
    "ir.ops.pool:MaxPoolIndices.infer#1": (lambda: emit("MaxPoolIndices", T(1, 1, 4, 4), kernel_shape=(2, 2),
                                                        storage_order=2), ["MaxPoolIndices storage_order", "2"]),
    "ir.ops.pool:MaxPoolGrad.infer#1": (lambda: emit("MaxPoolGrad", T(1, 1, 4, 4), T(1, 1, 4, 4), kernel_shape=(2, 2)),
                                        ["not the MaxPool output"]),
    "ir.ops.pool:Pool.window#1": (lambda: emit("MaxPool", T(1, 1, 4, 4)), ["MaxPool needs attribute 'kernel_shape'"]),
    "ir.ops.window:Window.out_sizes#1": (lambda: emit("MaxPool", T(1, 1, 2, 2), kernel_shape=(3, 3)),
                                         ["does not fit an input of size 2"]),
    "ir.ops.window:_pair#1": (lambda: emit("MaxPool", T(1, 1, 4, 4), kernel_shape=(2,)), ["kernel_shape needs 2 values"]),
    "ir.ops.window:spatial_sizes#1": (lambda: emit("MaxPool", T(1, 4, 4), kernel_shape=(2, 2)), ["[N,C,H,W]", "f32[1,4,4]"]),
    "ir.ops.window:spatial_sizes#2": (lambda: emit("MaxPool", T(1, 1, "H", 4), kernel_shape=(2, 2)), ["static spatial sizes"]),
    "ir.ops.window:_window#1": (lambda: emit("MaxPool", T(1, 1, 4, 4), kernel_shape=(2, 2), strides=(0, 1)),
                                  ["strides=(0, 1)"]),
    "ir.ops.pad:Pad._pads#1": (lambda: emit("Pad", T(2, 3), pads=(1, 1)), ["Pad needs 4 pads", "(1, 1)"]),
    "ir.ops.pad:Pad.infer#1": (lambda: emit("Pad", T("N", 3), pads=(1, 0, 0, 0)), ["symbolic axis N"]),
    "ir.ops.pad:Pad.infer#2": (lambda: emit("Pad", T(2, 3), pads=(0, -2, 0, -2)), ["crops more than the 3"]),
    "frontends.onnx.ops.elementwise:_equal#1": (lambda: cr.export_onnx(cr.parse_graph(
        "graph g {\n  input %a: str[2]\n  input %b: str[2]\n  %y: bool[2] = Equal(%a, %b)\n  return %y\n}\n")),
        ["node y", "Equal of strings needs ONNX opset 19"]),
    "frontends.onnx.ops.pool:_no_dilation#1": (lambda: _export_dilated_average_pool(), ["dilations (2, 2)", "opset 19"]),
    "frontends.python.layers:AdaptiveAvgPool2d.__init__#1": (lambda: cr.nn.AdaptiveAvgPool2d(2), ["output_size=1"]),
    "frontends.python.layers:Conv2d.__init__#1": (lambda: cr.nn.Conv2d(3, 4, 3, groups=2), ["divisible by groups=2"]),
    "frontends.python.layers:Dropout.__init__#1": (lambda: cr.nn.Dropout(1.0), ["Dropout probability", "[0, 1)"]),
    "frontends.python.layers:_BatchNorm.forward#1": (lambda: cr.nn.BatchNorm2d(3).to_graph(("N", 4, 2, 2)),
                                                     ["BatchNorm2d(3)", "4-d input with 3 channels", "[N,4,2,2]"]),
    "frontends.python.layers:_check_image#1": (lambda: cr.nn.Conv2d(1, 2, 3).to_graph(("N", 2, 5, 5)),
                                               ["conv expects an image batch [N,1,H,W]", "[N,2,5,5]"]),
    "frontends.python.layers:_pair#1": (lambda: cr.nn.MaxPool2d((2, 2, 2)), ["kernel_size must be an int or a pair"]),
    "frontends.cli.train:_image_side#1": (lambda: __import__("chainrule.frontends.cli.train", fromlist=["x"])
                                          ._image_side(10), ["--model cnn needs square images", "10 features"]),
    "ir.ops.shape:Transpose._perm#1": (lambda: emit("Transpose", T(2, 3), perm=(0, 0)), ["Transpose perm (0, 0)"]),
    "ir.ops.shape:reshape_target#1": (lambda: emit("Reshape", T(2, 3), shape=(-1, -1)), ["Reshape", "(-1, -1)"]),
    "ir.ops.shape:reshape_target#2": (lambda: reshape_target(("N", 3), ("M", -1)), ["symbol M"]),
    "ir.ops.shape:reshape_target#3": (lambda: emit("Reshape", T(2, 3), shape=(4, -1)), ["[2, 3] to [4, -1]", "divide"]),
    "ir.ops.shape:reshape_target#4": (lambda: emit("Reshape", T("N", "M"), shape=(-1,)), ["cannot infer -1"]),
    "ir.ops.shape:reshape_target#5": (lambda: emit("Reshape", T(2, 3), shape=(5,)), ["[2, 3] to [5]", "counts differ"]),
    "ir.ops.shape:Reshape.infer#1": (lambda: emit("Reshape", T(2, 3), shape=(-2, 3)), ["Reshape shape entries", "(-2, 3)"]),
    "ir.ops.shape:Flatten.infer#1": (lambda: emit("Flatten", T(2, 3), axis=5), ["Flatten axis 5", "f32[2,3]"]),
    "ir.ops.shape:Flatten.infer.prod#1": (lambda: emit("Flatten", T("N", "M", 3), axis=2), ["Flatten", "f32[N,M,3]"]),
    "ir.ops.shape:Unsqueeze.infer#1": (lambda: emit("Unsqueeze", T(2), axes=(0, 0)), ["Unsqueeze axes (0, 0)"]),
    "ir.ops.shape:Squeeze._axes#1": (lambda: emit("Squeeze", T("N", 1)), ["Squeeze without axes of f32[N,1]", "give the axes"]),
    "ir.ops.shape:Squeeze._axes#2": (lambda: emit("Squeeze", T(2, 3), axes=(1,)), ["Squeeze axis 1 of f32[2,3]", "size 3"]),
    "ir.ops.shape:ExpandLike.infer#1": (lambda: emit("ExpandLike", T(2, 3), T(3)), ["ExpandLike", "f32[2,3]", "f32[3]"]),
    "ir.ops.shape:OneHot.infer#1": (lambda: emit("OneHot", T(2), depth=3), ["OneHot needs integer", "f32[2]"]),
    "ir.ops.shape:OneHot.infer#2": (lambda: emit("OneHot", T(2, dt="i64"), depth=0), ["OneHot depth", "0"]),
    "ir.ops.shape:OneHot.infer#3": (lambda: emit("OneHot", T(2, dt="i64"), depth=3, out_of_range="wrap"),
                                    ["OneHot out_of_range must be", "'wrap'"]),
    "ir.ops.shape:Constant.infer#1": (lambda: emit("Constant", value=3), ["Constant value", "int"]),
    "ir.ops.shape:like_shape#1": (_flatten_grad, ["gradient of %flat (Flatten)", "f32[N,M]",
                                                  "more than one symbolic dimension"]),
    "ir.ops.fused:step_types#1": (lambda: emit("Fused", T(2), body=(("Exp", (0,)),)),
                                  ["Fused body step 0 must be (op, refs, attrs, name)", "('Exp', (0,))"]),
    "ir.ops.fused:step_types#2": (lambda: emit("Fused", T(2), body=(("MatMul", (0, 0), (), "m"),)),
                                  ["Fused body step 0: 'MatMul' is not an elementwise op"]),
    "ir.ops.fused:step_types#3": (lambda: emit("Fused", T(2), body=(("Exp", (0,), (), "a"), ("Neg", (3,), (), "b"))),
                                  ["Fused body step 1 (Neg) refers to an undefined operand: (3,)"]),
    "ir.ops.fused:Fused.infer#1": (lambda: emit("Fused", T(2)), ["Fused needs a non-empty body", "Fused(%x0: f32[2])"]),
    "ir.core:Graph.remove_param#1": (_remove_param_used, ["cannot remove parameter %w", "still used"]),
    "ir.builder:Emitter.emit#1": (lambda: Emitter(Graph("g")).emit("Exp", [np.ones(2)]), ["input 0 of Exp", "ndarray"]),
    "ir.builder:Emitter.emit#2": (lambda: emit("Add", T(3), T(4)), ["(in Add(%x0: f32[3], %x1: f32[4]))"]),
    "ir.builder:Emitter.sum_to#1": (_sum_to, ["f32[5]"]),
    # -- parser, verifier ---------------------------------------------------------------
    "ir.parser:_Lexer.fail#1": (lambda: cr.parse_graph(PARSE_USE), ["line 3, column 21", "%z"]),
    "ir.parser:parse_graph#1": (lambda: cr.parse_graph(b"graph"), ["IR text must be a str", "bytes"]),
    "ir.parser:parse_graph#2": (lambda: cr.parse_graph("\n// only a comment\n"), ["empty IR text"]),
    "ir.parser:parse_graph#4": (lambda: cr.parse_graph("graph g {\n  input %x: f32[2]\n  return %x\n"),
                                ["line 4", "missing closing '}'", "graph g"]),
    "ir.parser:parse_graph#3": (lambda: cr.parse_graph("graph g {\n  input %x: f32[2]\n  %y: f32[2] = Fused(%x) {\n"
                                                       "    %a: f32[2] = Exp(%x)\n"),
                                ["line 5", "missing closing '}' of a Fused body"]),
    "ir.verifier:_fail#1": (_verify_fail, ["graph g", ">> ", "%exp"]),
    # -- passes -------------------------------------------------------------------------
    "passes.analysis:topological_order#1": (_cycle, ["graph g has a cycle", "exp", "neg"]),
    "passes.basic:infer_shapes#1": (_infer_shapes, ["node %add (Add)", "[2] and [3]"]),
    "passes.manager:PassManager.check_print_after#1": (lambda: _pass_fail("print"), ["--print-after", "nosuch", "breaks"]),
    "passes.manager:PassManager.check_options#1": (lambda: cr.compile_train(cr.nn.Linear(2, 2), loss="squared_error",
                                                                           lr=0.1),
                                                   ["compile_train() takes no option 'lr'", "verify_each",
                                                    "optimizer=cr.optim.SGD(lr=...)"]),
    "passes.manager:PassManager._run#1": (lambda: _pass_fail("chainrule"), ["pass breaks failed", "no value named 'nope'"]),
    "passes.manager:PassManager._run#2": (lambda: _pass_fail("other"), ["pass breaks failed with RuntimeError: boom"]),
    "passes.manager:PassManager._verify#1": (lambda: _pass_fail("verify"), ["invalid after pass breaks"]),
    "passes.autodiff:backward#1": (lambda: _backward("noloss"), ["at least one loss"]),
    "passes.autodiff:backward#2": (lambda: _backward("nowrt"), ["wrt"]),
    "passes.autodiff:backward#3": (lambda: _backward("vector"), ["the loss %x1", "f32[2]", "ReduceMean"]),
    "passes.autodiff:backward#4": (lambda: _backward("foreign"), ["%x0", "is not a value of graph 'g'"]),
    "passes.autodiff:backward#5": (lambda: _backward("unused"), ["%reducesum does not depend", "%x0"]),
    "passes.optimizer:OptimizerPass.pairs#1": (lambda: _optimizer("none"), ["graph g has no gradient outputs"]),
    "passes.optimizer:OptimizerPass.pairs#2": (lambda: _optimizer("w"), ["no gradient output for w"]),
    "ir.types:TensorType.require_nbytes#1": (lambda: __import__("chainrule.passes.memory", fromlist=["x"]).plan_memory(
        cr.nn.Linear(2, 2).to_graph()), ["planning of %linear", "dimension(s) N of f32[N,2]", "bindings such as {'N': 32}"]),
    # -- runtime ------------------------------------------------------------------------
    "runtime.interpreter:Interpreter.__init__#1": (lambda: cr.Interpreter(cr.parse_graph(
        "graph g {\n  param %w: f32[2]\n  return %w\n}\n")), ["graph g", "without arrays: w"]),
    "runtime.interpreter:check_inputs#1": (lambda: run(
        "graph g {\n  input %x: f32[2]\n  return %x\n}\n", object()), ["input %x", "object"]),
    "runtime.interpreter:check_inputs#2": (lambda: run(
        "graph g {\n  input %x: f32[2]\n  return %x\n}\n", np.zeros(2)), ["input %x", "float32", "float64"]),
    "runtime.interpreter:check_inputs#3": (lambda: run(
        "graph g {\n  input %x: f32[2]\n  return %x\n}\n", np.zeros((2, 2), np.float32)), ["input %x", "rank 1", "[2, 2]"]),
    "runtime.interpreter:check_inputs#4": (lambda: run(
        "graph g {\n  input %x: f32[2]\n  return %x\n}\n", np.zeros(3, np.float32)), ["input %x dimension 0 must be 2"]),
    "runtime.interpreter:check_inputs#5": (lambda: run(
        "graph g {\n  input %x: f32[N]\n  input %y: f32[N]\n  return %x\n}\n", np.zeros(3, np.float32),
        np.zeros(4, np.float32)), ["input %y", "N=4", "%x"]),
    "runtime.limits:check_memory#1": (_resource, ["graph big", "N=100", "over the memory limit"]),
    "runtime.interpreter:check_count#1": (lambda: run(
        "graph g {\n  input %x: f32[2]\n  return %x\n}\n"), ["graph g takes 1 input(s) (%x)"]),
    "runtime.interpreter:feeds_in_order#1": (lambda: cr.Interpreter(cr.parse_graph(
        "graph g {\n  input %x: f32[2]\n  return %x\n}\n")).run({"y": 1}), ["missing input(s) x", "unknown input(s) y"]),
    "runtime.interpreter:Interpreter._fail#1": (_exec_fail, ["while executing node %y (OneHot)", "class index 7"]),
    "runtime.interpreter:Interpreter._run_checked#1": (_numerics, ["node %y (Log", "%x: float32[2] in [-1, 1]"]),
    "runtime.limits:parse_size#1": (lambda: __import__("chainrule.runtime.limits", fromlist=["x"]).parse_size("lots"),
                                    ["'lots'", "8G"]),
    # -- frontends ----------------------------------------------------------------------
    "frontends.python.nn:Module.to_graph#1": (lambda: cr.nn.ReLU().to_graph(), ["ReLU cannot infer its input shape",
                                                                         "input_shape="]),
    "frontends.python.nn:Linear.__init__#1": (lambda: cr.nn.Linear(0, 3), ["Linear(0, 3)"]),
    "frontends.python.nn:Linear.forward#1": (lambda: cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.Linear(5, 2)).to_graph(),
                                      [os.path.basename(__file__), "fc2 expects 5 input features", "[N,3]"]),
    "frontends.python.nn:Sequential.__init__#1": (lambda: cr.nn.Sequential(cr.nn.ReLU(), 3), ["Sequential takes modules", "int"]),
    "frontends.python.nn:mlp#1": (lambda: cr.nn.mlp([2, 3], "gelu"), ["'gelu'", "relu"]),
    "frontends.python.tracer:lift#1": (lambda: cr.GraphBuilder("a").input("x", (2,)) + cr.GraphBuilder("b").input("y", (2,)),
                                ["%y: f32[2]", "%x: f32[2]", "different graphs"]),
    "frontends.python.tracer:lift#2": (lambda: cr.GraphBuilder("a").input("x", (2,)) + "s", ["str", "operand"]),
    "frontends.python.tracer:GraphBuilder.build#1": (lambda: cr.GraphBuilder("a").build(), ["build() needs at least one"]),
    "frontends.python.tracer:GraphBuilder.build#2": (lambda: cr.GraphBuilder("a").build(cr.GraphBuilder("b").input("x", (2,))),
                                              ["is not a tensor of graph a"]),
    "frontends.python.functional:_t#1": (lambda: cr.relu(np.ones(2)), ["must be a traced Tensor", "ndarray"]),
    "frontends.python.lower:to_graph#1": (lambda: cr.compile("model"), ["cannot compile a str"]),
    "passes.pipeline:get_pipeline#1": (lambda: cr.compile(cr.nn.Linear(2, 2), pipeline="fast"),
                                       ["unknown pipeline 'fast'", "inference"]),
    # -- checkpoints, gradcheck, training ------------------------------------------------
    "frontends.train.checkpoint:read#1": (lambda: _ckpt(), ["ck.npz: no such checkpoint"]),
    "frontends.train.checkpoint:read#2": (lambda: _ckpt(_lying_npz), ["ck.npz: member x declares float64[1000000]"]),
    "frontends.train.checkpoint:_check_meta#1": (lambda: _ckpt(_npz([1, 2])), ["ck.npz", "metadata is a list, not an object"]),
    "frontends.train.checkpoint:_check_meta#2": (lambda: _ckpt(_npz({**_META, "history": 5})),
                                                ["ck.npz", "field 'history' must be a list"]),
    "frontends.train.checkpoint:resume_point#1": (lambda: __import__("chainrule.frontends.train.checkpoint", fromlist=["x"])
                                                 .resume_point("ck.npz", {"batch": 9}, 1, 9),
                                                 ["ck.npz", "field 'batch' is 9, but an epoch has 9 batches"]),
    "frontends.train.checkpoint:load#1": (lambda: _ckpt(_nan_ckpt), ["ck.npz", "fc1.weight holds 12 non-finite values"]),
    "frontends.train.checkpoint:read#3": (lambda: _ckpt(b"PK\x03\x04 broken"), ["ck.npz", "corrupt or truncated"]),
    "frontends.train.checkpoint:_meta#2": (lambda: _ckpt(_npz(w=np.zeros(2))), ["ck.npz", "no __meta__ entry"]),
    "frontends.train.checkpoint:_meta#3": (lambda: _ckpt(lambda path: np.savez(path, __meta__=np.zeros(10))),
                                     ["ck.npz", "__meta__ entry is float64[10]", "one JSON string of at most 16.0 MiB"]),
    "frontends.train.checkpoint:_meta#4": (lambda: _ckpt(lambda path: np.savez(path, __meta__=np.array("{oops"))),
                                     ["ck.npz", "unreadable metadata"]),
    "frontends.train.checkpoint:_meta#5": (lambda: _ckpt(_npz({"format": "other"})), ["ck.npz", "format 'other'"]),
    "frontends.train.checkpoint:_meta#6": (lambda: _ckpt(_npz({**_META, "version": 99})), ["ck.npz", "version 99"]),
    "frontends.train.checkpoint:_meta#7": (lambda: _ckpt(_npz(_META, **{"fc1.weight": np.zeros((3, 4), np.float32)})),
                                     ["ck.npz", "damaged", "missing fc1.bias"]),
    "frontends.train.checkpoint:_wanted#1": (lambda: _ckpt(other=[4, 2, 3]), ["ck.npz", "does not match", "fc2"]),
    "frontends.train.checkpoint:_wanted#2": (lambda: _ckpt(other=[5, 3]), ["ck.npz", "fc1.weight is float32[3, 5]"]),
    "frontends.inspect.gradcheck:gradcheck#1": (lambda: _gradcheck("vector"), ["scalar loss", "f32[2]"]),
    "frontends.inspect.gradcheck:gradcheck#2": (lambda: _gradcheck("wrong"), ["w ", "MISMATCH"]),
    "frontends.inspect.gradcheck:_feeds#1": (lambda: _gradcheck("missing"), ["missing input(s) x"]),
    "frontends.train.optim:_check#1": (lambda: cr.optim.SGD(lr="fast"), ["lr must be a number", "'fast'"]),
    "frontends.train.optim:_check#2": (lambda: cr.optim.SGD(lr=-1), ["lr must be in (0.0, ∞)", "-1"]),
    "frontends.train.optim:Optimizer.__setattr__#1": (lambda: setattr(cr.optim.SGD(lr=0.1), "lr", 0),
                                                      ["SGD.lr cannot change", "step.lr"]),
    "frontends.train.optim:_schedule#1": (lambda: cr.optim.SGD(schedule="cosine"), ["schedule must be", "str"]),
    "frontends.train.step:TrainStep.lr#1": (lambda: setattr(cr.compile_train(cr.nn.mlp([2, 2]), optimizer=cr.optim.SGD(
        schedule=cr.optim.CosineLR(10))), "lr", 0.1), ["follows the cosine schedule"]),
    "passes.optimizer:StepLR.__init__#1": (lambda: cr.optim.StepLR(5, gamma=2), ["gamma must be in (0, 1]", "2"]),
    "passes.optimizer:WarmupCosineLR.__init__#1": (lambda: cr.optim.WarmupCosineLR(10, 10),
                                                   ["warmup_steps (10) must be fewer than total_steps (10)"]),
    "passes.optimizer:_positive_int#1": (lambda: cr.optim.CosineLR(0), ["total_steps must be a whole number", "0"]),
    "frontends.train.optim:Adam.__init__#1": (lambda: cr.optim.Adam(betas=(0.9,)), ["betas must be a pair", "(0.9,)"]),
    "frontends.train.objectives:get_loss#1": (lambda: __import__("chainrule.frontends.train.objectives", fromlist=["x"]).get_loss("hinge"),
                                    ["unknown loss 'hinge'", "cross_entropy"]),
    "frontends.cli.train:_hidden#1": (lambda: __import__("chainrule.frontends.cli.train", fromlist=["x"])._hidden("a,b"),
                                      ["--hidden", "'a,b'"]),
    "frontends.cli.train:_hidden#2": (lambda: __import__("chainrule.frontends.cli.train", fromlist=["x"])._hidden("8,-1"),
                                      ["--hidden", "positive", "'8,-1'"]),
    # -- checkpoints, datasets, CLI ------------------------------------------------------
    "frontends.train.checkpoint:save#1": (_meta_param, ["parameter is named '__meta__'"]),
    "frontends.train.checkpoint:_meta#1": (lambda: _ckpt(_zip_member), ["ck.npz", "corrupt entries: notes.txt"]),
    "frontends.cli.dump:load_model#1": (lambda: _cli("dump", "nosuch.py"), ["nosuch.py: no such file"]),
    "frontends.cli.dump:load_model#2": (lambda: _model_py("x = 1\n"), ["model.py defines neither 'model'"]),
    "frontends.cli.dump:load_model#3": (lambda: _cli("dump", "resnet"), ["unknown model 'resnet'", "mlp"]),
    "frontends.cli.examples:run#1": (lambda: _cli("examples", "nosuch"), ["no example 'nosuch'"]),
    "frontends.cli.examples:run#2": (_example_fails, ["example one_hot failed: y = [0, 1, 0] expected"]),
    "frontends.cli.explain:run#1": (lambda: _cli("explain", "mlp"), ["--grad NAME", "--backprop"]),
    "frontends.train.loop:TrainingLoop.run#1": (lambda: _train("--lr", "1e30"), ["epoch 1, training step", "the loss is"]),
    "frontends.cli.train:_check_args#1": (lambda: _train("--batch-size", "0"), ["--batch-size must be at least 1, got 0"]),
    "frontends.cli.train:_check_args#2": (lambda: _train("--patience", "0"), ["--patience must be at least 1, got 0"]),
    "frontends.cli.train:_check_args#3": (lambda: _train("--val-fraction", "1"), ["--val-fraction must be in [0, 1)", "1.0"]),
    "frontends.cli.train:_check_args#4": (lambda: _train("--patience", "2", "--val-fraction", "0"),
                                          ["--patience", "needs --val-fraction above 0"]),
    "frontends.cli.train:_check_args#5": (lambda: _cli("train", _tmp("m.py", "import chainrule as cr\nmodel = cr.nn.mlp([64, 10])\n"),
                                                       "--model", "cnn"), ["--model cnn names a built-in model", "m.py defines its own"]),
    "frontends.cli.train:_check_args#6": (lambda: _cli("train", _tmp("m.py", "import chainrule as cr\nmodel = cr.nn.mlp([64, 10])\n"),
                                                       "--hidden", "8"), ["--hidden and --activation", "m.py defines its own model"]),
    "frontends.cli.train:_data#1": (lambda: _train("--label-column", "y"), ["--label-column goes with --data"]),
    "frontends.cli.train:_data#2": (lambda: _train("--data", "a.csv", "--mnist", "d"), ["--data or --mnist, not both"]),
    "frontends.cli.train:_data#3": (lambda: _train("--data", _tmp("ten.csv", "a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))),
                                    ["--val-fraction 0.1 leaves an empty split of 8 training examples"]),
    "frontends.cli.train:_optimizer#1": (lambda: _train("--lr-schedule", "warmup-cosine", "--batch-size", "5000"),
                                         ["warmup-cosine needs at least 2 training steps"]),
    "frontends.cli.train:_user_model#1": (lambda: _cli("train", "nosuch_model.py"), ["nosuch_model.py: no such model file"]),
    "frontends.cli.train:_user_model#2": (lambda: _cli("train", _tmp("data.csv", "a,b\n")),
                                          ["data.csv: a model file is Python", "--data FILE.csv"]),
    "frontends.cli.train:_user_model#3": (lambda: _cli("train", _tmp("nomodel.py", "x = 1\n"), "--out", _tmp("o")),
                                          ["nomodel.py: defines no `model`", "NoneType"]),
    "frontends.cli.train:_flag_checked#1": (lambda: _train("--lr", "-1"), ["--lr must be in (0.0, ∞), got -1.0"]),
    "frontends.cli.check:_read#1": (lambda: _cli("check", _tmp("nothere.ir")), ["nothere.ir: no such file"]),
    "frontends.cli.check:_read#2": (lambda: _cli("check", _tmp("b.ir", b"graph g {\xff")), ["b.ir: is not UTF-8 text"]),
    "ir.files:open_regular#1": (lambda: open_regular(_tmp("none.bin"), what="widget"), ["none.bin: no such widget"]),
    "ir.files:open_regular#2": (lambda: open_regular(os.path.join(_tmp("f.txt", "x"), "m.onnx")),
                                ["f.txt/m.onnx: cannot read: Not a directory"]),
    "ir.files:open_regular#3": (lambda: open_regular(_fifo("p.npz")), ["p.npz: is not a regular file (it is a FIFO)"]),
    "frontends.cli.export:_run_checkpoint#1": (lambda: _cli("export", _tmpdir(), "-o", _tmp("m.onnx")),
                                             ["no checkpoint.npz in this folder", "chainrule train --out"]),
    "frontends.cli.train:_out_dir#1": (lambda: _cli("train", "--out", __file__), ["--out", "is not a folder"]),
    "frontends.cli.train:_resume#1": (_resume_other, ["checkpoint.npz: cannot resume", "hidden: checkpoint [], now [4]"]),
    "frontends.compile:make_runner#1": (lambda: cr.compile(cr.nn.Linear(2, 2), executor="gpu"),
                                        ["unknown executor 'gpu'", "sequential"]),
    "frontends.compile:profile_call#1": (lambda: cr.compile(cr.nn.Linear(2, 2)).profile(
        np.ones((1, 2), np.float32), "no-such-folder/trace.json"),
        ["cannot write no-such-folder/trace.json", "the folder no-such-folder does not exist"]),
    "frontends.compile:check_backend#1": (lambda: cr.compile(cr.nn.Linear(2, 2), backend="torch"),
                                          ["unknown backend 'torch'", "numba", "onnxruntime"]),
    "frontends.compile:check_backend#2": (lambda: cr.compile(cr.nn.Linear(2, 2), backend="numba", executor="dataflow"),
                                          ["backend='numba'", "executor='dataflow' does not apply"]),
    "runtime.numba_backend:load_numba#1": (lambda: _numba("missing"),
                                           ["backend='numba' needs the numba package", 'pip install "chainrule[numba]"']),
    "runtime.numba_backend:NumbaExecutor._compile#1": (lambda: _numba("refused"),
                                                       ["numba could not compile seg0 of graph g", "step_", "no_such_function"]),
    "frontends.python.nn:Standardize.__init__#1": (lambda: cr.nn.Standardize([0.0, 1.0], [1.0]),
                                                   ["mean and std of one length", "2 and 1"]),
    "frontends.python.nn:Standardize.__init__#2": (lambda: cr.nn.Standardize([0.0], [0.0]),
                                                   ["positive standard deviations"]),
    "frontends.train.checkpoint:load_weights#1": (lambda: cr.checkpoint.load_weights(_weights_ckpt(), cr.nn.Sequential(cr.nn.ReLU())),
                                                  ["no parameters to load into"]),
    "frontends.train.checkpoint:load_weights#2": (lambda: cr.checkpoint.load_weights(_weights_ckpt(), cr.nn.mlp([4, 3, 3])),
                                                  ["has no fc2.weight, fc2.bias for this model", "fc1.weight"]),
    "frontends.train.datasets:_label#1": (lambda: cr.datasets.load_csv(_tmp("l.csv", "a,label\n1,2.5\n")),
                                          ["l.csv: row 2, column 'label'", "whole number >= 0, got 2.5"]),
    "frontends.train.datasets:load_csv#1": (lambda: cr.datasets.load_csv("nosuch.csv"), ["nosuch.csv: no such file"]),
    "frontends.train.datasets:load_csv#2": (lambda: cr.datasets.load_csv(_tmp("b.csv", b"a,b\n\xff\xfe\n")),
                                            ["b.csv: cannot read as CSV"]),
    "frontends.train.datasets:load_csv#3": (lambda: cr.datasets.load_csv(_tmp("e.csv", "\n\n")), ["e.csv: the file is empty"]),
    "frontends.train.datasets:load_csv#4": (lambda: cr.datasets.load_csv(_tmp("h.csv", "1,2\n3,4\n")),
                                            ["h.csv: row 1 is all numbers", "must be a header"]),
    "frontends.train.datasets:load_csv#5": (lambda: cr.datasets.load_csv(_tmp("c.csv", "a,b\n1,2\n"), "y"),
                                            ["c.csv: no column 'y' for --label-column", "a, b"]),
    "frontends.train.datasets:load_csv#6": (lambda: cr.datasets.load_csv(_tmp("o.csv", "label\n1\n")),
                                            ["o.csv: needs at least one feature column"]),
    "frontends.train.datasets:load_csv#7": (lambda: cr.datasets.load_csv(_tmp("n.csv", "a,label\n")),
                                            ["n.csv: has a header but no examples"]),
    "frontends.train.datasets:load_csv#8": (lambda: cr.datasets.load_csv(_tmp("r.csv", "a,label\n1,0\n\n1,2,0\n")),
                                            ["r.csv: row 4 has 3 values, the header has 2 columns"]),
    "frontends.train.datasets:load_csv#9": (lambda: cr.datasets.load_csv(_tmp("v.csv", "a,label\n1,0\nfoo,1\n")),
                                            ["v.csv: row 3, column 'a': 'foo' is not a number"]),
    "frontends.train.datasets:load_csv#10": (lambda: cr.datasets.load_csv(_tmp("f.csv", "a,label\nnan,0\n")),
                                             ["f.csv: row 2, column 'a': 'nan' is not a finite number"]),
    "frontends.train.datasets:load_npz#1": (lambda: cr.datasets.load_npz("nosuch.npz"), ["nosuch.npz: no such file"]),
    "frontends.train.datasets:load_npz#2": (lambda: cr.datasets.load_npz(_tmp("t.npz", "text")),
                                            ["t.npz: not a readable .npz file", "not a zip archive"]),
    "frontends.train.datasets:load_npz#3": (lambda: cr.datasets.load_npz(_data_npz("m.npz", X=np.ones((2, 2)))),
                                            ["m.npz: no array 'y'", "it has: X", "np.savez"]),
    "frontends.train.datasets:load_npz#4": (lambda: cr.datasets.load_npz(_data_npz("s.npz", X=np.array([["a"]]), y=np.zeros(1))),
                                            ["s.npz: X and y must be numeric", "<U1"]),
    "frontends.train.datasets:load_npz#5": (lambda: cr.datasets.load_npz(_data_npz("d.npz", X=np.ones(3), y=np.zeros(3))),
                                            ["d.npz: X must be [N, features...]", "X [3]"]),
    "frontends.train.datasets:load_npz#6": (lambda: cr.datasets.load_npz(_data_npz("k.npz", X=np.ones((3, 2)), y=np.zeros(2))),
                                            ["k.npz: X has 3 rows but y has 2 labels"]),
    "frontends.train.datasets:load_npz#7": (lambda: cr.datasets.load_npz(_data_npz("i.npz", X=np.array([[1.0, np.inf]]), y=np.zeros(1))),
                                            ["i.npz: X[0, 1] is inf"]),
    "frontends.train.datasets:load_table#1": (lambda: cr.datasets.load_table("a.npz", "label"),
                                              ["a.npz: --label-column is for CSV files"]),
    "frontends.train.datasets:load_table#2": (lambda: cr.datasets.load_table("a.txt"), ["a.txt: give a .csv file", ".npz"]),
    "frontends.train.datasets:load_digits#1": (lambda: cr.datasets.load_digits("nosuch.csv.gz"),
                                         ["nosuch.csv.gz: no such digits data file", "reinstall"]),
    "frontends.train.datasets:load_digits#2": (lambda: cr.datasets.load_digits(_gz("d.csv.gz", b"1,x\n")),
                                         ["d.csv.gz: cannot read the digits CSV"]),
    "frontends.train.datasets:load_digits#3": (lambda: cr.datasets.load_digits(_gz("d.csv.gz", b"1,2,3\n")),
                                         ["d.csv.gz: expected 64 pixel columns", "got 3 columns"]),
    "frontends.train.datasets:train_test_split#1": (lambda: cr.datasets.train_test_split(np.ones((4, 2)), np.ones(4), 1.5),
                                              ["test_fraction must be in (0, 1), got 1.5"]),
    "frontends.train.datasets:train_test_split#2": (lambda: cr.datasets.train_test_split(np.ones((4, 2)), np.ones(3)),
                                              ["X has 4 rows but y has 3 labels"]),
    "frontends.train.datasets:batches#1": (lambda: list(cr.datasets.batches(np.ones((4, 2)), np.ones(4), 0)),
                                     ["batch_size must be at least 1, got 0"]),
    "frontends.train.datasets:load_idx#1": (lambda: _with_limit("1K", lambda: cr.datasets.load_idx(_tmp("big", bytes(2048)))),
                                      ["big: the file is 2.0 KiB, over the memory limit of 1.0 KiB"]),
    "frontends.train.datasets:load_idx#2": (lambda: cr.datasets.load_idx("nosuch-idx"), ["nosuch-idx: no such IDX file"]),
    "frontends.train.datasets:load_idx#3": (lambda: _read_fails("chainrule.frontends.train.datasets",
                                                             lambda: cr.datasets.load_idx("a-idx")),
                                      ["a-idx: cannot read", "Input/output error"]),
    "frontends.train.datasets:load_idx#9": (lambda: _with_limit("1K", lambda: cr.datasets.load_idx(
        _idx("a", b"\x00\x00\x08\x01\x00\x00\x10\x00"))), ["a: the IDX header declares shape [4096] of uint8 (4.0 KiB)",
                                                                  "over the memory limit of 1.0 KiB"]),
    "frontends.train.datasets:load_idx#10": (lambda: cr.datasets.load_idx(_tmp("a.gz", b"\x1f\x8b\x08junk")),
                                      ["a.gz: corrupt or truncated gzip"]),
    "frontends.train.datasets:load_idx#4": (lambda: cr.datasets.load_idx(_tmp("a", b"\x00\x00")),
                                      ["a: too short", "(2 bytes)"]),
    "frontends.train.datasets:load_idx#5": (lambda: cr.datasets.load_idx(_tmp("a", b"PK\x03\x04")),
                                      ["a: not an IDX file", "magic starts 504b"]),
    "frontends.train.datasets:load_idx#6": (lambda: cr.datasets.load_idx(_idx("a", b"\x00\x00\x07\x01")),
                                      ["a: unknown IDX dtype code 0x07"]),
    "frontends.train.datasets:load_idx#7": (lambda: cr.datasets.load_idx(_idx("a", b"\x00\x00\x08\x00")),
                                      ["a: IDX header declares 0 dimensions"]),
    "frontends.train.datasets:load_idx#8": (lambda: cr.datasets.load_idx(_idx("a", b"\x00\x00\x08\x03", 4)),
                                      ["a: truncated IDX header (8 bytes, need 16 for 3 dimensions)"]),
    "frontends.train.datasets:load_idx#11": (lambda: cr.datasets.load_idx(_idx("a", b"\x00\x00\x08\x01\x00\x00\x00\x05", 3)),
                                      ["a: IDX data truncated", "shape [5] of uint8 needs 5 bytes, file has 3"]),
    "frontends.train.datasets:save_idx#1": (lambda: cr.datasets.save_idx(_tmp("a"), np.ones(2, np.complex64)),
                                      ["IDX cannot store dtype complex64"]),
    "frontends.train.datasets:load_mnist#1": (lambda: _mnist((2, 4), (2,)), ["im: MNIST images must have 3 dimensions",
                                                                        "[2, 4]"]),
    "frontends.train.datasets:load_mnist#2": (lambda: _mnist((2, 2, 2), (2, 1)), ["lb: MNIST labels must have 1 dimension",
                                                                             "[2, 1]"]),
    "frontends.train.datasets:load_mnist#3": (lambda: _mnist((2, 2, 2), (3,)), ["im has 2 images but", "lb has 3 labels"]),
    "frontends.train.datasets:find_mnist#1": (lambda: cr.datasets.find_mnist(os.path.dirname(_tmp("x"))),
                                        ["no train-images-idx3-ubyte[.gz] (MNIST train images)"]),
    "frontends.inspect.dot:render_svg#1": (lambda: _dot("missing"), ["Graphviz 'dot' program is not installed"]),
    "frontends.inspect.dot:render_svg#2": (lambda: _dot("slow"), ["Graphviz dot took longer than 0 s"]),
    "frontends.inspect.dot:render_svg#3": (lambda: _dot("bad"), ["Graphviz dot failed", "syntax error in line 1"]),
    "frontends.train.plots:_figure#1": (_no_matplotlib, ["matplotlib is not installed", "pip install matplotlib"]),
    "frontends.inspect.dump:model_graph#1": (lambda: cr.frontends.inspect.dump.model_graph(cr.nn.ReLU(), "gradient"),
                                     ["ReLU cannot infer its input shape", "input_shape="]),
    "frontends.inspect.dump:dump#1": (lambda: cr.frontends.inspect.dump.dump(cr.nn.Linear(2, 2), "never-written", batch=-3),
                               ["batch=-3", "positive int"]),
    "frontends.inspect.dump:DumpResult.diff#1": (
        lambda: cr.frontends.inspect.dump.DumpResult("d", [cr.frontends.inspect.dump.DumpStep(
            "00-input", "input", True, "", "", "")]).diff("autodiff"), ["no pass 'autodiff'"]),
    "passes.pipeline:get_pipeline#2": (lambda: cr.frontends.inspect.dump.pipeline_passes("gradient", cr.optim.Adam()),
                                         ["optimizer only applies to the training pipeline", "'gradient'"]),
    "frontends.inspect.explain:explain_grad#1": (lambda: cr.frontends.inspect.explain.explain_grad(cr.nn.mlp([2, 2]), "fc9.weight"),
                                         ["graph", "no value named 'fc9.weight'", "its parameters: fc1.weight"]),
    # -- losses, training ------------------------------------------------------------
    "frontends.train.objectives:Objective.prepare_target#1": (lambda: _step()(np.ones((2, 4)), np.eye(3)[:2]),
                                               ["'cross_entropy'", "class-index targets", "shape [2, 3]"]),
    "frontends.train.objectives:Objective.prepare_target#2": (lambda: _step()(np.ones((2, 4)), np.array([0.5, 1.0])),
                                               ["'cross_entropy'", "must be finite integers, got float64", "0.5"]),
    "frontends.train.objectives:CrossEntropyObjective.__init__#1": (lambda: _step(targets="onehot"), ["targets", "'onehot'"]),
    "frontends.train.objectives:CrossEntropyObjective._classes#1": (lambda: cr.compile_train(_graph(lambda x: x.sum(axis=1))),
                                                 ["cross_entropy", "[N,K]", "f32[N]"]),
    "frontends.train.objectives:add_l2#1": (_only_bias, ["weight decay 0.01", "the model has none", "biases"]),
    "frontends.train.step:build_objective#1": (lambda: cr.compile_train(_graph(lambda x: x, lambda x: -x)),
                                          ["one output", "model has 2"]),
    "frontends.train.step:build_objective#2": (lambda: cr.compile_train(_graph(lambda x, t: x + t, names=("x", "t"))),
                                          ["graph model already has a value named %t"]),
    "frontends.train.step:build_objective#3": (lambda: cr.compile_train(cr.nn.mlp([4, 3]), metrics=["f1"]),
                                          ["unknown metric 'f1'", "accuracy"]),
    "frontends.train.step:build_objective#4": (lambda: cr.compile_train(cr.nn.mlp([4, 1]), loss="squared_error",
                                                                   metrics=["accuracy"]),
                                          ["metric 'accuracy'", "not 'squared_error'"]),
    "frontends.train.step:TrainStep.__call__#1": (lambda: _step(check_numerics=True)(np.full((1, 4), np.inf), [0]),
                                             ["training step 1", "node %"]),
    "frontends.train.step:TrainStep.__call__#2": (lambda: _step()(np.full((1, 4), np.inf), [0]),
                                             ["training step 1: the loss is nan", "--check-numerics"]),
    "frontends.train.step:TrainStep.evaluate#1": (lambda: _step().evaluate(np.ones((2, 4)), [0, 1, 2]),
                                             ["evaluate: x has 2 examples but t has 3"]),
    "frontends.train.step:_require_rows#1": (lambda: _step().evaluate(np.zeros((0, 4)), []),
                                            ["evaluate: no examples", "shape [0, 4]"]),
    "frontends.train.step:_require_finite#1": (lambda: _step().evaluate(np.array([[1, 2, np.nan, 4]]), [0]),
                                              ["evaluate: x has 1 non-finite value", "row 0"]),
    "ir.files:write_file#1": (lambda: _files("link"), ["out.txt is a symbolic link", "refusing to write through it"]),
    "ir.files:write_file#2": (lambda: _files("full"), ["cannot write", "out.txt: No space left on device"]),
    "ir.files:write_in#1": (lambda: _files("name"), ["'../up.txt' is not a plain file name"]),
    "ir.files:prepare_dump_dir#1": (lambda: _files("notdir"), ["plain exists and is not a folder"]),
    "ir.files:prepare_dump_dir#2": (lambda: _files("mkdir"), ["cannot make dump folder", "sub: Permission denied"]),
    "ir.files:prepare_dump_dir#3": (lambda: _files("other"), ["holds other files (1: report.html)", "--force"]),
    "frontends.cli.args:output_file#1": (lambda: __import__("chainrule.frontends.cli.args", fromlist=["x"]).output_file(
        os.path.splitext(_tmp("o.npz", b""))[0], ".npz", False), ["o.npz exists; give --force to overwrite it"]),
    "frontends.cli.dump:_usage#1": (lambda: __import__("chainrule.frontends.cli.dump", fromlist=["x"]).run(
        __import__("argparse").Namespace(list=False, lr=0.5, momentum=None, optimizer=None)),
        ["--lr needs --optimizer", "ignored"]),
    "frontends.train.datasets:train_test_split#3": (lambda: cr.datasets.train_test_split(
        np.ones((4, 2)), np.arange(4) % 2, 0.99), ["test_fraction must be smaller", "leaves 0 for training"]),
    "frontends.train.step:compile_train#1": (lambda: cr.compile_train(cr.nn.mlp([4, 3]), optimizer="adam"),
                                        ["optimizer must be a cr.optim optimizer", "got str"]),
    # -- ONNX import ----------------------------------------------------------------------
    "frontends.onnx.importer:load_model_proto#1": (lambda: cr.import_onnx("nothere.onnx"), ["nothere.onnx: no such file"]),
    "frontends.onnx.importer:load_model_proto#2": (lambda: _read_fails("chainrule.frontends.onnx.importer",
                                                                    lambda: cr.import_onnx("m.onnx")),
                                                 ["m.onnx: cannot read: Input/output error"]),
    "frontends.onnx.importer:parse_model_bytes#1": (lambda: cr.import_onnx(_tmp("e.onnx", b"")),
                                                  ["e.onnx: the file is empty"]),
    "frontends.onnx.importer:parse_model_bytes#2": (lambda: cr.import_onnx(_tmp("t.onnx", "graph main {\n}\n")),
                                                  ["t.onnx: not a valid ONNX model", "a text file"]),
    "frontends.onnx.importer:parse_model_bytes#3": (lambda: cr.import_onnx(bytes([8, 9])),
                                                  ["<bytes>: not an ONNX model (missing graph, opset_import)"]),
    "frontends.onnx.importer:import_onnx#1": (lambda: cr.import_onnx(3), ["cannot import a int"]),
    "frontends.onnx.importer:_build#1": (_too_deep, ["<model g>: the model is nested too deeply"]),
    "frontends.onnx.common:from_onnx_dtype#1": (lambda: _init(_tp("w", [1], dtype=14)),
                                                ["initializer 'w'", "element type COMPLEX64 is not supported"]),
    "frontends.onnx.importer:TensorReader.__call__#1": (lambda: _init(_tp("w", [-1, 3])),
                                                      ["<model g>: initializer 'w': negative dimension in [-1, 3]"]),
    "frontends.onnx.importer:TensorReader.__call__#2": (lambda: _init(_tp("w", [2, 3], [1.0] * 6), max_tensor_bytes=16),
                                                      ["initializer 'w'", "[2, 3] (24 bytes) exceeds the limit of 16"]),
    "frontends.onnx.importer:TensorReader.__call__#3": (lambda: _init(_tp("w", [2, 3]).__class__(
        name="w", data_type=1, dims=[2, 3], raw_data=bytes(20))), ["initializer 'w'", "raw_data has 20 bytes", "need 24"]),
    "frontends.onnx.importer:TensorReader.__call__#4": (lambda: _init(_tp("w", [2, 3], [1.0] * 5)),
                                                      ["initializer 'w'", "float_data has 5 values", "need 6"]),
    "frontends.onnx.importer:TensorReader.external#1": (lambda: _ext(), ["initializer 'w'", "without a location"]),
    "frontends.onnx.importer:TensorReader.external#2": (lambda: _ext("w\0.bin"),
                                                         ["initializer 'w'", "'w\\x00.bin' holds a NUL character"]),
    "frontends.onnx.importer:TensorReader.external#3": (lambda: cr.import_onnx(__import__("onnx").load_model_from_string(
        open(_tmp("m.onnx", _om([_node("Add", ["x", "w"])], inits=[_ext_tp()]).SerializeToString()), "rb").read())),
        ["initializer 'w'", "'w.bin' needs the model's folder"]),
    "frontends.onnx.importer:TensorReader.external#4": (lambda: _ext("/etc/passwd"),
                                                      ["initializer 'w'", "'/etc/passwd' is an absolute path"]),
    "frontends.onnx.importer:TensorReader.external#5": (lambda: _ext("../secret.bin"), ["'../secret.bin' contains '..'"]),
    "frontends.onnx.importer:TensorReader.external#6": (lambda: _ext("link.bin", setup=_outside),
                                                      ["'link.bin' is a symbolic link"]),
    "frontends.onnx.importer:TensorReader.external#7": (_ext_unchecked_link, ["'link.bin' leaves the model's folder"]),
    "frontends.onnx.importer:TensorReader.external#8": (lambda: _ext("nothere.bin"),
                                                      ["file 'nothere.bin' does not exist beside the model"]),
    "frontends.onnx.importer:TensorReader.external#9": (lambda: _ext("sub", setup=lambda d: os.mkdir(os.path.join(d, "sub"))),
                                                      ["external data 'sub' is not a regular file"]),
    "frontends.onnx.importer:TensorReader.external#10": (lambda: _ext("hard.bin", setup=_outside),
                                                      ["'hard.bin' has 2 hard links; refused"]),
    "frontends.onnx.importer:TensorReader.external#11": (lambda: _ext("w.bin", offset="ten"),
                                                       ["initializer 'w'", "offset/length are not integers"]),
    "frontends.onnx.importer:TensorReader.external#12": (lambda: _ext("w.bin", offset=16),
                                                       ["'w.bin' offset 16 + length 24 is past the end", "(24 bytes)"]),
    "frontends.onnx.importer:TensorReader.external#13": (lambda: _ext("w.bin", length=20),
                                                       ["'w.bin' has length 20 but the tensor needs 24 bytes"]),
    "frontends.onnx.importer:TensorReader.external#15": (_ext_shrinks, ["initializer 'w'", "'w.bin' ended early"]),
    "frontends.onnx.importer:TensorReader.external#14": (_ext_swapped_for_a_fifo,
                                                       ["initializer 'w'", "'w.bin'", "is not a regular file (it is a FIFO)"]),
    "frontends.onnx.importer:schedule#1": (lambda: _imp(_node("Relu", ["x"], ["x"], name="r")),
                                         ["node 'r' (Relu) writes tensor 'x'", "graph input or initializer"]),
    "frontends.onnx.importer:schedule#2": (lambda: _imp(_node("Relu", name="r1"), _node("Relu", name="r2")),
                                         ["two nodes write tensor 'y'", "'r1' (Relu)", "'r2' (Relu)"]),
    "frontends.onnx.importer:schedule#3": (lambda: _imp(_node("Relu", ["a"], name="r")),
                                         ["node 'r' (Relu) reads tensor 'a'", "no node"]),
    "frontends.onnx.importer:schedule#4": (lambda: _imp(_node("Add", ["x", "b"], ["a"], name="n1"),
                                                      _node("Relu", ["a"], ["b"], name="n2"), _node("Relu", ["a"])),
                                         ["the graph has a cycle through node 'n1' (Add)", "'n2'"]),
    "frontends.onnx.importer:_Ctx.fail#1": (lambda: _imp(  # a target no fold computes: Gather out of range
        _const_node("c", np.array([2, 3])), _const_node("i", np.array([5])), _node("Gather", ["c", "i"], ["s"], name="g"),
        _node("Reshape", ["x", "s"]), inputs=(("x", [2, 3]),)), ["node 'n' (Reshape)", "input 'shape' ('s') must be a constant"]),
    "frontends.onnx.importer:_Ctx.unsupported#1": (lambda: _imp(_node("Split", outs=("a", "b")), inputs=(("x", ["N", 3]),),
                                                              outputs=(("a", None), ("b", None))),
                                                 ["node 'n' (Split)", "unsupported: Split of the symbolic axis N"]),
    "frontends.onnx.importer:_Importer.__init__#1": (lambda: _model_meta(**{"chainrule.state": "{oops"}),
                                                   ["metadata chainrule.state is not JSON"]),
    "frontends.onnx.importer:_Importer.__init__#2": (lambda: _init(_tp("", [1], [1.0])), ["initializer #0 has no name"]),
    "frontends.onnx.importer:_Importer.__init__#3": (lambda: _imp(_node("Add", ["x", "w"]), inits=[
        _tp("w", [1], [1.0]), _tp("w", [1], [2.0])]), ["two initializers are named 'w'"]),
    "frontends.onnx.importer:_Importer.__init__#4": (lambda: _imp(sparse_initializer=[__import__("onnx").helper.
        make_sparse_tensor(_tp("sw", [1], [1.0]), _tp("i", [1], dtype=7), [4])]), ["sparse initializer 'sw'"]),
    "frontends.onnx.importer:_Importer.__init__#5": (lambda: _imp(inputs=(("x", [2, 3]), ("x", [2, 3]))),
                                                   ["two graph inputs are named 'x'"]),
    "frontends.onnx.importer:_Importer.__init__#6": (lambda: _imp(static_inputs={"zz": np.ones(2)}),
                                                   ["static_inputs names no graph input: zz"]),
    "frontends.onnx.importer:_Importer.check_versions#1": (lambda: _imp(ir=99), ["ONNX IR version 99 is not supported"]),
    "frontends.onnx.importer:_Importer.check_versions#2": (lambda: _imp(opset=[__import__("onnx").helper.make_opsetid(
        "com.acme", 1)]), ["imports no default-domain (ai.onnx) opset"]),
    "frontends.onnx.importer:_Importer.check_versions#3": (lambda: _imp(opset=99), ["opset 99 is not supported"]),
    "frontends.onnx.importer:input_type#1": (lambda: _vi_input(__import__("onnx").helper.
        make_tensor_sequence_value_info("x", 1, None)), ["graph input 'x' is not a tensor"]),
    "frontends.onnx.importer:input_type#2": (lambda: _imp(inputs=(("x", None),)),
                                                     ["graph input 'x' has no shape"]),
    "frontends.onnx.importer:input_type#3": (lambda: _imp(inputs=(("x", [2, -3]),)),
                                                     ["graph input 'x': negative dimension -3"]),
    "frontends.onnx.importer:_Importer.check_declared#1": (lambda: _vi_input_init(),
                                                         ["graph input 'w' is declared INT64", "holds float32"]),
    "frontends.onnx.importer:check_meta_attrs#1": (lambda: _composite(op="LeakyRelu", attrs='{"alpha": "abc"}',
                                                                        inputs='["x"]', output="y"),
                                                    ["(Relu)", "attribute 'alpha' of LeakyRelu must be a number"]),
    "frontends.onnx.importer:_Importer.value#1": (lambda: _composite(op="Relu", inputs='["nope"]', output="y"),
                                                ["node 'n' (Relu)", "tensor 'nope' is not defined"]),
    "frontends.onnx.importer:_Importer.run#1": (lambda: _imp(_node("Relu", domain="com.acme")),
                                              ["node 'n' (Relu): domain 'com.acme' is not supported"]),
    "frontends.onnx.importer:_Importer.run#2": (lambda: _imp(_node("Frobnicate")),
                                              ["node 'n' (Frobnicate): op Frobnicate is not supported", "Relu"]),
    "frontends.onnx.importer:_Importer.run#3": (lambda: _imp(_node("Add", ["x", "x"]), opset=6),
                                              ["node 'n' (Add): Add of opset 6 is not supported", "from opset 7 on"]),
    "frontends.onnx.importer:_Importer.attrs_of#1": (lambda: _imp(_node("Relu", colour=3)),
                                                   ["node 'n' (Relu): unknown attribute 'colour'", "none"]),
    "frontends.onnx.importer:_Importer.attrs_of#2": (lambda: _attr(name="perm", ref_attr_name="p", type=7),
                                                   ["node 'n' (Transpose): attribute 'perm' refers to a function"]),
    "frontends.onnx.importer:_Importer.attrs_of#3": (_attr_unreadable,
                                                   ["node 'n' (Transpose): attribute 'perm' cannot be read"]),
    "frontends.onnx.importer:_Importer.attrs_of#4": (lambda: _imp(_node("LeakyRelu", alpha="big")),
                                                   ["node 'n' (LeakyRelu): attribute 'alpha' must be FLOAT, got STRING"]),
    "frontends.onnx.importer:_Importer.attrs_of#5": (lambda: _attr(name="perm", type=5, g=__import__("onnx").GraphProto()),
                                                   ["attribute 'perm' of type GRAPH is not supported"]),
    "frontends.onnx.importer:_Importer.apply#1": (lambda: _imp(_node("Relu", ["x", "x"])),
                                                ["node 'n' (Relu): takes 1 inputs, got 2"]),
    "frontends.onnx.importer:_Importer.apply#2": (lambda: _imp(_node("MatMul", ["x", "x"])),
                                                ["node 'n' (MatMul)", "f32[2,3]"]),
    "frontends.onnx.importer:_Importer.apply#3": (lambda: _imp(_node("ReduceSum", ["x", "a"]), inits=[_tp("a", [1], [np.nan])],
                                                                 allow_nonfinite=True),
                                                ["node 'n' (ReduceSum)", "NaN"]),
    "frontends.onnx.importer:_Importer.bind#1": (lambda: _imp(_node("Relu", outs=["y", "z"])),
                                               ["node 'n' (Relu): has 2 outputs, chainrule gives 1"]),
    "frontends.onnx.importer:_Importer.rename#1": (_rename_twice, ["tensor name 'y/flatten' is used twice"]),
    "frontends.onnx.importer:_Importer.composite#1": (lambda: _composite(op="Frob", output="y"),
                                                    ["node 'n' (Relu): metadata names chainrule op 'Frob'"]),
    "frontends.onnx.importer:_Importer.composite#2": (lambda: _composite(op="Relu", inputs="[x", output="y"),
                                                    ["node 'n' (Relu): bad chainrule metadata"]),
    "frontends.onnx.importer:_Importer.composite#3": (lambda: _composite(op="Relu", inputs='["x"]'),
                                                    ["node 'n' (Relu): bad chainrule metadata (inputs/output)"]),
    "frontends.onnx.importer:_Importer.composite#4": (lambda: _composite(op="Relu", inputs='["x", "x"]', output="y"),
                                                    ["node 'n' (Relu): Relu takes 1 input"]),
    "frontends.onnx.importer:_Importer.composite#5": (lambda: _composite(op="Relu", inputs='["x"]', output="y",
                                                                          outputs='["y", "p"]'),
                                                    ["node 'n' (Relu): chainrule metadata names 2 result(s) of Relu",
                                                     "the op makes 1"]),
    "frontends.onnx.importer:_Importer.finish#1": (lambda: _imp(_node("Relu", outs=["z"])),
                                                 ["graph output 'y' is produced by no node"]),
    "frontends.onnx.importer:_Importer.check_output#1": (lambda: _imp(_node("Cast", to=7)),
                                                       ["graph output 'y' is declared FLOAT but computes i64[2,3]"]),
    "frontends.onnx.importer:_Importer.check_output#2": (lambda: _imp(outputs=(("y", [6]),)),
                                                       ["graph output 'y' is declared with rank 1", "f32[2,3]"]),
    "frontends.onnx.importer:_Importer.check_output#3": (lambda: _imp(outputs=(("y", [2, 4]),)),
                                                       ["graph output 'y' is declared with shape [2,4]", "f32[2,3]"]),
    # -- ONNX export, onnxruntime backend, CLI -----------------------------------------------
    "frontends.onnx.exporter:_Exporter.emit#1": (_export_unknown_op, ["node frob: op Frob has no ONNX form",
                                                                     "frontends/onnx/ops/ has no export entry"]),
    "frontends.onnx.exporter:export_model#1": (lambda: cr.export_onnx(Graph("empty")), ["graph empty has no outputs"]),
    "frontends.onnx.exporter:export_model#2": (lambda: cr.export_onnx(cr.parse_graph(
        "graph g {\n  input %x: f32[2]\n  param %w: f32[2]\n  %y: f32[2] = Mul(%x, %w)\n  return %y\n}\n")),
        ["graph g: parameters without arrays", ": w"]),
    "frontends.onnx.exporter:export_model#3": (lambda: cr.export_onnx(cr.parse_graph(
        "graph g {\n  input %x: f32[2]\n  %y: i4[2] = Cast(%x) {to=i4}\n  return %y\n}\n")),
        ["graph g: %y is i4[2]", "from opset 21 on", "writes opset 18"]),
    "frontends.onnx.exporter:export_model#4": (_export_taken, ["graph g: cannot name the update of w 'w.next'",
                                                             "the name is taken"]),
    "frontends.onnx.backend:OrtExecutable.__init__#1": (lambda: _ort("missing"), ["needs the onnxruntime package"]),
    "frontends.cli.grad:run#1": (lambda: _grad_cli([], ()), ["m.onnx: the model has no outputs"]),
    "frontends.cli.grad:run#3": (lambda: _grad_cli([_node("MatMul", ["x", "W"]), _node("ReduceSum", ["y"], ["L"], keepdims=0)],
                                                        (("L", []),), [_tp("W", [3, 1], [1.0] * 3)], wrt=["V"]),
                                      ["--wrt V: not a float initializer of", "m.onnx", "(they are: W)"]),
    "frontends.cli.grad:run#4": (lambda: _grad_cli([_node("ReduceSum", ["x"], ["L"], keepdims=0)], (("L", []),)),
                                      ["m.onnx: no float initializers"]),
    # the elementwise ops and activations ONNX models use
    "ir.ops.activations:Celu.infer#1": (lambda: emit("Celu", T(2), alpha=0.0), ["Celu needs alpha ≠ 0"]),
    "ir.ops.activations:Gelu.infer#1": (lambda: emit("Gelu", T(2), approximate="erf"),
                                        ["Gelu's approximate must be 'none' or 'tanh'", "'erf'"]),
    "ir.ops.activations:PRelu.infer#1": (lambda: emit("PRelu", T(2, dt="bool"), T(2, dt="bool")),
                                         ["PRelu needs numeric operands", "bool[2]"]),
    "ir.ops.activations:PRelu.infer#2": (lambda: emit("PRelu", T(3), T(2, 3)),
                                         ["PRelu's slope f32[2,3] must broadcast to the input's shape f32[3]"]),
    "ir.ops.elementwise:NumericUnary.infer#1": (lambda: emit("Abs", T(2, dt="bool")),
                                                ["Abs needs a numeric operand", "bool[2]"]),
    "ir.ops.extrema:Clip.infer#1": (lambda: emit("Clip", T(3), T(2, 1), T()),
                                    ["Clip's min f32[2,1] must broadcast to the input's shape f32[3]"]),
    "ir.ops.extrema:_numeric#1": (lambda: emit("Max", T(2, dt="bool"), T(2, dt="bool")),
                                  ["Max needs numeric operands", "bool[2], bool[2]"]),
    "ir.ops.logic:Logical.infer#1": (lambda: emit("And", T(2, dt="bool"), T(2)), ["And needs bool operands", "f32[2]"]),
    "ir.ops.logic:Not.infer#1": (lambda: emit("Not", T(2, dt="i64")), ["Not needs a bool operand", "i64[2]"]),
    "ir.ops.rounding:Mod.infer#1": (lambda: emit("Mod", T(2), T(2), fmod=2), ["Mod's fmod must be 0 or 1, got 2"]),
    # -- shape, creation and normalisation ops of the ONNX breadth work ----------------------------
    "ir.ops.creation:ConstantOfShape.infer#1": (lambda: emit("ConstantOfShape", shape=(2, -1)),
                                                ["ConstantOfShape shape", "(2, -1)"]),
    "ir.ops.creation:scalar_of#1": (lambda: emit("ConstantOfShape", shape=(2,), value="one"),
                                    ["ConstantOfShape value must be a number", "'one'"]),
    "ir.ops.creation:scalar_of#2": (lambda: emit("ConstantOfShape", shape=(2,), value=1.5, dtype=DType.i64),
                                    ["ConstantOfShape value 1.5 is not a whole number", "i64"]),
    "ir.ops.creation:scalar_of#3": (lambda: emit("ConstantOfShape", shape=(2,), value=300, dtype=DType.u8),
                                    ["ConstantOfShape value 300 does not fit in u8"]),
    "ir.ops.creation:Range._bounds#1": (lambda: emit("Range", limit=3, dtype=DType.bool), ["Range needs a number dtype"]),
    "ir.ops.creation:Range._bounds#2": (lambda: emit("Range", limit=3, delta=0), ["Range delta must not be 0"]),
    "ir.ops.creation:Range._bounds#3": (lambda: emit("Range", start=0.0, limit=float("inf"), delta=1.0, dtype=F32),
                                        ["Range from 0.0 to inf by 1.0 has no finite length"]),
    "ir.ops.indexing:Split.infer#1": (lambda: emit("Split", T(4), split=(2, -2)), ["Split sizes", "(2, -2)"]),
    "ir.ops.indexing:Split.infer#2": (lambda: emit("Split", T(), split=(1,)), ["Split needs an operand of rank ≥ 1"]),
    "ir.ops.indexing:Split.infer#3": (lambda: emit("Split", T(2, 5), axis=1, split=(2, 2)),
                                      ["Split sizes (2, 2) add up to 4", "axis 1 of f32[2,5] has 5"]),
    "ir.ops.linalg:Trilu.infer#1": (lambda: emit("Trilu", T(3)), ["Trilu needs matrices", "f32[3]"]),
    "ir.ops.norm:LayerNormalization.infer#1": (lambda: emit("LayerNormalization", T(), T()),
                                               ["LayerNormalization needs an operand of rank ≥ 1", "f32[]"]),
    "ir.ops.norm:LayerNormalization.infer#2": (lambda: emit("LayerNormalization", T(2, 3), T(2, 2, 3)),
                                               ["LayerNormalization input 1 (scale)", "broadcast to f32[2,3]",
                                                "f32[2,2,3]"]),
    "ir.ops.pad:PadGrad.infer#1": (lambda: emit("PadGrad", T(4), pads=(1, 1), mode="constant"),
                                   ["PadGrad is the adjoint of the copying modes"]),
    "ir.ops.pad:PadGrad.infer#2": (lambda: emit("PadGrad", T("N"), pads=(1, 0)), ["PadGrad cannot un-pad the symbolic "
                                                                                 "axis N"]),
    "ir.ops.pad:PadGrad.infer#3": (lambda: emit("PadGrad", T(2), pads=(2, 1)), ["PadGrad (2, 1) does not fit",
                                                                               "length 2"]),
    "ir.ops.pad:_check_mode#1": (lambda: emit("Pad", T(3), pads=(1, 1), mode="mirror"),
                                 ["Pad mode must be one of constant, edge, reflect, wrap", "'mirror'"]),
    "ir.ops.pad:_check_mode#2": (lambda: emit("Pad", T(2), pads=(-2, 1), mode="edge"),
                                 ["Pad in edge mode cannot pad axis 0 of f32[2]", "no element is left"]),
    "ir.ops.shape:Tile.infer#1": (lambda: emit("Tile", T(2, 3), repeats=(2,)),
                                  ["Tile needs one repeat count ≥ 0 per axis of f32[2,3]", "(2,)"]),
    "ir.ops.shape:Tile.infer#2": (lambda: emit("Tile", T("N", 3), repeats=(2, 1)),
                                  ["Tile cannot repeat the symbolic axis N of f32[N,3]"]),
    "ir.ops.shape:Tile.vjp#1": (lambda: _tile_grad_of_two_symbols(), ["gradient of %tile (Tile)", "more than one symbolic"]),
    "frontends.python.functional:layer_norm#1": (lambda: _layer_norm_of((2, 5), 4),
                                                 ["layer_norm over [4] needs a tensor whose last axes are [4]", "[2,5]"]),
    "frontends.python.layers:LayerNorm.__init__#1": (lambda: cr.nn.LayerNorm((3, 0)),
                                                     ["LayerNorm normalized_shape must be a positive int", "(3, 0)"]),
    # import policies: non-finite initializers, integer data outside its type's range
    "frontends.onnx.importer:_Importer.check_finite#1": (lambda: _init(_tp("w", [3], [1.0, float("nan"), 2.0])),
                                                         ["initializer 'w'", "non-finite", "allow_nonfinite=True"]),
    "frontends.onnx.importer:in_range#1": (lambda: _init(__import__("onnx").TensorProto(
        name="w", data_type=__import__("onnx").TensorProto.UINT8, dims=[2], int32_data=[1, 300])),
        ["initializer 'w'", "holds 300 at index 1", "UINT8's range 0..255"]),
    "frontends.onnx.backend:OrtExecutable._run#1": (lambda: cr.compile(cr.parse_graph(
        "graph g {\n  input %i: i64[1]\n  param %w: f32[3]\n  %y: f32[1] = Gather(%w, %i)\n  return %y\n}\n",
        initializers={"w": np.zeros(3, np.float32)}), backend="onnxruntime")(np.array([7])),
        ["onnxruntime failed to run graph g"]),
    # ai.onnx.ml: string tensors (class labels) and the graph metadata that records them
    "frontends.onnx.importer:TensorReader.packed#1": (lambda: _imp(inits=[__import__("onnx").TensorProto(
        name="q", data_type=__import__("onnx").TensorProto.INT4, dims=[5], raw_data=b"\x01\x02")]),
        ["initializer 'q'", "INT4 data of dims [5] needs 3 bytes (2 values a byte), it has 2"]),
    "frontends.onnx.importer:TensorReader.strings#1": (lambda: _imp(inits=[__import__("onnx").TensorProto(
        name="s", data_type=__import__("onnx").TensorProto.STRING, dims=[3], string_data=[b"a", b"b"])]),
        ["initializer 's'", "needs 3 strings in string_data, it has 2"]),
    "frontends.onnx.importer:TensorReader.strings#2": (lambda: _imp(max_tensor_bytes=4, inits=[__import__("onnx").TensorProto(
        name="s", data_type=__import__("onnx").TensorProto.STRING, dims=[1], string_data=[b"abcdef"])]),
        ["initializer 's'", "6 bytes, over the limit of 4 bytes"]),
    "frontends.onnx.importer:_Importer.check_labels#1": (lambda: _imp(
        _node("LinearClassifier", ["x"], ["lab", "p"], domain="ai.onnx.ml", coefficients=[1.0] * 6,
              intercepts=[0.0, 0.0], classlabels_strings=["a", "b"]), _node("Add", ["lab", "lab"], ["y"], name="sum"),
        opset=[__import__("onnx").helper.make_opsetid("", 18), __import__("onnx").helper.make_opsetid("ai.onnx.ml", 1)]),
        ["node 'sum' (Add)", "input 'lab' holds string class labels", "['a', 'b']"]),
    "frontends.onnx.importer:_Importer.read_meta#1": (lambda: _model_meta(**{"chainrule.meta": "[1]"}),
                                                      ["model metadata chainrule.meta is not a JSON object"]),
    "frontends.onnx.importer:_Importer.read_meta#2": (lambda: _model_meta(**{"chainrule.meta": '{"": 1}'}),
                                                      ["model metadata chainrule.meta", "non-empty string"]),
    "ir.core:Graph.set_meta#1": (lambda: Graph("g").set_meta("", 1), ["graph 'g'", "non-empty string"]),
    "ir.core:Graph.set_meta#2": (lambda: Graph("g").set_meta("k", float("nan")),
                                 ["graph 'g'", "metadata 'k' must be a JSON value"]),
    "frontends.train.step:select_output#1": (lambda: cr.compile_train(cr.nn.Linear(2, 2), output="probs"),
                                             ["compile_train output 'probs'", "its outputs:"]),
}


def _tile_grad_of_two_symbols():
    b = cr.GraphBuilder("g")
    x = b.input("x", ("N", "M", 3))
    y = b.op("Tile", x * b.param("w", np.ones(1, np.float32)), repeats=(1, 1, 2), name="tile")
    cr.compile(b.build(y.sum()), pipeline="gradient")


def _layer_norm_of(shape, normalized_shape):
    b = cr.GraphBuilder("g")
    return cr.layer_norm(b.input("x", shape), normalized_shape)

#: Sites without an entry yet (written out when this table was made); may only shrink. Empty: every
#: raise site has an entry, and a new one must come with its entry in SITES.
PENDING: set = set()

_SITES = {s.key: s for s in raise_sites()}


def _raised_at(err, site) -> bool:
    """Whether ``err`` or an error it wraps (cause/context) was raised at ``site``."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        frames = traceback.extract_tb(err.__traceback__)
        if frames:
            last = frames[-1]
            if os.path.samefile(last.filename, site.path) and site.first <= last.lineno <= site.last:
                return True
        err = err.__cause__ or err.__context__
    return False


def test_every_raise_site_has_an_entry():
    missing = sorted(k for k in _SITES if k not in SITES and k not in PENDING)
    assert not missing, ("raise sites of ChainruleError types without an entry in SITES "
                         "(tests/test_error_sites.py): add a snippet that triggers each and the words its "
                         "message must contain:\n  " + "\n  ".join(missing))


def test_tables_name_only_existing_sites():
    stale = sorted(k for k in list(SITES) + sorted(PENDING) if k not in _SITES)
    assert not stale, f"SITES / PENDING name raise sites that no longer exist: {stale}"
    both = sorted(set(SITES) & PENDING)
    assert not both, f"sites both in SITES and PENDING (remove them from PENDING): {both}"


@pytest.mark.parametrize("key", sorted(SITES))
def test_error_message_names_what_is_wrong(key):
    if key not in _SITES:
        pytest.skip("stale entry (reported by test_tables_name_only_existing_sites)")
    trigger, words = SITES[key]
    with pytest.raises(ChainruleError) as info:
        trigger()
    msg = str(info.value)
    assert _raised_at(info.value, _SITES[key]), (
        f"{key}: the snippet raised {type(info.value).__name__} elsewhere: {msg}")
    for w in words:
        assert w in msg, f"{key}: message does not contain {w!r}:\n{msg}"
