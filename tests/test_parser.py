"""The text form: round-trip over every golden file, and parse errors with line and column."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import ParseError, parse_graph, print_graph, verify
from golden import golden_files, golden_path


def _read(name):
    with open(golden_path(name), encoding="utf-8") as f:
        return f.read()


def _graph_goldens():
    # *.diff goldens are pass-to-pass diff reports, not graphs; *.unscheduled ones are
    # graphs in a non def-before-use order, which the parser rejects (tested below).
    return [n for n in golden_files() if ".diff" not in n and "unscheduled" not in n]


def test_there_are_goldens_to_round_trip():
    assert len(_graph_goldens()) >= 8


def _graphs(text):
    """The graph texts of a golden file (some hold a before and an after graph), without
    the ``//`` comment lines (dump headers) that printing does not reproduce."""
    chunks = []
    for ln in text.splitlines(True):
        if ln.startswith("graph "):
            chunks.append("")
        if chunks and not ln.startswith("//"):
            chunks[-1] += ln
    return chunks


@pytest.mark.parametrize("name", _graph_goldens())
def test_round_trip_every_golden(name):
    chunks = _graphs(_read(name))
    assert chunks, f"golden {name} holds no graph"
    for text in chunks:
        g = parse_graph(text)
        assert print_graph(g) == text
        assert print_graph(parse_graph(print_graph(g))) == text
        if "infer_shapes.before" not in name:  # that one has stale types on purpose
            verify(g)


@pytest.mark.parametrize("name", [n for n in golden_files() if "unscheduled" in n])
def test_unscheduled_goldens_are_rejected_with_a_position(name):
    with pytest.raises(ParseError, match=r"line \d+, column \d+: %\w+ is used before it is defined"):
        parse_graph(_read(name))


def test_round_trip_of_attributes_meta_and_quoted_names():
    b = cr.GraphBuilder("odd name")
    x = b.input("x", ("N", 3))
    w = b.param("onnx::Gemm_0", np.array([[1.5, -2.0, 1e-30]], np.float32))
    y = b.op("Gemm", x, w, transB=1, alpha=0.1)
    z = cr.reduce_max(cr.leaky_relu(y, 0.2), axis=1, keepdims=True)
    h = cr.one_hot(cr.argmax(z, axis=0), 4, dtype="f64")
    k = b.constant(np.array([[True, False]]))
    g = b.build(z, h, k, cr.cast(z, "f16") * 3)
    loss = cr.reduce_sum(z)
    cr.backward(g, [loss.value], [g.param("onnx::Gemm_0")])
    text = print_graph(g)
    assert '%"onnx::Gemm_0"' in text and "graph \"odd name\"" in text and "dense<bool[1,2]>" in text
    assert print_graph(parse_graph(text)) == text


def _err(text):
    with pytest.raises(ParseError) as info:
        parse_graph(text)
    return str(info.value)


HEAD = "graph g {\n  input %x: f32[2]\n"


@pytest.mark.parametrize("line,where,what", [
    ("  %y: f32[2] = Frobnicate(%x)", "line 3, column 16", "unknown op 'Frobnicate'"),
    ("  %y: f33[2] = Exp(%x)", "line 3, column 7", "unknown dtype 'f33'"),
    ("  %y: f32[2] = Exp(%q)", "line 3, column 20", "%q is used before it is defined"),
    ("  %y: f32[2] = Exp(%x) $", "line 3, column 24", "unexpected character '$'"),
    ("  %y: f32[2] = Exp(%x, %x)", "line 3, column 3", "Exp takes 1 inputs, got 2"),
    ("  %x: f32[2] = Exp(%x)", "line 3, column 3", "%x is defined twice"),
    ("  %y: f32[2] = Exp(%x) {bogus=1}", "line 3, column 3", "Exp has no attribute 'bogus'"),
    ("  %y: f32[2] = ReduceSum(%x) {axes=[0,}", "line 3, column 39", "expected an attribute value"),
    ("  %y: f32[2] = Exp(%x) #[color=red]", "line 3, column 26", "unknown metadata key 'color'"),
    ("  %y: f32[2,] = Exp(%x)", "line 3, column 13", "expected a dimension"),
    ("  %y, %z: f32[2] = Exp(%x)", "line 3, column 5", "expected ':'"),
    ("  %c: f32[2] = Constant() {value=dense<f32[3]>[1.0, 2.0]}", "line 3, column 34",
     "dense data has shape [2], its type says f32[3]"),
    ("  input %x: f32[3]", "line 3, column 3", "%x is defined twice"),
])
def test_parse_errors_give_line_and_column(line, where, what):
    msg = _err(HEAD + line + "\n  return %x\n}\n")
    assert msg.startswith(where + ": "), msg
    assert what in msg, msg
    assert line.strip() in msg  # the offending line is shown, with a caret under the column
    col = int(where.split("column ")[1])
    caret = [ln for ln in msg.splitlines() if ln.strip() == "^"][0]
    assert caret.index("^") == col + 1


def test_graph_structure_errors():
    assert "empty IR text" in _err("\n\n")
    assert "line 1, column 1: expected 'graph'" in _err("grph g {\n}\n")
    assert "missing closing '}'" in _err(HEAD + "  return %x\n")
    assert "line 5, column 1: text after the closing '}'" in _err(HEAD + "  return %x\n}\nextra\n")
    assert "must be a str" in str(pytest.raises(ParseError, parse_graph, b"graph").value)


def test_undefined_output_or_update_names_the_line():
    msg = _err(HEAD + "  return %y\n}\n")
    assert msg.startswith("line 3, column 10: ") and "output %y is not defined" in msg
    msg = _err("graph g {\n  param %p: f32[2]\n  return %p\n  update %p <- %zz\n}\n")
    assert msg.startswith("line 4, column 16: ") and "update value %zz is not defined" in msg
    msg = _err(HEAD + "  return %x\n  update %x <- %x\n}\n")
    assert msg.startswith("line 4, column 10: ") and "%x is a graph input, not a parameter" in msg


def test_initializers_attach_to_parameters_only():
    g = parse_graph("graph g {\n  input %x: f32[2]\n  param %w: f32[2]\n  %y: f32[2] = Mul(%x, %w)\n"
                    "  return %y\n}\n", initializers={"w": np.ones(2, np.float32), "x": np.ones(2)})
    assert list(g.initializers) == ["w"]


def test_round_trip_of_a_graph_name_with_a_leading_digit_and_an_empty_tensor():
    import numpy as np
    from chainrule.ir import Emitter, Graph, TensorType
    g = Graph("2layer")
    x = g.add_input("x", TensorType((0, 2), "f32"))
    e = Emitter(g)
    g.set_outputs([e.Add(x, e.const(np.zeros((0, 2), np.float32)))])
    text = print_graph(g)
    assert text.startswith('graph "2layer" {')
    assert print_graph(parse_graph(text)) == text


@pytest.mark.parametrize("dt, lo, hi", [("i16", -2 ** 15, 2 ** 15 - 1), ("u16", 0, 2 ** 16 - 1),
                                        ("u32", 0, 2 ** 32 - 1), ("u64", 0, 2 ** 64 - 1)])
def test_round_trip_of_the_16_32_and_64_bit_integer_types(dt, lo, hi):
    """i16, u16, u32 and u64 print and parse with their extreme values exact; one past the range is
    a parse error naming the data, not a wrapped number."""
    text = (f"graph g {{\n  input %x: {dt}[3]\n  %c: {dt}[3] = Constant() {{value=dense<{dt}[3]>[{lo}, {hi}, 7]}}\n"
            f"  %y: {dt}[3] = Add(%x, %c)\n  return %y\n}}\n")
    g = parse_graph(text)
    assert print_graph(g) == text
    assert g.nodes[0].attrs["value"].dtype == cr.DType[dt].numpy
    assert g.nodes[0].attrs["value"].tolist() == [lo, hi, 7]
    assert "bad dense data" in _err(text.replace(str(hi), str(hi + 1)))
