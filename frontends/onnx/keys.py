"""Graph inputs that set shapes: specialisation keys, and the model that is specialised on them.

An ONNX model may feed a Reshape target, reduction axes, a OneHot depth, Slice bounds, Pad
widths or Dropout's training mode as a graph *input*. chainrule's IR holds those as
attributes, so the importer needs their values. When an import function asks for such an
operand (``_Ctx.static``, the one helper every "must be a constant" check goes through) and
it derives from graph inputs alone, those inputs are the model's specialisation keys, and
``import_onnx`` returns a ``KeyedModel`` instead of a ``Graph``:

    m = cr.import_onnx("reshape.onnx")        # Reshape(data, shape), both graph inputs
    m.keys                                    # ['shape']
    g = m.specialize({"shape": [3, 8]})       # a Graph built for that value:
      input %data: f32[2,3,4]
      input %shape: i64[2] key [3, 8]         # (ir/printer.py) the graph holds for this value only
      %reshaped: f32[3,8] = Reshape(%data) {shape=[3, 8]}

``cr.compile(m)`` compiles one graph per value of the keys, on first use, and keeps the
most recently used (``runtime/specialize.py``), as the executors keep one plan per batch
size. A key's value is checked before it is used (``check_key``): its dtype and shape
against the declared input, at most ``MAX_KEY_ELEMENTS`` numbers, finite; what the value
means (an axis in range, a size that fits the memory limits) is checked by the import
function that reads it, and a refusal is an ``InputError`` naming the input and its value.
Keys are found as the import meets them: one at ``import_onnx``, the others (Slice reads
four) when the first value is given; ``keys`` grows then, and ``uses`` says where each is read.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence

import numpy as np

from ...ir import Graph, InputError, TensorType
from ...ir.errors import ChainruleError

#: A specialisation key holds at most this many numbers (a shape, axes, pads: a few).
MAX_KEY_ELEMENTS = 256


class KeysNeeded(Exception):
    """Raised inside the importer (not a user error): the operand ``what`` of node ``where``
    is computed from graph inputs ``names`` alone, whose values the import needs."""

    def __init__(self, names: Sequence[str], what: str, where: str):
        super().__init__(f"{where}: {what!r} needs the values of {', '.join(names)}")
        self.names, self.what, self.where = list(names), what, where


def check_key(name: str, declared: TensorType, value) -> np.ndarray:
    """``value`` as the array a key input ``name`` of type ``declared`` may hold, or an InputError."""
    want = declared.dtype.numpy
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"input %{name} (a specialisation key) cannot be read as an array: {err}") from None
    if arr.dtype != want:
        raise InputError(f"input %{name} (a specialisation key) must have dtype {want} (type {declared}), "
                         f"got {arr.dtype}")
    if arr.ndim != declared.rank or any(isinstance(d, int) and d != n for d, n in zip(declared.shape, arr.shape)):
        raise InputError(f"input %{name} (a specialisation key) must have type {declared}, got shape "
                         f"{list(arr.shape)}")
    if arr.size > MAX_KEY_ELEMENTS:
        raise InputError(f"input %{name} sets shapes, so it is a specialisation key, and a key holds at most "
                         f"{MAX_KEY_ELEMENTS} numbers; it has {arr.size}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(f"input %{name} (a specialisation key) = {arr.tolist()} is not finite")
    return arr


def key_text(values: Dict[str, np.ndarray]) -> str:
    return ", ".join(f"%{k} = {np.asarray(v).tolist()}" for k, v in values.items())


class KeyedModel:
    """An ONNX model whose IR depends on the values of some inputs, its specialisation ``keys``.

    ``specialize(values)`` builds the ``Graph`` for one value of each key (``values`` maps input
    names to arrays; inputs that are not keys are ignored). Every graph it builds shares one
    array per parameter (``params``), so training one specialisation trains them all.
    """

    def __init__(self, name: str, inputs: Dict[str, TensorType], keys: KeysNeeded,
                 build: Callable[[Dict[str, np.ndarray], Dict[str, np.ndarray]], Graph]):
        self.name = name
        self.inputs = dict(inputs)  # every graph input, in order: its declared type
        self.keys: List[str] = []
        self.uses: Dict[str, str] = {}  # key -> where the import first needed it
        self.params: Dict[str, np.ndarray] = {}
        self._build = build
        self._found(keys)

    @property
    def input_names(self) -> List[str]:
        return list(self.inputs)

    def _found(self, need: KeysNeeded):
        for k in need.names:
            if k not in self.keys:
                self.keys.append(k)
                self.uses[k] = f"{need.what!r} of {need.where}"
        self.keys.sort(key=self.input_names.index)

    def specialize(self, values: Dict[str, object]) -> Graph:
        """The graph for these values of the keys (an InputError names a key whose value is refused)."""
        while True:  # each round finds at least one more key, so this ends
            missing = [k for k in self.keys if k not in values]
            if missing:
                raise InputError(f"model {self.name} specialises on the values of {', '.join(self.keys)}; "
                                 f"give a value for {', '.join(missing)}")
            keyed = {k: check_key(k, self.inputs[k], values[k]) for k in self.keys}
            try:
                return self._build(keyed, self.params)
            except KeysNeeded as need:
                self._found(need)
            except ChainruleError as err:
                raise InputError(f"input {key_text(keyed)} (a specialisation key of model {self.name}): {err}") from None

    def __repr__(self):
        keys = ", ".join(f"%{k} ({self.uses[k]})" for k in self.keys)
        return f"<KeyedModel {self.name}: inputs {', '.join(self.inputs)}; specialises on {keys}>"
