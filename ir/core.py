"""The graph IR: values, nodes and graphs.

A ``Value`` is an SSA name: it has exactly one producer (a node, or the graph
itself for inputs and parameters) and a list of uses ``(node, input_index)``,
so ``x + x`` is two uses of one value. A ``Node`` applies one op to input
values and defines one or more output values. A ``Graph`` holds its inputs,
its parameters (with their arrays), its nodes in program order, its outputs,
the in-place updates a training step performs on its parameters, and ``meta``:
facts about the graph that are not computation, as JSON values under string keys
(the class labels of an imported classifier's outputs, ``classes.<output>`` and
``labels.<output>``; see ``set_meta``).

Some inputs may be specialisation keys (``Graph.keys``): inputs whose value
the graph was built for, such as a reshape target that an ONNX model feeds as
an input. The graph is valid only for that value; a call with another value
is refused (a compiled model makes one graph per value, ``frontends/compile.py``).

Use-lists are changed only by the methods here (``Graph.add_node``,
``Graph.remove_node``, ``Node.set_input``, ``Value.replace_all_uses_with``),
so they always agree with the operands. Iteration is always over lists,
never sets, so every walk of a graph is deterministic.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import GraphError
from .types import TensorType

#: Phases a node can belong to; dumps colour them differently.
PHASES = ("forward", "backward", "update")


class Value:
    """One SSA value: a name, a type, one producer and its uses."""

    __slots__ = ("name", "type", "producer", "index", "uses", "kind", "graph")

    def __init__(self, name: str, type: TensorType, producer: Optional["Node"] = None, index: int = 0,
                 kind: str = "node"):
        self.name = name
        self.type = type
        self.producer = producer  # the defining node; None for graph inputs and parameters
        self.index = index  # which output of the producer
        self.uses: List[Tuple["Node", int]] = []
        self.kind = kind  # "input", "param", "state" or "node"
        self.graph: Optional["Graph"] = None

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def consumers(self) -> List["Node"]:
        """Distinct nodes that use this value, in use order."""
        seen, out = set(), []
        for node, _ in self.uses:
            if id(node) not in seen:
                seen.add(id(node))
                out.append(node)
        return out

    def replace_all_uses_with(self, new: "Value") -> None:
        """Make every user of this value use ``new`` instead (graph outputs too)."""
        if new is self:
            return
        for node, i in list(self.uses):
            node.set_input(i, new)
        if self.graph is not None:
            g = self.graph
            g.outputs = [new if v is self else v for v in g.outputs]
            g.updates = [(p, new if v is self else v) for p, v in g.updates]

    def __repr__(self):
        return f"%{self.name}: {self.type}"


@dataclass
class Provenance:
    """Where a node came from: the pass that made it and, for gradient nodes, why."""

    created_by: str = "frontend"
    phase: str = "forward"
    grad_of: Optional[str] = None  # name of the forward value whose vjp emitted this node
    rule: Optional[str] = None  # the local chain-rule formula, in the lecture's bar notation
    source: Optional[str] = None  # "file.py:line" of the user's code that made the node


class Node:
    """One application of an op: ``outputs = op(inputs) {attrs}``."""

    __slots__ = ("op", "attrs", "inputs", "outputs", "prov", "graph")

    def __init__(self, op, inputs: Sequence[Value], attrs: Optional[dict] = None, prov: Optional[Provenance] = None):
        self.op = op  # an Op instance from the registry (ir.ops)
        self.attrs = MappingProxyType(dict(sorted((attrs or {}).items())))
        self.inputs: List[Value] = list(inputs)
        self.outputs: List[Value] = []
        self.prov = prov or Provenance()
        self.graph: Optional["Graph"] = None

    @property
    def name(self) -> str:
        """A node is known by its first output's name: stable across passes."""
        return self.outputs[0].name if self.outputs else f"<{self.op.name}>"

    def set_input(self, i: int, new: Value) -> None:
        old = self.inputs[i]
        old.uses.remove((self, i))
        self.inputs[i] = new
        new.uses.append((self, i))

    def __repr__(self):
        from .printer import format_node
        return format_node(self)


class Graph:
    """A computation graph: inputs, parameters, nodes in program order, outputs."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: List[Value] = []
        self.params: List[Value] = []  # trainable parameters and state (kind "param" / "state")
        self.initializers: Dict[str, np.ndarray] = {}
        self.nodes: List[Node] = []
        self.outputs: List[Value] = []
        self.updates: List[Tuple[Value, Value]] = []  # (parameter, its new value) after a step
        self.meta: Dict[str, object] = {}  # key -> JSON value, printed as `meta KEY = JSON` lines
        self.keys: Dict[str, np.ndarray] = {}  # input name -> the value this graph is specialised for
        self._names: Dict[str, int] = {}

    # -- naming ------------------------------------------------------------
    def unique_name(self, hint: str) -> str:
        """``hint`` if free, else ``hint.1``, ``hint.2``...: deterministic in creation order."""
        hint = hint or "t"
        if hint not in self._names:
            self._names[hint] = 0
            return hint
        k = self._names[hint]
        while True:
            k += 1
            cand = f"{hint}.{k}"
            if cand not in self._names:
                self._names[hint] = k
                self._names[cand] = 0
                return cand

    def rename(self, value: Value, hint: str) -> None:
        """Give ``value`` the name ``hint`` (made unique); its old name is freed."""
        if value.name == hint:
            return
        self._names.pop(value.name, None)
        old, value.name = value.name, self.unique_name(hint)
        if value.kind == "input" and old in self.keys:
            self.keys[value.name] = self.keys.pop(old)

    # -- graph inputs and parameters ----------------------------------------
    def _new_leaf(self, name, type, kind):
        if name in self._names:
            raise GraphError(f"graph {self.name!r} already has a value named {name!r}")
        self._names[name] = 0
        v = Value(name, type, kind=kind)
        v.graph = self
        return v

    def add_input(self, name: str, type: TensorType) -> Value:
        v = self._new_leaf(name, type, "input")
        self.inputs.append(v)
        return v

    def set_key(self, value: Value, array) -> None:
        """Make input ``value`` a specialisation key: the graph holds only when it is fed ``array``
        (of the input's static type), a read-only copy of which is kept."""
        if not any(v is value for v in self.inputs):
            raise GraphError(f"only a graph input can be a specialisation key, not %{value.name} ({value.kind})")
        arr = np.array(array, dtype=value.type.dtype.numpy)
        if not value.type.is_static or arr.shape != value.type.shape:
            raise GraphError(f"specialisation key %{value.name}: {value.type} cannot hold a value of shape "
                             f"{list(arr.shape)}")
        arr.flags.writeable = False
        self.keys[value.name] = arr

    def add_param(self, name: str, array: Optional[np.ndarray] = None, type: Optional[TensorType] = None,
                  kind: str = "param") -> Value:
        """A named parameter (``kind="param"``, trainable) or state buffer (``"state"``)."""
        if kind not in ("param", "state"):
            raise GraphError(f"parameter kind must be 'param' or 'state', not {kind!r}")
        if array is not None:
            array = np.asarray(array)
            type = type or TensorType(array.shape, array.dtype)
        if type is None:
            raise GraphError(f"parameter {name!r} needs an array or a type")
        v = self._new_leaf(name, type, kind)
        self.params.append(v)
        if array is not None:
            self.initializers[name] = array
        return v

    def remove_param(self, value: Value) -> None:
        """Remove an unused parameter (and its array); refuses while anything reads or updates it."""
        if value.uses or any(p is value for p, _ in self.updates) or any(v is value for v in self.outputs):
            raise GraphError(f"cannot remove parameter %{value.name}: it is still used")
        self.params.remove(value)
        self.initializers.pop(value.name, None)
        self._names.pop(value.name, None)
        value.graph = None

    def param(self, name: str) -> Value:
        for v in self.params:
            if v.name == name:
                return v
        raise GraphError(f"graph {self.name!r} has no parameter {name!r}; "
                         f"parameters: {', '.join(p.name for p in self.params) or '(none)'}")

    def value(self, name: str) -> Value:
        """Find a value by name (inputs, parameters, node outputs)."""
        for v in self.all_values():
            if v.name == name:
                return v
        raise GraphError(f"graph {self.name!r} has no value named {name!r}")

    def all_values(self):
        yield from self.inputs
        yield from self.params
        for n in self.nodes:
            yield from n.outputs

    # -- nodes -------------------------------------------------------------
    def add_node(self, node: Node, out_types: Sequence[TensorType], out_names: Sequence[str],
                 before: Optional[Node] = None) -> Node:
        """Insert ``node`` (at the end, or before ``before``) and create its outputs."""
        if node.graph is not None:
            raise GraphError(f"node {node.name} is already in a graph")
        for i, v in enumerate(node.inputs):
            if v.graph is not self:
                raise GraphError(f"input {i} (%{v.name}) of a new {node.op.name} node belongs to another graph")
        node.graph = self
        for i, v in enumerate(node.inputs):
            v.uses.append((node, i))
        for k, (t, nm) in enumerate(zip(out_types, out_names)):
            out = Value(self.unique_name(nm), t, producer=node, index=k)
            out.graph = self
            node.outputs.append(out)
        if before is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(self.nodes.index(before), node)
        return node

    def is_exported(self, v: Value) -> bool:
        """Is ``v`` part of the graph's interface: an output, or the new value of an update?"""
        return any(o is v for o in self.outputs) or any(u is v for _, u in self.updates)

    def exported_ids(self) -> set:
        """``id`` of every exported value (outputs and updates), for membership tests in a loop."""
        return {id(v) for v in self.outputs} | {id(v) for _, v in self.updates}

    def remove_node(self, node: Node) -> None:
        """Remove a node whose outputs are unused; refuses otherwise."""
        self.remove_nodes([node])

    def remove_nodes(self, dead: Sequence[Node]) -> None:
        """Remove unused nodes (consumers first), in one pass over the list; refuses to remove a node
        whose output is still used by a node that stays, or is a graph output or update."""
        dead_ids = {id(n) for n in dead}
        exported = self.exported_ids()
        for node in dead:
            for out in node.outputs:
                users = sorted({u.name for u, _ in out.uses if id(u) not in dead_ids})
                if users:
                    raise GraphError(f"cannot remove node {node.name} ({node.op.name}): %{out.name} is still used "
                                     f"by {', '.join(users)}")
                if id(out) in exported:
                    raise GraphError(f"cannot remove node {node.name} ({node.op.name}): %{out.name} is a graph output")
        for node in dead:
            for out in node.outputs:
                self._names.pop(out.name, None)
            node.graph = None
        inputs = {id(v): v for n in dead for v in n.inputs}  # each use-list filtered once: linear, not quadratic
        for v in inputs.values():
            v.uses = [(u, i) for u, i in v.uses if id(u) not in dead_ids]
        self.nodes = [n for n in self.nodes if id(n) not in dead_ids]

    def set_outputs(self, values: Sequence[Value]) -> None:
        self.outputs = list(values)

    def add_update(self, param: Value, new: Value) -> None:
        """Record that after a step, parameter/state ``param`` takes the value ``new``."""
        if param.kind not in ("param", "state"):
            raise GraphError(f"only parameters and state can be updated, not %{param.name} ({param.kind})")
        self.updates.append((param, new))

    def set_meta(self, key: str, value) -> None:
        """Record ``value`` (made of JSON: lists, strings, numbers, booleans, None, objects) under
        ``key``. By convention ``classes.<output>`` lists the class label of each column of a
        probability output and ``labels.<output>`` the labels an output's class indices stand for."""
        if not isinstance(key, str) or not key:
            raise GraphError(f"graph {self.name!r}: a metadata key must be a non-empty string, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise GraphError(f"graph {self.name!r}: metadata {key!r} must be a JSON value: {err}") from None
        self.meta[key] = copy.deepcopy(value)

    # -- copying -----------------------------------------------------------
    def clone(self) -> "Graph":
        """A deep copy of the structure; parameter arrays are shared, not copied."""
        g = Graph(self.name)
        vmap: Dict[int, Value] = {}
        for v in self.inputs:
            vmap[id(v)] = g.add_input(v.name, v.type)
        g.keys = dict(self.keys)
        for v in self.params:
            vmap[id(v)] = g.add_param(v.name, type=v.type, kind=v.kind)
        g.initializers = dict(self.initializers)
        for n in self.nodes:
            m = Node(n.op, [vmap[id(v)] for v in n.inputs], dict(n.attrs), Provenance(**vars(n.prov)))
            g.add_node(m, [o.type for o in n.outputs], [o.name for o in n.outputs])
            for o, mo in zip(n.outputs, m.outputs):
                vmap[id(o)] = mo
        g.outputs = [vmap[id(v)] for v in self.outputs]
        g.updates = [(vmap[id(p)], vmap[id(v)]) for p, v in self.updates]
        g.meta = copy.deepcopy(self.meta)
        return g

    def __str__(self):
        from .printer import print_graph
        return print_graph(self)

    def __repr__(self):
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.params)} params, {len(self.nodes)} nodes>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """A notebook cell's display (``ir/display.py``): the IR coloured by phase, or a picture."""
        from .display import graph_bundle
        return graph_bundle(self, repr(self))
