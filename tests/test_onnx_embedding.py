"""An embedding trained through ONNX ``Gather``: its gradient is ``ScatterAddLike`` (rows of ȳ
added at the picked rows), which exports as ``ScatterND(..., reduction="add")``."""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import chainrule as cr
from chainrule.frontends.onnx.exporter import export_model
from chainrule.ir import DType, Emitter, Graph, TensorType
from chainrule.passes import backward
from chainrule.runtime import Interpreter

VOCAB, DIM, SEQ, CLASSES = 10, 4, 3, 2


def _session(m):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def _embedding_model(rng):
    """nn.Embedding -> flatten -> nn.Linear as torch.onnx writes it: Gather on the weight
    initializer, Flatten, Gemm(transB=1); ids of shape [batch, 3] with a symbolic batch."""
    emb = rng.standard_normal((VOCAB, DIM)).astype(np.float32)
    w = (0.3 * rng.standard_normal((CLASSES, SEQ * DIM))).astype(np.float32)
    b = np.zeros(CLASSES, np.float32)
    nodes = [helper.make_node("Gather", ["emb.weight", "ids"], ["/emb/Gather_output_0"], name="/emb/Gather"),
             helper.make_node("Flatten", ["/emb/Gather_output_0"], ["/Flatten_output_0"], name="/Flatten", axis=1),
             helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm",
                              alpha=1.0, beta=1.0, transB=1)]
    g = helper.make_graph(nodes, "main_graph",
                          [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", SEQ])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
                          initializer=[numpy_helper.from_array(a, n) for a, n in
                                       ((emb, "emb.weight"), (w, "fc.weight"), (b, "fc.bias"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def _data(rng, n=32):
    ids = rng.integers(0, VOCAB - 2, (n, SEQ))  # the last two rows of the table are never used
    t = (ids[:, 0] % 2).astype(np.int64)  # the class is the parity of the first token
    return ids, t


def test_imported_embedding_runs_and_trains(rng):
    m = _embedding_model(rng)
    g = cr.import_onnx(m)
    ids, t = _data(rng)
    got = cr.compile(g)(ids)
    want = _session(m).run(None, {"ids": ids})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    e0 = np.array(g.initializers["emb.weight"])
    step = cr.compile_train(g, loss="cross_entropy", optimizer=cr.optim.SGD(lr=0.5))
    assert any(n.op.name == "ScatterAddLike" for n in step.graph.nodes)
    losses = [step(ids, t) for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]
    e1 = step.params["emb.weight"]
    assert not np.allclose(e1[:VOCAB - 2], e0[:VOCAB - 2])  # the embedding itself learned
    np.testing.assert_array_equal(e1[VOCAB - 2:], e0[VOCAB - 2:])  # rows no id picked get no gradient


def test_embedding_gradient_adds_repeated_rows():
    """ids picking row 1 twice: its gradient is the sum of both ȳ rows (finite differences agree)."""
    g = Graph("emb")
    w = g.add_param("w", np.arange(12, dtype=np.float64).reshape(4, 3) / 10)
    ids = g.add_input("ids", TensorType((3,), DType.i64))
    e = Emitter(g)
    y = e.Gather(w, ids)
    loss = e.ReduceSum(e.Mul(y, e.const(np.array([[1.0], [2.0], [3.0]]), DType.f64)), axes=None, keepdims=0)
    gw, = backward(g, [loss], [w])
    g.set_outputs([loss, gw])
    _, grad = Interpreter(g).run_list([np.array([1, 3, 1])])
    np.testing.assert_allclose(grad, [[0, 0, 0], [4, 4, 4], [0, 0, 0], [2, 2, 2]])


def test_embedding_training_step_runs_in_onnxruntime(rng):
    """The whole training step, ScatterAddLike included, exported and run by onnxruntime."""
    g = cr.import_onnx(_embedding_model(rng))
    step = cr.compile_train(g, loss="cross_entropy", optimizer=cr.optim.SGD(lr=0.5))
    m = export_model(step)
    onnx.checker.check_model(m, full_check=True)
    assert "ScatterND" in {n.op_type for n in m.graph.node}
    names = [o.name for o in m.graph.output]
    sess = _session(m)
    state = {p.name: np.array(step.graph.initializers[p.name]) for p in step.graph.params}
    for _ in range(3):
        ids, t = _data(rng, 8)
        outs = dict(zip(names, sess.run(None, {"ids": ids, "t": t, **state})))
        np.testing.assert_allclose(outs["loss"], step(ids, t), rtol=1e-5)
        state.update({p.name: outs[p.name + ".next"] for p, _ in step.graph.updates})  # %lr: no schedule, no update
    for p, v in state.items():
        np.testing.assert_allclose(v, step.graph.initializers[p], rtol=1e-5, atol=1e-7)
    # and back: ONNX -> chainrule gives the same training step
    assert str(cr.import_onnx(m)) == str(step.graph)
