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
so they always agree with the operands. Iteration is always over lists
or insertion-ordered dicts, never sets, so every walk of a graph is
deterministic.

Every edit a rewrite makes costs O(1), so a pass over n nodes is O(n) however
many rewrites fire: a use is found by its key ``(node, index)``; removing a
node leaves a gap in the node list and inserting one before another is
noted beside it, both settled in one O(n) sweep the next time ``graph.nodes``
is read; ``is_exported`` looks in a set kept until the outputs or updates
change; ``nodes_of`` finds the gradient nodes naming a value in ``of=``.
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


class Uses:
    """The uses of one value, ``(node, input index)`` pairs in the order they were made.

    It reads like a list (iterate, ``len``, ``uses[0]``, ``==`` a list) but is a dict keyed by
    ``(id(node), index)``, so ``remove`` is O(1): a constant read 10,000 times loses one use
    in one step, not in a scan of the other 9,999. A dict keeps insertion order, so the order
    of the uses, and every walk over them, is the same on every run.
    """

    __slots__ = ("_by_key",)

    def __init__(self, uses=()):
        self._by_key: Dict[Tuple[int, int], Tuple["Node", int]] = {}
        for use in uses:
            self.append(use)

    def append(self, use: Tuple["Node", int]) -> None:
        node, i = use
        self._by_key[(id(node), i)] = (node, i)

    def remove(self, use: Tuple["Node", int]) -> None:
        node, i = use
        if self._by_key.pop((id(node), i), None) is None:
            raise ValueError(f"operand {i} of {node.name} is not a use of this value")

    def clear(self) -> None:
        self._by_key.clear()

    def __contains__(self, use) -> bool:
        node, i = use
        return (id(node), i) in self._by_key

    def __iter__(self):
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def __getitem__(self, k):
        if k == 0 and self._by_key:
            return next(iter(self._by_key.values()))
        return list(self._by_key.values())[k]

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self):
        return repr(list(self))


class Value:
    """One SSA value: a name, a type, one producer and its uses."""

    __slots__ = ("name", "type", "producer", "index", "uses", "kind", "graph")

    def __init__(self, name: str, type: TensorType, producer: Optional["Node"] = None, index: int = 0,
                 kind: str = "node"):
        self.name = name
        self.type = type
        self.producer = producer  # the defining node; None for graph inputs and parameters
        self.index = index  # which output of the producer
        self.uses = Uses()
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
        g = self.graph
        if g is not None and g.is_exported(self):
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


class _Interface(list):
    """``Graph.outputs`` and ``Graph.updates``: a list that, whenever it changes, drops its graph's
    set of exported values (made again on the next ``is_exported``), so a look-up is O(1)."""

    __slots__ = ("_graph",)

    def __init__(self, graph: "Graph", items=()):
        super().__init__(items)
        self._graph = graph


def _forgets_exported(name):
    method = getattr(list, name)

    def changed(self, *args, **kwargs):
        self._graph._exported = None
        return method(self, *args, **kwargs)
    changed.__name__ = name
    return changed


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend", "insert", "pop",
              "remove", "clear", "sort", "reverse"):
    setattr(_Interface, _name, _forgets_exported(_name))


class Graph:
    """A computation graph: inputs, parameters, nodes in program order, outputs."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: List[Value] = []
        self.params: List[Value] = []  # trainable parameters and state (kind "param" / "state")
        self.initializers: Dict[str, np.ndarray] = {}
        self._exported: Optional[set] = None  # id of every output and update value; None: to be made
        self.nodes = []
        self.outputs = []
        self.updates = []  # (parameter, its new value) after a step
        self.meta: Dict[str, object] = {}  # key -> JSON value, printed as `meta KEY = JSON` lines
        self.keys: Dict[str, np.ndarray] = {}  # input name -> the value this graph is specialised for
        self._names: Dict[str, int] = {}
        self._of: Optional[Dict[str, List[Node]]] = None  # of= name -> nodes (nodes_of); made on first use

    # -- the node list: gaps and insertions settled when it is next read ------
    @property
    def nodes(self) -> List[Node]:
        """The nodes in program order (a list; assigning a new list reorders the graph)."""
        if self._unsettled:
            self._order = self._settle()
        return self._order

    @nodes.setter
    def nodes(self, order: List[Node]) -> None:
        self._order = order if isinstance(order, list) else list(order)
        self._before: Dict[int, List[Node]] = {}  # id(node) -> nodes inserted before it, in insertion order
        self._unsettled = False  # removed nodes left in _order, or nodes waiting in _before

    def _settle(self) -> List[Node]:
        """The order with the removed nodes left out and each waiting node placed just before its
        anchor, after the ones inserted there earlier (an explicit stack: chains of inserts are deep)."""
        out, before = [], self._before
        for first in self._order:
            stack = [(first, iter(before.pop(id(first), ())))]
            while stack:
                node, waiting = stack[-1]
                nxt = next(waiting, None)
                if nxt is not None:
                    stack.append((nxt, iter(before.pop(id(nxt), ()))))
                    continue
                stack.pop()
                if node.graph is self:
                    out.append(node)
        if before:  # inserted before a node that a reorder (graph.nodes = ...) left out
            lost = next(iter(before.values()))[0]
            raise GraphError(f"graph {self.name!r}: node {lost.name} ({lost.op.name}) was inserted before a node "
                             f"that is not in the node list")
        self._unsettled = False
        return out

    # -- graph outputs and updates -------------------------------------------
    @property
    def outputs(self) -> List[Value]:
        return self._outputs

    @outputs.setter
    def outputs(self, values: Sequence[Value]) -> None:
        self._outputs = _Interface(self, values)
        self._exported = None

    @property
    def updates(self) -> List[Tuple[Value, Value]]:
        return self._updates

    @updates.setter
    def updates(self, pairs: Sequence[Tuple[Value, Value]]) -> None:
        self._updates = _Interface(self, pairs)
        self._exported = None

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

    def nodes_of(self, name: str) -> List[Node]:
        """The nodes of this graph whose provenance says ``of=name`` (the gradient nodes of the value
        ``name``), in creation order. An index, made on first use and kept by ``add_node`` and
        ``set_grad_of``: change ``prov.grad_of`` of a node in a graph through ``set_grad_of``."""
        if self._of is None:
            self._of = {}
            for n in self.nodes:
                if n.prov.grad_of is not None:
                    self._of.setdefault(n.prov.grad_of, []).append(n)
        found = [n for n in self._of.get(name, ()) if n.graph is self and n.prov.grad_of == name]
        if found:
            self._of[name] = found
        else:
            self._of.pop(name, None)
        return list(found)

    def set_grad_of(self, node: Node, name: Optional[str]) -> None:
        """Make ``node`` record ``of=name`` (the forward value its gradient rule differentiates)."""
        node.prov.grad_of = name
        if self._of is not None and name is not None:
            self._of.setdefault(name, []).append(node)

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
        if before is not None and before.graph is not self:
            raise GraphError(f"cannot insert a {node.op.name} node before {before.name}: it is not in graph "
                             f"{self.name!r}")
        node.graph = self
        for i, v in enumerate(node.inputs):
            v.uses.append((node, i))
        for k, (t, nm) in enumerate(zip(out_types, out_names)):
            out = Value(self.unique_name(nm), t, producer=node, index=k)
            out.graph = self
            node.outputs.append(out)
        if before is None:
            self._order.append(node)
        else:  # placed when the list is next read (_settle): O(1) now, however long the graph
            self._before.setdefault(id(before), []).append(node)
            self._unsettled = True
        if self._of is not None and node.prov.grad_of is not None:
            self._of.setdefault(node.prov.grad_of, []).append(node)
        return node

    def _exported_set(self) -> set:
        if self._exported is None:
            self._exported = {id(v) for v in self._outputs} | {id(v) for _, v in self._updates}
        return self._exported

    def is_exported(self, v: Value) -> bool:
        """Is ``v`` part of the graph's interface: an output, or the new value of an update?"""
        return id(v) in self._exported_set()

    def exported_ids(self) -> set:
        """``id`` of every exported value (outputs and updates), for membership tests in a loop."""
        return set(self._exported_set())

    def remove_node(self, node: Node) -> None:
        """Remove a node whose outputs are unused; refuses otherwise."""
        self.remove_nodes([node])

    def remove_nodes(self, dead: Sequence[Node]) -> None:
        """Remove unused nodes (in any order), in time proportional to their uses; refuses to remove a
        node whose output is still used by a node that stays, or is a graph output or update."""
        dead = list({id(n): n for n in dead}.values())
        dead_ids = {id(n) for n in dead}
        for node in dead:
            if node.graph is not self:
                raise GraphError(f"cannot remove node {node.name} ({node.op.name}): it is not in graph {self.name!r}")
            for out in node.outputs:
                users = sorted({u.name for u, _ in out.uses if id(u) not in dead_ids})
                if users:
                    raise GraphError(f"cannot remove node {node.name} ({node.op.name}): %{out.name} is still used "
                                     f"by {', '.join(users)}")
                if self.is_exported(out):
                    raise GraphError(f"cannot remove node {node.name} ({node.op.name}): %{out.name} is a graph output")
        for node in dead:
            for out in node.outputs:
                self._names.pop(out.name, None)
            for i, v in enumerate(node.inputs):
                v.uses.remove((node, i))
            node.graph = None  # its place in the node list is dropped when the list is next read
        self._unsettled = self._unsettled or bool(dead)

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
