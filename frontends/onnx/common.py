"""What ONNX export and import share: the dtype table, the opset, metadata keys, the error type."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnx.defs
from onnx import TensorProto

from ...ir import DType
from ...ir.errors import ChainruleError

#: The default-domain opset written on export (ReduceMean/ReduceMax take axes as inputs from 18).
EXPORT_OPSET = 18
#: ONNX IR version written on export (10 is the first with per-node metadata_props).
EXPORT_IR_VERSION = 10
#: Opsets and IR versions the importer accepts.
MIN_OPSET, MAX_OPSET = 7, onnx.defs.onnx_opset_version()
MIN_IR_VERSION, MAX_IR_VERSION = 3, onnx.IR_VERSION

#: Node metadata keys. ``chainrule.op`` marks the nodes that one chainrule op was exported
#: as (a composite such as HardThreshold), so import can rebuild that one node.
META_OP, META_ATTRS, META_INPUTS, META_OUTPUT = "chainrule.op", "chainrule.attrs", "chainrule.inputs", \
    "chainrule.output"
#: ``chainrule.outputs``: the json list of every result's name, for a composite op with several results.
META_OUTPUTS = "chainrule.outputs"
META_BY, META_PHASE, META_OF, META_RULE = "chainrule.by", "chainrule.phase", "chainrule.of", "chainrule.rule"
#: Model metadata: json list of parameters of kind "state", and the graph name.
META_STATE = "chainrule.state"
#: Model metadata: json object of the graph's ``meta`` (``Graph.set_meta``), such as class labels.
META_GRAPH = "chainrule.meta"
#: Suffix of the graph outputs that carry a training step's updated parameters and state.
NEXT_SUFFIX = ".next"

TO_ONNX = {DType.f16: TensorProto.FLOAT16, DType.f32: TensorProto.FLOAT, DType.f64: TensorProto.DOUBLE,
           DType.i8: TensorProto.INT8, DType.i32: TensorProto.INT32, DType.i64: TensorProto.INT64,
           DType.u8: TensorProto.UINT8, DType.bool: TensorProto.BOOL}
FROM_ONNX = {v: k for k, v in TO_ONNX.items()}


class OnnxError(ChainruleError, ValueError):
    """An ONNX model cannot be imported or a graph cannot be exported; the message says which
    file, node, op and why."""


class OnnxImportError(OnnxError):
    """An ONNX file is broken, hostile, or uses something chainrule does not support."""


class OnnxExportError(OnnxError):
    """A graph uses something that has no ONNX form."""


def dtype_name(code: int) -> str:
    return TensorProto.DataType.Name(code) if code in TensorProto.DataType.values() else f"#{code}"


def from_onnx_dtype(code: int, where: str) -> DType:
    if code not in FROM_ONNX:
        ok = ", ".join(dtype_name(c) for c in FROM_ONNX)
        raise OnnxImportError(f"{where}: element type {dtype_name(code)} is not supported (supported: {ok})")
    return FROM_ONNX[code]


def encode_attrs(attrs) -> str:
    """JSON of a composite op's attributes (tuples become lists, dtypes their names)."""
    def enc(v):
        if isinstance(v, DType):
            return {"dtype": v.value}
        if isinstance(v, (tuple, list)):
            return [enc(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        return v
    return json.dumps({k: enc(v) for k, v in attrs.items()}, sort_keys=True)


def decode_attrs(text: str) -> dict:
    def dec(v):
        if isinstance(v, dict) and set(v) == {"dtype"}:
            return DType.of(v["dtype"])
        if isinstance(v, list):
            return tuple(dec(x) for x in v)
        return v
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("attributes are not a JSON object")
    return {k: dec(v) for k, v in data.items()}
