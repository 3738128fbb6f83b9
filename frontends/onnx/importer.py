"""Import an ONNX model as a chainrule graph (``cr.import_onnx``).

Reading is defensive: the file is parsed without onnx's loader (which would
follow external-data paths anywhere), every tensor's declared size is checked
against ``max_tensor_bytes`` before anything is allocated, and so is every
static result a node computes (``_Ctx.op``) and every array an import function
builds from a shape in the file (``_Ctx.check_size``, also against the memory
limit); constant folding stops at ``FOLD_LIMIT`` elements of input or result. External data must
be a plain file inside the model's folder, and the node list is checked for
undefined inputs, double definitions and cycles before any op is mapped. All
problems raise ``OnnxImportError`` naming the file, the node, its op and why.

Float initializers become trainable parameters; other initializers and
``Constant`` nodes become IR ``Constant`` nodes. Values needed at import time
(Reshape's shape, axes inputs; ``_Ctx.static``) must be constants, or computed
from graph inputs alone, which then become specialisation keys: ``import_onnx``
returns a ``KeyedModel`` that builds the graph per value of them (``keys.py``).
Shape arithmetic on constants is folded, and shape arithmetic on symbolic dimensions
(``Shape`` -> ``Gather`` -> ``Concat`` -> ``Reshape``) is folded symbolically
(``shapes``). A batch dimension left unset becomes the symbol ``N``.
Graph outputs named ``<param>.next`` become the graph's updates (the training
step convention of ``exporter``).
"""
from __future__ import annotations

import functools
import inspect
import json
import os
import stat
from typing import Dict, List, Optional, Union

import networkx as nx
import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper

from ...ir import DType, Emitter, Graph, Node, TensorType
from ...ir.errors import ChainruleError
from ...ir.ops import OPS
from ...ir.ops.elementwise import Identity
from ...ir.ops.shape import Constant
from ...passes.analysis import differentiable_reach
from ...runtime.limits import human, memory_limit
from .common import (MAX_IR_VERSION, MAX_OPSET, META_ATTRS, META_BY, META_INPUTS, META_OF, META_OP,
                          META_OUTPUT, META_OUTPUTS, META_PHASE, META_RULE, META_STATE, META_GRAPH, MIN_IR_VERSION, MIN_OPSET, NEXT_SUFFIX,
                          OnnxImportError, decode_attrs, dtype_name, from_onnx_dtype)
from .keys import MAX_KEY_ELEMENTS, KeyedModel, KeysNeeded
from .ops import DOMAIN_IMPORTS, IMPORTS
from .ops.ml import KEEP_LABELS
from .shapes import Sym

#: Default limit on one tensor's declared size (bytes); ``import_onnx(max_tensor_bytes=...)`` changes it.
MAX_TENSOR_BYTES = 1 << 30
#: Folding of constant sub-expressions stops at this many elements.
FOLD_LIMIT = 1 << 20
DEFAULT_DOMAINS = ("", "ai.onnx")

_TYPED_FIELD = {TensorProto.FLOAT: "float_data", TensorProto.DOUBLE: "double_data", TensorProto.INT64: "int64_data",
                TensorProto.INT32: "int32_data", TensorProto.INT8: "int32_data", TensorProto.UINT8: "int32_data",
                TensorProto.BOOL: "int32_data", TensorProto.FLOAT16: "int32_data"}


# -- reading -----------------------------------------------------------------------------------
def load_model_proto(path: str) -> onnx.ModelProto:
    """Parse ``path`` as an ONNX ModelProto, with a clear error for anything that is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise OnnxImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise OnnxImportError(f"{path}: is a directory, not an ONNX file") from None
    except OSError as err:
        raise OnnxImportError(f"{path}: cannot read: {err.strerror}") from None
    return parse_model_bytes(data, path)


def parse_model_bytes(data: bytes, where: str = "<bytes>") -> onnx.ModelProto:
    if not data:
        raise OnnxImportError(f"{where}: the file is empty, not an ONNX model")
    m = onnx.ModelProto()
    try:
        m.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError and friends
        text = data[:64].lstrip()
        kind = "a text file" if text and all(32 <= b < 127 or b in (9, 10, 13) for b in text) else "truncated or corrupt"
        raise OnnxImportError(f"{where}: not a valid ONNX model ({kind}: protobuf parse failed: {err})") from None
    if not m.HasField("graph") or m.ir_version == 0 or not m.opset_import:
        missing = [k for k, ok in (("graph", m.HasField("graph")), ("ir_version", m.ir_version != 0),
                                   ("opset_import", bool(m.opset_import))) if not ok]
        raise OnnxImportError(f"{where}: not an ONNX model (missing {', '.join(missing)}); "
                              f"is it truncated, or some other kind of file?")
    return m


#: The values an element type holds, for the types whose data ONNX stores in a wider field
#: (``int32_data`` holds INT8, UINT8, BOOL and the bits of FLOAT16; a BOOL's raw byte is 0 or 1).
_RANGE = {TensorProto.INT8: (-128, 127), TensorProto.UINT8: (0, 255), TensorProto.BOOL: (0, 1),
          TensorProto.FLOAT16: (0, 65535)}


def in_range(vals: np.ndarray, data_type: int, where: str) -> np.ndarray:
    """``vals`` if every value fits ``data_type``; a value outside is refused, not wrapped
    (NumPy's cast would make UINT8 300 into 44)."""
    lo, hi = _RANGE.get(data_type, (None, None))
    if lo is not None and vals.size:
        bad = (vals < lo) | (vals > hi)
        if bad.any():
            i = int(np.argmax(bad))
            raise OnnxImportError(f"{where} holds {int(vals.reshape(-1)[i])} at index {i}, outside "
                                  f"{dtype_name(data_type)}'s range {lo}..{hi}")
    return vals


class TensorReader:
    """Turns TensorProtos into arrays, checking sizes and external-data paths first."""

    def __init__(self, where: str, base_dir: Optional[str], max_bytes: int):
        self.where = where
        self.base_dir = base_dir
        self.max_bytes = max_bytes

    def __call__(self, t: TensorProto, what: str) -> np.ndarray:
        where = f"{self.where}: {what}"
        dt = from_onnx_dtype(t.data_type, where)
        dims = list(t.dims)
        if any(d < 0 for d in dims):
            raise OnnxImportError(f"{where}: negative dimension in {dims}")
        n = int(np.prod(dims, dtype=object)) if dims else 1
        nbytes = n * dt.numpy.itemsize
        if nbytes > self.max_bytes:
            raise OnnxImportError(f"{where}: declared size {dims} ({nbytes} bytes) exceeds the limit of "
                                  f"{self.max_bytes} bytes (raise it with import_onnx(max_tensor_bytes=...) or --max-tensor-bytes)")
        if t.data_location == TensorProto.EXTERNAL:
            raw = self.external(t, where, nbytes)
        elif t.HasField("raw_data"):
            raw = t.raw_data
            if len(raw) != nbytes:
                raise OnnxImportError(f"{where}: raw_data has {len(raw)} bytes but dims {dims} of "
                                      f"{dtype_name(t.data_type)} need {nbytes}")
        else:
            field = _TYPED_FIELD[t.data_type]
            vals = getattr(t, field)
            if len(vals) != n:
                raise OnnxImportError(f"{where}: {field} has {len(vals)} values but dims {dims} need {n}")
            vals = in_range(np.asarray(vals), t.data_type, f"{where}: {field}")
            if t.data_type == TensorProto.FLOAT16:
                return vals.astype(np.uint16).view(np.float16).reshape(dims)
            return vals.astype(dt.numpy).reshape(dims)
        if t.data_type == TensorProto.BOOL:  # a byte other than 0 and 1 is no bool
            in_range(np.frombuffer(raw, np.uint8), t.data_type, f"{where}: data")
        return np.frombuffer(raw, dtype=dt.numpy.newbyteorder("<")).astype(dt.numpy).reshape(dims)

    def strings(self, t: TensorProto, what: str) -> np.ndarray:
        """A STRING tensor (its ``string_data``) as an array of Python strings."""
        where = f"{self.where}: {what}"
        dims = list(t.dims)
        n = int(np.prod(dims, dtype=object)) if dims else 1
        if t.data_location == TensorProto.EXTERNAL or any(d < 0 for d in dims) or len(t.string_data) != n:
            raise OnnxImportError(f"{where}: a STRING tensor of dims {dims} needs {n} strings in string_data, "
                                  f"it has {len(t.string_data)}" + (" (and external data)"
                                                                    if t.data_location == TensorProto.EXTERNAL else ""))
        nbytes = sum(len(s) for s in t.string_data)
        if nbytes > self.max_bytes:
            raise OnnxImportError(f"{where}: its strings hold {nbytes} bytes, over the limit of {self.max_bytes} "
                                  f"bytes (raise it with import_onnx(max_tensor_bytes=...) or --max-tensor-bytes)")
        return np.array([s.decode("utf-8", "replace") for s in t.string_data], dtype=object).reshape(dims)

    def external(self, t, where, nbytes) -> bytes:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location")
        if not loc:
            raise OnnxImportError(f"{where}: external data without a location")
        if "\0" in loc:  # no file name holds one; the os functions would raise a bare ValueError
            raise OnnxImportError(f"{where}: external data location {loc!r} holds a NUL character")
        if self.base_dir is None:
            raise OnnxImportError(f"{where}: external data {loc!r} needs the model's folder; import from a path")
        if os.path.isabs(loc) or loc.startswith(("/", "\\")) or ":" in loc:
            raise OnnxImportError(f"{where}: external data location {loc!r} is an absolute path; "
                                  f"only files inside the model's folder are read")
        parts = loc.replace("\\", "/").split("/")
        if ".." in parts:
            raise OnnxImportError(f"{where}: external data location {loc!r} contains '..'; "
                                  f"only files inside the model's folder are read")
        base = os.path.realpath(self.base_dir)
        full = os.path.join(base, *parts)
        # refuse links: a symlink anywhere on the path, or a file with several hard links
        cur = base
        for p in parts:
            cur = os.path.join(cur, p)
            if os.path.islink(cur):
                raise OnnxImportError(f"{where}: external data location {loc!r} is a symbolic link; refused")
        if os.path.commonpath([os.path.realpath(full), base]) != base:
            raise OnnxImportError(f"{where}: external data location {loc!r} leaves the model's folder")
        try:
            st = os.stat(full)
        except FileNotFoundError:
            raise OnnxImportError(f"{where}: external data file {loc!r} does not exist beside the model") from None
        if not stat.S_ISREG(st.st_mode):
            raise OnnxImportError(f"{where}: external data {loc!r} is not a regular file")
        if st.st_nlink > 1:
            raise OnnxImportError(f"{where}: external data file {loc!r} has {st.st_nlink} hard links; refused "
                                  f"(a hard link can expose a file from outside the model's folder)")
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else st.st_size - offset
        except ValueError:
            raise OnnxImportError(f"{where}: external data offset/length are not integers: {info}") from None
        if offset < 0 or length < 0 or offset + length > st.st_size:
            raise OnnxImportError(f"{where}: external data {loc!r} offset {offset} + length {length} is past "
                                  f"the end of the file ({st.st_size} bytes)")
        if length != nbytes:
            raise OnnxImportError(f"{where}: external data {loc!r} has length {length} but the tensor needs {nbytes} bytes")
        with open(full, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        if len(data) != length:
            raise OnnxImportError(f"{where}: external data {loc!r} ended early")
        return data


# -- the node list -------------------------------------------------------------------------------
def _node_label(i, node):
    return f"node {node.name or '#' + str(i)!r} ({node.op_type})"


def schedule(gp, where, defined) -> List[int]:
    """Node indices in a def-before-use order (file order where possible); checks the wiring."""
    producer: Dict[str, int] = {}
    for i, node in enumerate(gp.node):
        for o in node.output:
            if not o:
                continue
            if o in defined:
                raise OnnxImportError(f"{where}: {_node_label(i, node)} writes tensor {o!r}, which is already "
                                      f"a graph input or initializer")
            if o in producer:
                j = producer[o]
                raise OnnxImportError(f"{where}: two nodes write tensor {o!r}: {_node_label(j, gp.node[j])} and "
                                      f"{_node_label(i, node)}")
            producer[o] = i
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(gp.node)))
    for i, node in enumerate(gp.node):
        for x in node.input:
            if not x or x in defined:
                continue
            if x not in producer:
                raise OnnxImportError(f"{where}: {_node_label(i, node)} reads tensor {x!r}, which no node, graph "
                                      f"input or initializer defines")
            dag.add_edge(producer[x], i)
    if not nx.is_directed_acyclic_graph(dag):
        cycle = [u for u, _ in nx.find_cycle(dag)]
        k = cycle.index(min(cycle))  # start the cycle at its first node in the file, whichever was found
        cyc = ", ".join(_node_label(i, gp.node[i]) for i in (cycle[k:] + cycle[:k])[:5])
        raise OnnxImportError(f"{where}: the graph has a cycle through {cyc}" + (", ..." if len(cycle) > 5 else ""))
    # of the nodes ready at each step, the first in the file: a sorted file keeps its order
    return list(nx.lexicographical_topological_sort(dag))


# -- the importer ----------------------------------------------------------------------------------
def _sanitize(sym: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in sym)
    return s if s and s.isidentifier() else "d_" + s


class _Ctx:
    """What an import function of the tables (``ops/``) sees: values, constants, the emitter, the node."""

    def __init__(self, imp, node, label, opset):
        self.imp, self.node, self.where, self.opset = imp, node, label, opset
        self.n_outputs = len([o for o in node.output if o])
        self.e = imp.emitter_for(node)
        self.made = []

    def v(self, name):
        if not name:
            self.fail("a required input is missing")
        if name in self.imp.symbolic:
            self.symbolic_use(name)
        if name in self.imp.strings:
            self.string_use(name)
        return self.imp.value(name, self)

    def string_use(self, name):
        self.fail(f"input {name!r} is a tensor of strings; chainrule has no string dtype and reads strings only "
                  f"as class labels (ArrayFeatureExtractor of a vector of labels)")

    def strings(self, name):
        """The string initializer ``name`` as an array of str, or None if it is no string tensor."""
        return self.imp.strings.get(name)

    def labels(self, name, labels):
        """Record that tensor ``name`` holds class indices standing for the string ``labels``."""
        self.imp.labels_of[name] = list(labels)

    def columns(self, name, labels):
        """Record that the columns of tensor ``name`` are the classes ``labels`` (ZipMap)."""
        self.imp.classes_of[name] = list(labels)

    def param(self, hint, arr):
        """A new trainable parameter holding ``arr`` (a weight the file gives as an attribute), named
        ``hint``, or ``hint.1``, ``hint.2``... if that name is taken in the file or the graph."""
        taken = self.imp.file_names | {v.name for v in self.imp.g.all_values()}
        name, k = hint, 0
        while name in taken:
            k += 1
            name = f"{hint}.{k}"
        return self.imp.g.add_param(name, np.array(arr, np.float32))

    def symbolic_use(self, name):
        self.fail(f"input {name!r} is the shape value {self.imp.symbolic[name].text()}, computed from symbolic "
                  f"dimensions; chainrule folds such values at import and accepts them only in Shape, Gather, "
                  f"Slice, Concat, Unsqueeze, Squeeze, Cast, Identity and as a Reshape target")

    def static(self, name, what):
        """The value of operand ``what`` (input ``name``), which the IR needs as an attribute: a
        constant, folded shape arithmetic, or computed from graph inputs alone, which then become
        specialisation keys (``keys.py``: the importer asks for their values)."""
        if not name:
            self.fail(f"input {what!r} is missing")
        if name in self.imp.symbolic:
            self.symbolic_use(name)
        if name in self.imp.strings:
            self.string_use(name)
        if name not in self.imp.known:
            leaves = self.imp.upstream_inputs(name)
            if leaves:
                raise KeysNeeded(leaves, what, self.where)
            self.fail(f"input {what!r} ({name!r}) must be a constant known at import time; chainrule does not "
                      f"support a computed {what}")
        return self.imp.known[name]

    def op(self, opname, *ins, **attrs):
        base = self.node.output[0] if self.node.output else self.node.op_type
        node = self.e.emit(opname, ins, attrs, name=f"{base}/{opname.lower()}")
        self.made.append(node)
        limit = self.imp.read.max_bytes
        for o in node.outputs:  # a size the file asked for: refused here, before folding or compiling
            if (o.type.nbytes() or 0) > limit:
                self.fail(f"computes {o.type} ({human(o.type.nbytes())}), over max_tensor_bytes of {human(limit)} "
                          f"(raise it with import_onnx(max_tensor_bytes=...) or --max-tensor-bytes)")
        return node.outputs[0] if len(node.outputs) == 1 else tuple(node.outputs)

    def check_size(self, shape, dtype, what):
        """Refuse an array of ``shape`` that the file asks for, before it is allocated, if it is
        over ``max_tensor_bytes`` or the memory limit."""
        n = int(np.prod([int(d) for d in shape], dtype=object)) * np.dtype(dtype).itemsize
        for limit, name, how in ((self.imp.read.max_bytes, "max_tensor_bytes",
                                  "import_onnx(max_tensor_bytes=...) or --max-tensor-bytes"),
                                 (memory_limit(), "the memory limit",
                                  "CHAINRULE_MEMORY_LIMIT or chainrule.runtime.set_memory_limit")):
            if n > limit:
                self.fail(f"{what} would be {list(shape)} of {np.dtype(dtype)} ({human(n)}), over {name} of "
                          f"{human(limit)} (raise it with {how})")

    def constant(self, arr):
        return self.op("Constant", value=np.asarray(arr))

    def dtype(self, code, what):
        """The chainrule dtype of ONNX element type ``code`` (``what`` names where it was given)."""
        return from_onnx_dtype(code, f"{self.where} {what}")

    def fail(self, msg):
        raise OnnxImportError(f"{self.where}: {msg}")

    def unsupported(self, what):
        raise OnnxImportError(f"{self.where}: unsupported: {what}")


def input_type(vi, where) -> TensorType:
    """The declared type of graph input ``vi``; an unset dimension is the batch ``N`` if first."""
    lab = f"{where}: graph input {vi.name!r}"
    if not vi.type.HasField("tensor_type"):
        raise OnnxImportError(f"{lab} is not a tensor (sequences, maps and optionals are not supported)")
    tt = vi.type.tensor_type
    dt = from_onnx_dtype(tt.elem_type, lab)
    if not tt.HasField("shape"):
        raise OnnxImportError(f"{lab} has no shape; chainrule needs at least its rank")
    dims = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            if d.dim_value < 0:
                raise OnnxImportError(f"{lab}: negative dimension {d.dim_value}")
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(_sanitize(d.dim_param))
        else:  # an unset dimension: the batch axis by convention
            dims.append("N" if i == 0 else _sanitize(f"{vi.name}_{i}"))
    return TensorType(tuple(dims), dt)


class _Importer:
    """``keys``: values of the graph inputs that are specialisation keys (``keys.py``); ``params``:
    arrays to share with other imports of the model (filled on first use)."""

    def __init__(self, m: onnx.ModelProto, where: str, base_dir, max_tensor_bytes, static_inputs=None,
                 allow_nonfinite=False, keys=None, params=None):
        self.m, self.where = m, where
        self.allow_nonfinite = allow_nonfinite
        static_inputs = dict(static_inputs or {})
        keys = dict(keys or {})
        self.params = {} if params is None else params
        self.read = TensorReader(where, base_dir, max_tensor_bytes)
        self.check_versions()
        gp = m.graph
        self.g = Graph(gp.name or "main")
        props = {p.key: p.value for p in m.metadata_props}
        try:
            self.state = set(json.loads(props.get(META_STATE, "[]")))
        except ValueError:
            raise OnnxImportError(f"{where}: model metadata {META_STATE} is not JSON") from None
        self.read_meta(props.get(META_GRAPH))
        self.inits: Dict[str, np.ndarray] = {}
        self.strings: Dict[str, np.ndarray] = {}  # string initializers (class labels), as str arrays
        self.labels_of: Dict[str, list] = {}  # tensor -> the string labels its class indices stand for
        self.classes_of: Dict[str, list] = {}  # tensor -> the class label of each column (ZipMap)
        self.init_order = []
        self.file_names = {n for node in gp.node for n in list(node.input) + list(node.output)} | \
            {t.name for t in gp.initializer} | {vi.name for vi in gp.input}
        for i, t in enumerate(gp.initializer):
            if not t.name:
                raise OnnxImportError(f"{where}: initializer #{i} has no name")
            if t.name in self.inits or t.name in self.strings:
                raise OnnxImportError(f"{where}: two initializers are named {t.name!r}")
            if t.data_type == TensorProto.STRING:  # class labels: no IR value, read by the ml table
                self.strings[t.name] = self.read.strings(t, f"initializer {t.name!r}")
                continue
            self.inits[t.name] = self.check_finite(t.name, self.read(t, f"initializer {t.name!r}"))
            self.init_order.append(t.name)
        for sp in gp.sparse_initializer:
            raise OnnxImportError(f"{where}: sparse initializer {sp.values.name!r} is not supported")
        self.known: Dict[str, np.ndarray] = {k: v for k, v in self.inits.items()}
        self.vals = {}
        self.symbolic = {}  # name -> shapes.Sym: shape values holding symbolic dimensions
        self.static_of = {}  # id(Value) -> array, for folding
        self.dropped = set()  # ids of Constant nodes made for ONNX constants (removed if unused)
        self.shadow = set()
        for vi in gp.input:
            if vi.name in self.strings:  # an initializer listed as an input (IR version 3)
                continue
            if vi.name in self.inits:
                self.shadow.add(vi.name)  # a graph input with a default: a parameter
                self.check_declared(vi, self.inits[vi.name], "graph input")
                continue
            if vi.name in self.vals:
                raise OnnxImportError(f"{where}: two graph inputs are named {vi.name!r}")
            if vi.name in static_inputs:  # fixed at import: becomes a constant
                arr = np.asarray(static_inputs.pop(vi.name))
                node = Emitter(self.g).emit("Constant", [], {"value": arr}, name=vi.name)
                self.vals[vi.name] = node.outputs[0]
                self.known[vi.name] = self.static_of[id(node.outputs[0])] = arr
                self.dropped.add(id(node))
                continue
            if vi.name in keys:  # a specialisation key: an input of static type, whose value is known
                arr = keys.pop(vi.name)
                v = self.vals[vi.name] = self.g.add_input(vi.name, TensorType(arr.shape, self.input_type(vi).dtype))
                self.g.set_key(v, arr)
                self.known[vi.name] = self.static_of[id(v)] = self.g.keys[vi.name]
                continue
            self.vals[vi.name] = self.g.add_input(vi.name, self.input_type(vi))
        if static_inputs:
            raise OnnxImportError(f"{where}: static_inputs names no graph input: {', '.join(sorted(static_inputs))}")
        self.producer = {o: node for node in gp.node for o in node.output if o}

    def read_meta(self, text):
        """The graph's ``meta`` from the model metadata ``chainrule.meta`` (a JSON object)."""
        if text is None:
            return
        try:
            meta = json.loads(text)
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            raise OnnxImportError(f"{self.where}: model metadata {META_GRAPH} is not a JSON object")
        for k, v in meta.items():
            try:
                self.g.set_meta(k, v)
            except ChainruleError as err:
                raise OnnxImportError(f"{self.where}: model metadata {META_GRAPH}: {err}") from None

    def check_finite(self, name, arr):
        """An initializer holding NaN or Inf is refused (a weight that poisons every result), unless
        ``allow_nonfinite``: some models keep -inf as a mask value on purpose."""
        if arr.dtype.kind == "f" and not self.allow_nonfinite and arr.size and not np.isfinite(arr).all():
            bad = ~np.isfinite(arr)
            at = [int(i) for i in np.argwhere(bad)[0]]
            raise OnnxImportError(f"{self.where}: initializer {name!r} holds {int(bad.sum())} non-finite value(s) "
                                  f"(the first, {arr[tuple(at)]}, at index {at}); import with "
                                  f"import_onnx(..., allow_nonfinite=True) or --allow-nonfinite to accept them")
        return arr

    def check_versions(self):
        m, where = self.m, self.where
        if not MIN_IR_VERSION <= m.ir_version <= MAX_IR_VERSION:
            raise OnnxImportError(f"{where}: ONNX IR version {m.ir_version} is not supported "
                                  f"(supported: {MIN_IR_VERSION}..{MAX_IR_VERSION})")
        self.opset = None
        for o in m.opset_import:
            if o.domain in DEFAULT_DOMAINS:
                self.opset = o.version
        if self.opset is None and m.graph.node and all(n.domain in DOMAIN_IMPORTS for n in m.graph.node):
            self.opset = MAX_OPSET  # only ops of other domains (ai.onnx.ml): the default opset plays no part
        if self.opset is None:
            raise OnnxImportError(f"{where}: the model imports no default-domain (ai.onnx) opset")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise OnnxImportError(f"{where}: opset {self.opset} is not supported (supported: {MIN_OPSET}..{MAX_OPSET})")

    def input_type(self, vi) -> TensorType:
        return input_type(vi, self.where)

    def check_declared(self, vi, arr, what):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.elem_type and FROM_ONNX_ok(tt.elem_type) != DType.of(arr.dtype):
            raise OnnxImportError(f"{self.where}: {what} {vi.name!r} is declared {dtype_name(tt.elem_type)} "
                                  f"but its initializer holds {arr.dtype}")

    def upstream_inputs(self, name) -> List[str]:
        """The graph inputs whose values ``name`` is computed from (none if it depends on none, or
        on nothing else than constants and other inputs already known), in graph-input order."""
        leaves, seen, todo = set(), set(), [name]
        inputs = {vi.name for vi in self.m.graph.input}
        while todo:
            t = todo.pop()
            if t in seen or t in self.known or t in self.inits:
                continue
            seen.add(t)
            if t in inputs:
                leaves.add(t)
            elif t in self.producer:
                todo.extend(x for x in self.producer[t].input if x)
        return [vi.name for vi in self.m.graph.input if vi.name in leaves]

    def emitter_for(self, node):
        props = {p.key: p.value for p in node.metadata_props}
        return Emitter(self.g, created_by=props.get(META_BY, "frontend"), phase=props.get(META_PHASE, "forward"),
                       grad_of=props.get(META_OF), rule=props.get(META_RULE))

    def value(self, name, ctx):
        if name in self.vals:
            return self.vals[name]
        if name in self.inits:
            arr = self.inits[name]
            if name in self.shadow or arr.dtype.kind == "f":
                kind = "state" if name in self.state else "param"
                if name not in self.params:
                    self.params[name] = np.array(arr)
                v = self.g.add_param(name, self.params[name], kind=kind)
            else:
                node = Emitter(self.g).emit("Constant", [], {"value": np.array(arr)}, name=name)
                self.dropped.add(id(node))
                v = node.outputs[0]
            self.static_of[id(v)] = arr
            self.vals[name] = v
            return v
        raise OnnxImportError(f"{ctx.where}: tensor {name!r} is not defined")

    # -- nodes --------------------------------------------------------------------------------
    def run(self):
        gp = self.m.graph
        defined = set(self.vals) | set(self.inits) | set(self.strings)
        order = schedule(gp, self.where, defined)
        skip_group = None
        for i in order:
            node = gp.node[i]
            label = f"{self.where}: {_node_label(i, node)}"
            props = {p.key: p.value for p in node.metadata_props}
            if META_OP in props:
                key = (props[META_OP], props.get(META_OUTPUT))
                if key == skip_group:
                    continue
                skip_group = key
                self.composite(node, props, label)
                continue
            skip_group = None
            table = IMPORTS if node.domain in DEFAULT_DOMAINS else DOMAIN_IMPORTS.get(node.domain)
            if table is None:
                raise OnnxImportError(f"{label}: domain {node.domain!r} is not supported (supported: the default "
                                      f"ai.onnx domain, {', '.join(sorted(DOMAIN_IMPORTS))})")
            fn = table.get(node.op_type)
            if fn is None:
                domain = "" if table is IMPORTS else f" of domain {node.domain}"
                raise OnnxImportError(f"{label}: op {node.op_type} is not supported; supported ONNX ops{domain}: "
                                      f"{', '.join(sorted(table))}")
            self.check_labels(node, label)
            self.apply(fn, node, label)
        self.finish()
        return self.g

    def check_labels(self, node, label):
        """A tensor of class indices standing for string labels may only be moved (``KEEP_LABELS``
        ops) on its way to a graph output; the result stands for the same labels."""
        held = [i for i, x in enumerate(node.input) if x in self.labels_of]
        if not held:
            return
        if held == [0] and node.domain in DEFAULT_DOMAINS and node.op_type in KEEP_LABELS:
            self.labels_of[node.output[0]] = self.labels_of[node.input[0]]
            return
        x = node.input[held[0]]
        raise OnnxImportError(f"{label}: input {x!r} holds string class labels (chainrule keeps them as class "
                              f"indices into {self.labels_of[x]}); {node.op_type} of them is not supported, only "
                              f"{', '.join(KEEP_LABELS)} on the way to a graph output")

    def attrs_of(self, fn, node, label):
        params = inspect.signature(fn).parameters
        known = {k: p.default for k, p in params.items() if p.kind == p.KEYWORD_ONLY}
        out = {}
        for a in node.attribute:
            if a.name not in known:
                raise OnnxImportError(f"{label}: unknown attribute {a.name!r} (attributes of {node.op_type}: "
                                      f"{', '.join(known) or 'none'})")
            if a.ref_attr_name:
                raise OnnxImportError(f"{label}: attribute {a.name!r} refers to a function attribute; not supported")
            try:
                v = helper.get_attribute_value(a)
            except Exception as err:
                raise OnnxImportError(f"{label}: attribute {a.name!r} cannot be read: {err}") from None
            d = known[a.name]
            kinds = {float: (AttributeProto.FLOAT, AttributeProto.INT), int: (AttributeProto.INT,),
                     str: (AttributeProto.STRING,)}
            if d is not None and type(d) in kinds and a.type not in kinds[type(d)]:
                raise OnnxImportError(f"{label}: attribute {a.name!r} must be "
                                      f"{AttributeProto.AttributeType.Name(kinds[type(d)][0])}, got "
                                      f"{AttributeProto.AttributeType.Name(a.type)}")
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            elif a.type == AttributeProto.STRINGS:
                v = [s.decode("utf-8", "replace") for s in v]
            elif isinstance(v, TensorProto):
                v = self.read(v, f"{_node_label(0, node)[5:]} attribute {a.name!r}")
            elif a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS, AttributeProto.SPARSE_TENSOR,
                            AttributeProto.TENSORS, AttributeProto.TYPE_PROTO, AttributeProto.TYPE_PROTOS):
                raise OnnxImportError(f"{label}: attribute {a.name!r} of type "
                                      f"{AttributeProto.AttributeType.Name(a.type)} is not supported")
            out[a.name] = v
        return out

    def apply(self, fn, node, label):
        attrs = self.attrs_of(fn, node, label)
        params = [p for p in inspect.signature(fn).parameters.values()][1:]
        pos = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        variadic = any(p.kind == p.VAR_POSITIONAL for p in params)
        need = len([p for p in pos if p.default is p.empty])
        ins = list(node.input)
        while ins and not ins[-1]:
            ins.pop()
        if len(ins) < need or (not variadic and len(ins) > len(pos)):
            want = f"{need}" + ("+" if variadic else (f" to {len(pos)}" if len(pos) != need else ""))
            raise OnnxImportError(f"{label}: takes {want} inputs, got {len(ins)}")
        ctx = _Ctx(self, node, label, self.opset)
        try:
            outs = fn(ctx, *[x or None for x in ins], **attrs)
        except ChainruleError as err:
            if isinstance(err, OnnxImportError):
                raise
            raise OnnxImportError(f"{label}: {err}") from None
        except (ValueError, TypeError, IndexError) as err:
            raise OnnxImportError(f"{label}: {err}") from None
        if isinstance(outs, Sym):  # a symbolic shape value: no IR, only an import-time value
            self.symbolic[node.output[0]] = outs
            return
        outs = outs if isinstance(outs, tuple) else (outs,)
        self.bind(node, ctx, outs, label)

    def bind(self, node, ctx, outs, label):
        names = list(node.output)
        if len([n for n in names if n]) > len(outs):
            raise OnnxImportError(f"{label}: has {len(names)} outputs, chainrule gives {len(outs)}")
        made = {id(n) for n in ctx.made}
        for name, v in zip(names, outs):
            if not name:
                continue
            if v.producer is None or id(v.producer) not in made:
                v = ctx.op("Identity", v)
                made.add(id(v.producer))
            self.rename(v, name)
            self.vals[name] = v
        self.fold(ctx.made)
        for name, v in zip(names, outs):
            if name and id(self.vals[name]) in self.static_of:
                self.known[name] = self.static_of[id(self.vals[name])]

    def rename(self, v, name):
        g = self.g
        if v.name == name:
            return
        g.rename(v, name)
        if v.name != name:
            raise OnnxImportError(f"{self.where}: tensor name {name!r} is used twice")

    def fold(self, nodes):
        """Compute nodes whose inputs are all known constants (shape arithmetic) at import time."""
        for n in nodes:
            if isinstance(n.op, Constant):
                self.static_of[id(n.outputs[0])] = np.asarray(n.attrs["value"])
                continue
            if not n.inputs and not n.op.foldable:  # an op without inputs folds if it says so (Range)
                continue
            if not all(id(v) in self.static_of for v in n.inputs):
                continue
            # the result's size is known from its type: a bomb (a 40000x1 times a 1x40000) is never computed
            if any(self.static_of[id(v)].size > FOLD_LIMIT for v in n.inputs) or any(
                    o.type.numel() is None or o.type.numel() > FOLD_LIMIT for o in n.outputs):
                continue
            try:
                res = n.op.kernel(dict(n.attrs))(*[self.static_of[id(v)] for v in n.inputs])
            except Exception:  # folding is an optimisation; run time reports the real error
                continue
            res = res if isinstance(res, tuple) else (res,)
            for o, r in zip(n.outputs, res):
                self.static_of[id(o)] = np.asarray(r)

    def composite(self, node, props, label):
        """Rebuild the one chainrule op that a group of exported ONNX nodes stands for."""
        opname = props[META_OP]
        if opname not in OPS:
            raise OnnxImportError(f"{label}: metadata names chainrule op {opname!r}, which does not exist")
        out = props.get(META_OUTPUT)
        try:
            attrs = decode_attrs(props.get(META_ATTRS, "{}"))
            ins = json.loads(props.get(META_INPUTS, "[]"))
            outs = json.loads(props.get(META_OUTPUTS, json.dumps([out])))
        except (ValueError, TypeError) as err:
            raise OnnxImportError(f"{label}: bad chainrule metadata: {err}") from None
        if (not isinstance(ins, list) or not all(isinstance(x, str) for x in ins) or not out
                or not isinstance(outs, list) or not all(isinstance(x, str) and x for x in outs)):
            raise OnnxImportError(f"{label}: bad chainrule metadata (inputs/output)")
        check_meta_attrs(OPS[opname], attrs, label)
        ctx = _Ctx(self, node, label, self.opset)
        try:
            v = ctx.op(opname, *[ctx.v(x) for x in ins], **attrs)
        except ChainruleError as err:
            if isinstance(err, OnnxImportError):
                raise
            raise OnnxImportError(f"{label}: {err}") from None
        results = v if isinstance(v, tuple) else (v,)
        if len(results) != len(outs):
            raise OnnxImportError(f"{label}: chainrule metadata names {len(outs)} result(s) of {opname}, "
                                  f"the op makes {len(results)}")
        for r, name in zip(results, outs):
            self.rename(r, name)
            self.vals[name] = r
        self.fold(ctx.made)

    # -- outputs, updates, clean-up --------------------------------------------------------------
    def finish(self):
        g, gp = self.g, self.m.graph
        outs = []
        params = {p.name for p in g.params} | self.shadow
        for vi in gp.output:
            name = vi.name
            if name in self.symbolic:
                self.symbolic_output(name)
            if name not in self.vals and name not in self.inits:
                raise OnnxImportError(f"{self.where}: graph output {name!r} is produced by no node and is not an "
                                      f"input or initializer")
            if name.endswith(NEXT_SUFFIX) and name[:-len(NEXT_SUFFIX)] in params:
                p = self.value(name[:-len(NEXT_SUFFIX)], None)
                v = self.vals[name]
                src = v.producer
                if src is not None and isinstance(src.op, Identity) and len(v.uses) == 0:
                    inner = src.inputs[0]
                    g.remove_node(src)
                    v = inner
                g.add_update(p, v)
                continue
            v = self.vals.get(name) or self.value(name, None)
            self.check_output(vi, v)
            outs.append(v)
            if name in self.labels_of:
                g.set_meta(f"labels.{name}", self.labels_of[name])
            if name in self.classes_of:
                g.set_meta(f"classes.{name}", self.classes_of[name])
        g.set_outputs(outs)
        self.freeze_unreachable()
        # unused constants made for ONNX Constant nodes and integer initializers
        keep = g.exported_ids()
        changed = True
        while changed:
            dead = [n for n in g.nodes if isinstance(n.op, Constant) and not n.outputs[0].uses
                    and id(n.outputs[0]) not in keep]
            changed = bool(dead)
            if dead:
                g.remove_nodes(dead)
        rank = {n: i for i, n in enumerate(self.init_order)}
        g.params.sort(key=lambda p: rank.get(p.name, len(rank)))

    def freeze_unreachable(self):
        """Float initializers that no output depends on differentiably (a threshold read only by a
        ``Greater``, as the dynamo exporter writes Softplus) are constants, not parameters:
        training could never move them, and a gradient of them is an error."""
        g = self.g
        reach = differentiable_reach(g)
        for p in [p for p in g.params if p.kind == "param" and p.uses and id(p) not in reach
                  and not any(p is q for q, _ in g.updates)]:
            users = {id(n) for n, _ in p.uses}
            first = next(n for n in g.nodes if id(n) in users)
            arr, name = g.initializers[p.name], p.name
            node = Node(OPS["Constant"], [], {"value": arr})
            g.add_node(node, [TensorType(arr.shape, DType.of(arr.dtype))], [f"{name}.frozen"], before=first)
            p.replace_all_uses_with(node.outputs[0])
            g.remove_param(p)
            g.rename(node.outputs[0], name)

    def symbolic_output(self, name):
        raise OnnxImportError(f"{self.where}: graph output {name!r} is the shape value "
                              f"{self.symbolic[name].text()}, computed from symbolic dimensions; chainrule cannot "
                              f"output a shape")

    def check_output(self, vi, v):
        if not vi.type.HasField("tensor_type"):
            return
        tt = vi.type.tensor_type
        lab = f"{self.where}: graph output {vi.name!r}"
        labels = tt.elem_type == TensorProto.STRING and vi.name in self.labels_of  # kept as class indices
        if tt.elem_type and FROM_ONNX_ok(tt.elem_type) != v.dtype and not labels:
            raise OnnxImportError(f"{lab} is declared {dtype_name(tt.elem_type)} but computes {v.type}")
        if tt.HasField("shape"):
            dims = list(tt.shape.dim)
            if len(dims) != v.type.rank:
                raise OnnxImportError(f"{lab} is declared with rank {len(dims)} but computes {v.type}")
            for d, got in zip(dims, v.type.shape):
                if d.HasField("dim_value") and isinstance(got, int) and d.dim_value != got:
                    raise OnnxImportError(f"{lab} is declared with shape "
                                          f"[{','.join(str(x.dim_value or x.dim_param or '?') for x in dims)}] "
                                          f"but computes {v.type}")


#: the type an attribute value from metadata must have, by the type of the op's default
_META_KINDS = ((bool, (bool,), "a boolean"), (int, (int,), "an integer"), (float, (int, float), "a number"),
               (str, (str,), "a string"), (DType, (DType,), "a dtype"))


def check_meta_attrs(op, attrs, label):
    """Attributes read from chainrule metadata (JSON) have the type of the op's defaults, so that a
    wrong one is refused here and not met by a kernel at run time; the op checks the rest."""
    for name, value in attrs.items():
        default = op.attrs.get(name)
        for kind, allowed, words in _META_KINDS:
            if type(default) is kind:
                if type(value) not in allowed:
                    raise OnnxImportError(f"{label}: chainrule metadata attribute {name!r} of {op.name} must be "
                                          f"{words}, got {value!r}")
                break


def FROM_ONNX_ok(code):
    from .common import FROM_ONNX
    return FROM_ONNX.get(code)


def import_onnx(model, base_dir: Optional[str] = None, max_tensor_bytes: int = MAX_TENSOR_BYTES,
                static_inputs: Optional[Dict[str, np.ndarray]] = None,
                allow_nonfinite: bool = False) -> Union[Graph, KeyedModel]:
    """An ONNX model (a path, bytes, or an ``onnx.ModelProto``) as a chainrule ``Graph``, or as a
    ``KeyedModel`` if graph inputs set shapes (``keys.py``: ``cr.compile`` specialises it on their
    values at call time).

    External data is read only from ``base_dir`` (default: the model file's folder).
    ``static_inputs`` fixes graph inputs to arrays at import time (they leave the signature).
    An initializer holding NaN or Inf is refused unless ``allow_nonfinite``.
    """
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        m = load_model_proto(path)
        where = path
        base_dir = base_dir or os.path.dirname(os.path.abspath(path))
    elif isinstance(model, (bytes, bytearray)):
        m, where = parse_model_bytes(bytes(model)), "<bytes>"
    elif isinstance(model, onnx.ModelProto):
        m, where = model, f"<model {model.graph.name or 'proto'}>"
    else:
        raise OnnxImportError(f"cannot import a {type(model).__name__}: pass a path, bytes or an onnx.ModelProto")
    build = functools.partial(_build, m, where, base_dir, max_tensor_bytes, static_inputs, allow_nonfinite)
    try:
        return build()
    except KeysNeeded as need:
        return _keyed_model(m, where, static_inputs, need, build)


def _build(m, where, base_dir, max_tensor_bytes, static_inputs, allow_nonfinite=False, keys=None,
           params=None) -> Graph:
    """The graph of ``m``, with ``keys`` (input name -> value) and shared ``params`` if given."""
    try:
        return _Importer(m, where, base_dir, max_tensor_bytes, static_inputs, allow_nonfinite, keys, params).run()
    except RecursionError:
        raise OnnxImportError(f"{where}: the model is nested too deeply") from None


def _keyed_model(m, where, static_inputs, need: KeysNeeded, build) -> KeyedModel:
    """The model whose graph ``build(keys, params)`` makes per value of the inputs ``need`` names."""
    fixed = {t.name for t in m.graph.initializer} | set(static_inputs or ())
    inputs = {vi.name: input_type(vi, where) for vi in m.graph.input if vi.name not in fixed}
    for k in need.names:
        n = inputs[k].numel()
        if n is not None and n > MAX_KEY_ELEMENTS:
            raise OnnxImportError(f"{need.where}: operand {need.what!r} is computed from graph input {k!r}, so "
                                  f"chainrule specialises on its value, but it is declared {inputs[k]} and a "
                                  f"specialisation key holds at most {MAX_KEY_ELEMENTS} numbers")
    return KeyedModel(m.graph.name or "main", inputs, need, build)


__all__ = ["KeyedModel", "OnnxImportError", "import_onnx", "load_model_proto"]
