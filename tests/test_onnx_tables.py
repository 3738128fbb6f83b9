"""The ONNX family tables (``frontends/onnx/ops/``) against the op registry and ONNX's own schemas.

Every registered IR op has exactly one export entry and every entry names a registered op;
an export function's keyword parameters are its op's attributes; an import function is named
after a real ONNX op and accepts only attributes that op has (in some opset); and an IR op
exported untagged as one ONNX op can be read back by an import function, so the round trip
never depends on metadata it did not write. A throwaway op added the way docs/new-op.md says
(one class, one table entry) compiles, differentiates, exports and imports.
"""
import inspect

import numpy as np
import onnx
import onnx.defs
import onnxruntime as ort
import pytest

import chainrule as cr
from chainrule.frontends.onnx.ops import EXPORTS, IMPORTS, export_op
from chainrule.frontends.onnx.ops.table import DEFAULT_SINCE, same_op
from chainrule.ir.ops import OPS, register
from chainrule.ir.ops.elementwise import Unary

#: Attribute names of each default-domain ONNX op, over all its opset versions.
SCHEMA_ATTRS = {}
for _s in onnx.defs.get_all_schemas_with_history():
    if _s.domain in ("", "ai.onnx"):
        SCHEMA_ATTRS.setdefault(_s.name, set()).update(_s.attributes)


def _keywords(fn):
    return {k for k, p in inspect.signature(fn).parameters.items() if p.kind == p.KEYWORD_ONLY}


def test_every_registry_op_has_an_export_entry():
    missing = [name for name in OPS if name not in EXPORTS]
    assert not missing, f"add an export entry (frontends/onnx/ops/<family>.py) for: {', '.join(missing)}"


def test_every_export_entry_names_a_registered_op():
    stale = [name for name in EXPORTS if name not in OPS]
    assert not stale, f"export entries for ops that are not registered: {', '.join(stale)}"


def test_the_tables_mirror_the_op_families():
    wrong = [f"{name} (in {e.fn.__module__}, op family {OPS[name].family})" for name, e in EXPORTS.items()
             if e.fn is not same_op and e.fn.__module__.rsplit(".", 1)[-1] != OPS[name].family]
    assert not wrong, "export functions outside their op's family table: " + ", ".join(wrong)


@pytest.mark.parametrize("name", list(EXPORTS))
def test_export_entry_fits_its_op_and_onnx(name):
    e, op = EXPORTS[name], OPS[name]
    if e.onnx is not None:
        assert e.onnx in SCHEMA_ATTRS, f"{name} exports as {e.onnx}, which is not an ONNX op"
    if e.fn is same_op:  # attributes carry over: the ONNX op (at the export opset) must have them all
        have = set(onnx.defs.get_schema(e.onnx, 18).attributes)
        assert set(op.attrs) <= have, f"{name}: ONNX {e.onnx} lacks attributes {set(op.attrs) - have}"
    else:
        assert _keywords(e.fn) == set(op.attrs), \
            f"{name}: the export function takes {sorted(_keywords(e.fn))}, the op has {sorted(op.attrs)}"


@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_import_function_fits_the_onnx_schema(name):
    assert name in SCHEMA_ATTRS, f"import function {name} names no ONNX op"
    extra = _keywords(IMPORTS[name]) - SCHEMA_ATTRS[name]
    assert not extra, f"{name}'s import function takes attributes ONNX {name} never had: {sorted(extra)}"


def _schema_at(op, opset):
    try:
        return onnx.defs.get_schema(op, opset)
    except onnx.defs.SchemaError:
        return None


def _attr_defaults(schema):
    return {k: (a.type, a.default_value.SerializeToString()) for k, a in schema.attributes.items()}


@pytest.mark.parametrize("name", sorted(n for n, f in IMPORTS.items() if f.since < DEFAULT_SINCE))
def test_an_import_function_reads_the_opsets_before_7_it_claims(name):
    """An import function with ``since`` below 7 reads every version of its op in force from that
    opset to 7: the same version as at 7 (the op did not change), or, where the version in force
    at 7 is opset 6's (the release that removed the legacy attribute ``consumed_inputs`` from
    every op), an older one that differs from it only by ``consumed_inputs`` (same inputs,
    outputs, attribute types and defaults). The function's signature does not name
    ``consumed_inputs``, so a file that sets it is refused, not misread."""
    fn = IMPORTS[name]
    later = _schema_at(name, DEFAULT_SINCE)
    for opset in range(fn.since, DEFAULT_SINCE):
        older = _schema_at(name, opset)
        assert older is not None, f"{name} does not exist at opset {opset}, but since={fn.since}"
        if older.since_version == later.since_version:
            continue
        a, b = _attr_defaults(older), _attr_defaults(later)
        a.pop("consumed_inputs", None)
        assert later.since_version == 6 and a == b, (
            f"{name}-{older.since_version} (in force at opset {opset}) is not {name}-{later.since_version} less "
            f"consumed_inputs (attributes {sorted(set(a) ^ set(b))} differ, or their types or defaults); "
            f"since={fn.since} is too early")
        assert [i.name for i in older.inputs] == [i.name for i in later.inputs], f"{name}: inputs changed"
        assert [o.name for o in older.outputs] == [o.name for o in later.outputs], f"{name}: outputs changed"
        assert "consumed_inputs" not in _keywords(fn)


def test_an_op_of_an_older_opset_imports_if_its_function_reads_that_opset():
    """Not has one definition since opset 1; Add took broadcast attributes before opset 7."""
    from onnx import TensorProto, helper

    def model(op, opset, dtype=TensorProto.FLOAT):
        g = helper.make_graph([helper.make_node(op, ["x"] * (2 if op == "Add" else 1), ["y"], name="n")], "g",
                              [helper.make_tensor_value_info("x", dtype, [2])],
                              [helper.make_tensor_value_info("y", dtype, [2])])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=3)
    exe = cr.compile(cr.import_onnx(model("Not", 1, TensorProto.BOOL)))
    assert exe(np.array([True, False])).tolist() == [False, True]
    with pytest.raises(cr.ChainruleError, match=r"node 'n' \(Add\): Add of opset 6 is not supported: chainrule "
                                                r"reads Add as ONNX defines it from opset 7 on"):
        cr.import_onnx(model("Add", 6))
    with pytest.raises(cr.ChainruleError, match="unknown attribute 'consumed_inputs'"):
        m = model("Relu", 5)
        m.graph.node[0].attribute.append(helper.make_attribute("consumed_inputs", [0]))
        cr.import_onnx(m)


def test_an_untagged_export_can_be_imported():
    """Nodes without chainrule.op metadata are read back by the import table alone."""
    lost = [f"{n} (as {e.onnx})" for n, e in EXPORTS.items() if not e.composite and e.onnx not in IMPORTS]
    assert not lost, "exported untagged but not importable: " + ", ".join(lost)


def test_a_sub_graph_export_is_tagged():
    untagged = [n for n, e in EXPORTS.items() if e.onnx is None and not e.composite]
    assert not untagged, f"sub-graph exports must be tagged with chainrule.op: {untagged}"


def test_registering_an_op_twice_is_refused():
    with pytest.raises(ValueError, match="Relu has two export functions"):
        export_op("Relu")(lambda ex, n, x: None)


def test_a_throwaway_op_with_one_class_and_one_table_entry_goes_everywhere():
    """One class and one export entry: it compiles, differentiates, exports (checker and
    onnxruntime agree) and imports back as the same IR text."""

    @register
    class Cube(Unary):
        """y = z³"""
        rule = "z̄ = 3 ȳ ∘ z²"

        def kernel(self, attrs):
            return lambda z: z * z * z

        def vjp(self, e, node, gys):
            z = node.inputs[0]
            return [e.Mul(gys[0], e.Mul(e.scalar_like(3, z), e.Mul(z, z)))]

    @export_op("Cube")  # ONNX has no Cube: Mul(Mul(z, z), z)
    def _cube(ex, n, z):
        ex.make("Mul", [ex.make("Mul", [z, z]), z], ex.out)

    try:
        b = cr.GraphBuilder("cube")
        x = b.input("x", ("N", 3))
        w = b.param("w", np.array([[0.5, -1.0, 2.0]], np.float32))
        g = b.build(b.op("Cube", x * w).sum())
        xs = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
        assert np.allclose(cr.compile(g)(xs), np.sum((xs * g.initializers["w"]) ** 3), rtol=1e-5)
        assert cr.gradcheck(g, {"x": xs.astype(np.float64)}).ok
        m = cr.export_onnx(g)
        onnx.checker.check_model(m, full_check=True)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        assert np.allclose(sess.run(None, {"x": xs})[0], cr.compile(g)(xs), rtol=1e-5)
        assert [p.value for p in m.graph.node[1].metadata_props if p.key == "chainrule.op"] == ["Cube"]
        assert str(cr.import_onnx(m)) == str(g)
    finally:
        del OPS["Cube"], EXPORTS["Cube"]
