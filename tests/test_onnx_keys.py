"""Graph inputs that set shapes are specialisation keys: the model is built per value at call
time, the compiled forms are cached (bounded, least recently used first), and values are checked.

The models here are the shape-setting operands ONNX feeds as inputs: a Reshape target, reduction
axes, Slice's four bounds, a OneHot depth, Dropout's training mode, an Expand target.
"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.onnx.keys import MAX_KEY_ELEMENTS, KeyedModel
from chainrule.ir.errors import ChainruleError, InputError, ResourceError
from chainrule.runtime import set_memory_limit
from chainrule.runtime.specialize import MAX_SPECIALIZATIONS, Specializations

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(nodes, inputs, outputs, inits=(), opset=18):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                          initializer=[numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def reshape_model():
    return model([helper.make_node("Reshape", ["data", "shape"], ["y"], name="reshape")],
                 [("data", F, [2, 3, 4]), ("shape", I64, [2])], [("y", F, None)])


X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def test_a_reshape_target_fed_as_an_input_is_a_key():
    m = cr.import_onnx(reshape_model())
    assert isinstance(m, KeyedModel) and m.keys == ["shape"] and m.input_names == ["data", "shape"]
    assert "node 'reshape' (Reshape)" in m.uses["shape"]
    g = m.specialize({"shape": np.array([3, 8])})
    text = cr.print_graph(g)
    assert "  input %shape: i64[2] key [3, 8]\n" in text and "Reshape(%data) {shape=[3, 8]}" in text
    cr.verify(g)
    assert cr.print_graph(cr.parse_graph(text)) == text and cr.parse_graph(text).keys["shape"].tolist() == [3, 8]


def test_each_value_compiles_once_and_the_cache_is_bounded():
    exe = cr.compile(cr.import_onnx(reshape_model()), max_specializations=2)
    made = []
    compile_graph = exe.compile_graph
    exe.compile_graph = lambda g: made.append(g.keys["shape"].tolist()) or compile_graph(g)
    for target in ([3, 8], [4, 6], [3, 8], [3, 8], [24, 1], [4, 6]):
        np.testing.assert_array_equal(exe(X, np.array(target)), X.reshape(target))
    # [3, 8] and [4, 6] compile; the repeats of [3, 8] do not; [24, 1] drops [4, 6], which compiles again
    assert made == [[3, 8], [4, 6], [24, 1], [4, 6]]
    assert len(exe.specializations) == 2 and exe.specializations.evictions == 2
    assert exe.graph.keys["shape"].tolist() == [4, 6]
    assert MAX_SPECIALIZATIONS == cr.compile(cr.import_onnx(reshape_model())).specializations.maxsize


def test_feeding_by_name_and_onnxruntime_agree():
    ort = pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
    sess = ort.InferenceSession(reshape_model().SerializeToString(), providers=["CPUExecutionProvider"])
    for backend in ("numpy", "onnxruntime"):
        exe = cr.compile(cr.import_onnx(reshape_model()), backend=backend)
        for target in ([6, 4], [2, 12]):
            feeds = {"data": X, "shape": np.array(target)}
            np.testing.assert_array_equal(exe.run(feeds)["y"], sess.run(None, feeds)[0])


def test_a_key_value_is_checked_and_the_error_names_the_input():
    exe = cr.compile(cr.import_onnx(reshape_model()))
    for bad, words in [(np.array([3, 8], np.int32), "must have dtype int64"),
                       (np.array([[3, 8]]), "must have type i64[2], got shape [1, 2]"),
                       (np.array([3, 9]), "%shape = [3, 9]"),
                       (np.array([-3, 8]), "%shape = [-3, 8]"),
                       (["a", "b"], "must have dtype int64")]:
        with pytest.raises(InputError) as info:
            exe(X, bad)
        assert "%shape" in str(info.value) and words in str(info.value), str(info.value)
    with pytest.raises(InputError, match="takes 2 input"):
        exe(X)
    with pytest.raises(InputError, match="give a value for shape"):
        cr.import_onnx(reshape_model()).specialize({"data": X})


def test_a_float_key_must_be_finite_and_a_key_small():
    m = model([helper.make_node("Dropout", ["x", "ratio", "training"], ["y"])],
              [("x", F, [4, 5]), ("ratio", F, []), ("training", TensorProto.BOOL, [])], [("y", F, None)])
    exe = cr.compile(cr.import_onnx(m))
    with pytest.raises(InputError, match=r"%ratio \(a specialisation key\) = nan is not finite"):
        exe(np.ones((4, 5), np.float32), np.float32("nan"), np.array(True))
    big = model([helper.make_node("Reshape", ["data", "shape"], ["y"])],
                [("data", F, [2, 3, 4]), ("shape", I64, [MAX_KEY_ELEMENTS + 1])], [("y", F, None)])
    with pytest.raises(ChainruleError, match="a specialisation key holds at most 256 numbers"):
        cr.import_onnx(big)
    sym = model([helper.make_node("Reshape", ["data", "shape"], ["y"])],
                [("data", F, [2, 3, 4]), ("shape", I64, ["k"])], [("y", F, None)])
    with pytest.raises(InputError, match="a key holds at most 256 numbers; it has 300"):
        cr.import_onnx(sym).specialize({"shape": np.ones(300, np.int64)})


def test_training_mode_fed_as_an_input_switches_dropout():
    m = model([helper.make_node("Dropout", ["x", "ratio", "training"], ["y", "mask"])],
              [("x", F, [40, 50]), ("ratio", F, []), ("training", TensorProto.BOOL, [])],
              [("y", F, None), ("mask", TensorProto.BOOL, None)])
    exe = cr.compile(cr.import_onnx(m))
    x = np.ones((40, 50), np.float32)
    y, mask = exe(x, np.float32(0.5), np.array(False))
    assert np.array_equal(y, x) and mask.all()
    y, mask = exe(x, np.float32(0.5), np.array(True))
    assert 0.4 < mask.mean() < 0.6 and np.array_equal(y, np.where(mask, 2 * x, 0))
    assert sorted(exe.model.keys) == ["ratio", "training"] and len(exe.specializations) == 2


def test_keys_are_found_as_the_import_meets_them():
    """Slice reads starts first: import finds that key; the first specialisation finds the other three."""
    names = ["starts", "ends", "axes", "steps"]
    m = model([helper.make_node("Slice", ["x"] + names, ["y"])],
              [("x", F, [6, 8])] + [(n, I64, [1]) for n in names], [("y", F, None)])
    keyed = cr.import_onnx(m)
    assert keyed.keys == ["starts"]
    exe = cr.compile(keyed)
    x = np.arange(48, dtype=np.float32).reshape(6, 8)
    bounds = [np.array([v]) for v in (1, 7, 1, 2)]
    np.testing.assert_array_equal(exe(x, *bounds), x[:, 1:7:2])
    assert keyed.keys == names
    bounds[2] = np.array([0])
    np.testing.assert_array_equal(exe(x, *bounds), x[1:6:2])


def test_a_key_computed_from_an_input_folds():
    """Reshape(x, Add(delta, base)): the target is computed from the input %delta alone."""
    m = model([helper.make_node("Add", ["delta", "base"], ["target"]),
               helper.make_node("Reshape", ["x", "target"], ["y"])],
              [("x", F, [2, 3, 4]), ("delta", I64, [2])], [("y", F, None)],
              inits=[("base", np.array([1, 1], np.int64))])
    exe = cr.compile(cr.import_onnx(m))
    assert exe(X, np.array([2, 7])).shape == (3, 8)
    assert exe.model.keys == ["delta"] and "Reshape(%x) {shape=[3, 8]}" in str(exe.graph)


def test_axes_and_depth_fed_as_inputs():
    m = model([helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),
               helper.make_node("OneHot", ["i", "depth", "values"], ["h"])],
              [("x", F, [2, 3, 4]), ("axes", I64, [1]), ("i", I64, [3]), ("depth", I64, []), ("values", F, [2])],
              [("s", F, None), ("h", F, None)])
    exe = cr.compile(cr.import_onnx(m))
    i, off_on = np.array([0, 2, 1]), np.array([0.0, 1.0], np.float32)
    s, h = exe(X, np.array([1]), i, np.array(3), off_on)
    np.testing.assert_allclose(s, X.sum(axis=1))
    np.testing.assert_array_equal(h, np.eye(3, dtype=np.float32)[i])
    s, h = exe(X, np.array([-1]), i, np.array(5), off_on)
    assert s.shape == (2, 3) and h.shape == (3, 5)
    with pytest.raises(InputError, match=r"%axes = \[3\].*out of range"):
        exe(X, np.array([3]), i, np.array(3), off_on)


def test_a_size_a_key_asks_for_is_checked_before_allocation():
    m = model([helper.make_node("Expand", ["x", "shape"], ["y"])],
              [("x", F, [1, 1]), ("shape", I64, [2])], [("y", F, None)])
    exe = cr.compile(cr.import_onnx(m))
    assert exe(np.ones((1, 1), np.float32), np.array([2, 3])).shape == (2, 3)
    with pytest.raises(InputError, match=r"%shape = \[100000, 100000\].*over max_tensor_bytes"):
        exe(np.ones((1, 1), np.float32), np.array([100000, 100000]))
    # a size that depends on the batch too: refused by the executor before its buffers are allocated
    onehot = model([helper.make_node("OneHot", ["i", "depth", "values"], ["h"])],
                   [("i", I64, ["N"]), ("depth", I64, []), ("values", F, [2])], [("h", F, None)])
    exe = cr.compile(cr.import_onnx(onehot))
    set_memory_limit("64M")
    try:
        with pytest.raises(ResourceError, match="over the memory limit"):
            exe(np.zeros(1000, np.int64), np.array(100_000), np.array([0.0, 1.0], np.float32))
    finally:
        set_memory_limit(None)


def test_a_graph_built_for_one_value_refuses_another():
    """Also on the executor's warm path, where the shapes are the same as the compiled ones."""
    g = cr.import_onnx(reshape_model()).specialize({"shape": np.array([3, 8])})
    for executor in ("interpreter", "sequential", "dataflow"):
        exe = cr.compile(g, executor=executor)
        exe(X, np.array([3, 8]))
        with pytest.raises(InputError, match=r"built for %shape = \[3, 8\], got \[8, 3\]"):
            exe(X, np.array([8, 3]))
    with pytest.raises(InputError, match="specialisation key"):
        cr.Interpreter(g).run_list([X, np.array([4, 6])])


def test_parameters_are_shared_by_every_specialisation():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = model([helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])],
              [("x", F, [4, 2]), ("shape", I64, [2])], [("y", F, None)], inits=[("w", w)])
    keyed = cr.import_onnx(m)
    g1, g2 = keyed.specialize({"shape": np.array([4, 2])}), keyed.specialize({"shape": np.array([-1, 2])})
    assert g1.initializers["w"] is g2.initializers["w"] is keyed.params["w"]
    exe = cr.compile(keyed, executor="interpreter")
    x = np.ones((4, 2), np.float32)
    np.testing.assert_allclose(exe(x, np.array([-1, 2])), x @ w)
    keyed.params["w"][...] = 0  # e.g. a training step writing into the parameters
    assert not exe(x, np.array([4, 2])).any() and not exe(x, np.array([-1, 2])).any()


def test_one_graph_actions_say_how_to_pick_a_specialisation():
    keyed = cr.import_onnx(reshape_model())
    for action in (lambda: cr.compile_train(keyed), lambda: cr.export_onnx(keyed)):
        with pytest.raises(ChainruleError, match=r"specialises on the values of input\(s\) %shape.*specialize"):
            action()


def test_the_executors_keep_a_bounded_number_of_batch_sizes():
    g = cr.parse_graph("graph g {\n  input %x: f32[N,3]\n  %y: f32[N,3] = Relu(%x)\n  return %y\n}\n")
    exe = cr.compile(g)
    for n in range(1, MAX_SPECIALIZATIONS + 6):
        exe(np.ones((n, 3), np.float32))
    runner = exe.runner
    assert len(runner._by_shape) == len(runner.plans) == len(runner._fns) == MAX_SPECIALIZATIONS
    assert runner._by_shape.evictions == 5 and (1,) not in runner.plans
    exe(np.ones((1, 3), np.float32))  # dropped, so planned again
    assert (1,) in runner.plans


def test_specializations_drop_the_least_recently_used():
    dropped = []
    cache = Specializations(maxsize=2, on_evict=lambda k, v: dropped.append(k))
    cache.add("a", 1)
    cache.add("b", 2)
    assert cache.use("a") == 1 and cache.use("zz") is None
    cache.add("c", 3)
    assert list(cache) == ["a", "c"] and dropped == ["b"] and cache.evictions == 1


def test_chainrule_run_specialises_on_the_inputs(tmp_path):
    from chainrule.frontends.cli.main import main
    path = str(tmp_path / "reshape.onnx")
    with open(path, "wb") as f:
        f.write(reshape_model().SerializeToString())
    np.savez(tmp_path / "in.npz", data=X, shape=np.array([6, 4]))
    assert main(["run", path, "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "out.npz")["y"], X.reshape(6, 4))
    np.savez(tmp_path / "bad.npz", data=X, shape=np.array([5, 4]))
    with pytest.raises(ChainruleError, match=r"bad.npz: input %shape = \[5, 4\]"):
        main(["--debug", "run", path, "--inputs", str(tmp_path / "bad.npz"), "--output", str(tmp_path / "o2.npz")])


def test_huge_key_values_are_refused_before_allocation():
    """Every ONNX node case with keys, its integer keys scaled up or set to a third of their type's
    range: each call gives an answer or a ChainruleError, within the memory limit (RSS bounded)."""
    import resource
    from test_onnx_node import CASES, _arr
    set_memory_limit("256M")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tried = 0
    try:
        for c in CASES:
            try:
                keyed = cr.import_onnx(c.model)
            except ChainruleError:
                continue
            if not isinstance(keyed, KeyedModel):
                continue
            ins = [_arr(a) for a in c.data_sets[0][0]]
            exe = cr.compile(keyed)
            try:
                with np.errstate(all="ignore"):
                    exe(*ins)  # finds every key
            except ChainruleError:
                continue
            for k in keyed.keys:
                i = keyed.input_names.index(k)
                if ins[i].dtype.kind not in "iu":
                    continue
                info = np.iinfo(ins[i].dtype)
                for big in (ins[i] * 1000003, np.full_like(ins[i], info.max // 3), np.full_like(ins[i], info.min // 3)):
                    tried += 1
                    try:
                        with np.errstate(all="ignore"):
                            exe(*ins[:i], big, *ins[i + 1:])
                    except ChainruleError:
                        pass
    finally:
        set_memory_limit(None)
    assert tried > 100
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 * 1024  # KiB


def test_a_keyed_model_profiles_the_specialisation_of_its_key_values(tmp_path):
    """``profile`` takes inputs as ``run`` does (a dict by name, or a list) and times the form compiled
    for the keys' values; a wrong set of names gets ``run``'s error."""
    from chainrule.runtime.profile import chrome_trace
    exe = cr.compile(cr.import_onnx(reshape_model()))
    by_name = exe.profile({"data": X, "shape": np.array([3, 8])}, str(tmp_path / "t.json"))
    assert [e.op for e in by_name] == ["Reshape"] and exe.graph.keys["shape"].tolist() == [3, 8]
    assert chrome_trace(by_name, "m")["traceEvents"] and (tmp_path / "t.json").stat().st_size > 0
    listed = exe.profile([X, np.array([4, 6])])
    assert [e.op for e in listed] == ["Reshape"] and exe.graph.keys["shape"].tolist() == [4, 6]
    with pytest.raises(InputError, match="data"):
        exe.profile({"nonsense": X})
