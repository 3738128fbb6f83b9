"""Algebraic simplification: a table of (pattern, rewrite) rules, applied until none fires.

Each rule looks at one node and returns what replaces its output: an existing
value (``x·1 → x``) or a new node (``Transpose(Transpose(x))`` → one
``Transpose``). A rule fires only if the replacement has *exactly* the node's
type: ``Mul(%x: f32[3], %ones: f32[2,3])`` is ``f32[2,3]``, a broadcast of x,
so it is not x and stays. Constants count as 1 or 0 when every element is;
``x + 0 → x`` turns ``-0.0`` into itself rather than ``+0.0`` (the only
difference IEEE arithmetic allows), and ``x·0`` is *not* a rule (``NaN·0`` is
NaN). Rules never look at parameters: they change while training.

    Before:                                          After:
      %one: f32[] = Constant() {value=dense<f32[]>1.0}   %t: f32[3,2] = Transpose(%x)
      %m: f32[2,3] = Mul(%x, %one)                       return %t
      %n: f32[2,3] = Neg(%m)
      %nn: f32[2,3] = Neg(%n)
      %t1: f32[3,2] = Transpose(%nn)
      %t2: f32[2,3] = Transpose(%t1)
      %t: f32[3,2] = Transpose(%t2)
      return %t

A new node is made ``by=simplify`` with the rule's name in ``rule=`` (keeping
the replaced node's phase and ``of=``); every rule that fired is listed, with
the node it fired on, in the pass result's ``notes``.
"""
from __future__ import annotations

from typing import Callable, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ..ir import Graph, IRTypeError, Node, Value, get_op
from ..ir.ops.shape import like_shape
from .manager import Pass, PassResult
from .rewrite import can_replace, constant_of, discard, emitter_for, replace_node

#: what a rule returns: an existing value, or a node to build (op name, inputs, attrs)
Rewrite = Union[Value, Tuple[str, Tuple[Value, ...], dict], None]


class Rule(NamedTuple):
    name: str  # e.g. "x·1 → x"; recorded when it fires
    op: str  # the op of the node it looks at
    fn: Callable[[Node], Rewrite]


def _all(v: Value, k: float) -> bool:
    c = constant_of(v)
    return c is not None and c.size > 0 and bool(np.all(c == k))


def _right_unit(k):
    return lambda n: n.inputs[0] if _all(n.inputs[1], k) else None


def _left_unit(k):
    return lambda n: n.inputs[1] if _all(n.inputs[0], k) else None


def _producer(v: Value, op: str) -> Optional[Node]:
    p = v.producer
    return p if p is not None and p.op.name == op else None


def _neg_neg(n: Node) -> Rewrite:
    inner = _producer(n.inputs[0], "Neg")
    return inner.inputs[0] if inner else None


def _perm(v: Value, attrs) -> Tuple[int, ...]:
    p = attrs["perm"]
    return tuple(range(v.type.rank))[::-1] if p is None else tuple(int(i) for i in p)


def _transpose_transpose(n: Node) -> Rewrite:
    inner = _producer(n.inputs[0], "Transpose")
    if inner is None:
        return None
    x = inner.inputs[0]
    p, q = _perm(x, inner.attrs), _perm(n.inputs[0], n.attrs)
    composed = tuple(p[i] for i in q)  # y[i] = t[q[i]] = x[p[q[i]]]
    if composed == tuple(range(x.type.rank)):
        return x
    return "Transpose", (x,), {"perm": composed}


def _identity_transpose(n: Node) -> Rewrite:
    x = n.inputs[0]
    return x if _perm(x, n.attrs) == tuple(range(x.type.rank)) else None


def _reshape_reshape(n: Node) -> Rewrite:
    inner = _producer(n.inputs[0], "Reshape") or _producer(n.inputs[0], "Flatten")
    if inner is None:
        return None
    x, want = inner.inputs[0], n.outputs[0].type
    if x.type == want:
        return x
    shape = tuple(n.attrs["shape"])
    if 0 in shape:  # 0 copied a dimension of the intermediate: spell the result shape out instead
        try:
            shape = like_shape(want)
        except IRTypeError:
            return None
    return "Reshape", (x,), {"shape": shape}


def _same_type(n: Node) -> Rewrite:
    """Reshape/Cast/Sum of one operand that leaves the type as it is: the operand itself."""
    x = n.inputs[0]
    return x if len(n.inputs) == 1 and x.type == n.outputs[0].type else None


def _matmul_add(n: Node) -> Rewrite:
    """``MatMul(x, W) + b`` with b a row: one ``Gemm(x, W, b)`` (the same operations, so the same
    bits), as exporters write a linear layer; fold-linear then sees Gemm pairs."""
    for k in (0, 1):
        mm = _producer(n.inputs[k], "MatMul")
        b = n.inputs[1 - k]
        if mm is None or len(mm.outputs[0].uses) != 1 or mm.graph.is_exported(mm.outputs[0]):
            continue
        x, w = mm.inputs
        row = b.type.rank == 1 or (b.type.rank == 2 and b.type.shape[0] == 1)
        if x.type.rank == 2 and w.type.rank == 2 and row:
            return "Gemm", (x, w, b), {}
    return None


RULES: List[Rule] = [
    Rule("x·1 → x", "Mul", _right_unit(1)),
    Rule("1·x → x", "Mul", _left_unit(1)),
    Rule("x+0 → x", "Add", _right_unit(0)),
    Rule("0+x → x", "Add", _left_unit(0)),
    Rule("x−0 → x", "Sub", _right_unit(0)),
    Rule("x/1 → x", "Div", _right_unit(1)),
    Rule("−(−x) → x", "Neg", _neg_neg),
    Rule("Transpose∘Transpose → Transpose", "Transpose", _transpose_transpose),
    Rule("Transpose(x, identity) → x", "Transpose", _identity_transpose),
    Rule("Reshape∘Reshape → Reshape", "Reshape", _reshape_reshape),
    Rule("Reshape(x) to x's type → x", "Reshape", _same_type),
    Rule("Identity(x) → x", "Identity", lambda n: n.inputs[0]),
    Rule("Sum(x) → x", "Sum", _same_type),
    Rule("Cast(x) to x's dtype → x", "Cast", _same_type),
    Rule("MatMul(x, W) + b → Gemm(x, W, b)", "Add", _matmul_add),
]


def _apply(graph: Graph, node: Node, rule: Rule, got: Rewrite, pass_name: str) -> bool:
    old = node.outputs[0]
    if isinstance(got, Value):
        if not can_replace(old, got):
            return False
        replace_node(graph, node, [got])
        return True
    opname, inputs, attrs = got
    try:
        types = get_op(opname).infer([v.type for v in inputs], get_op(opname).check_attrs(dict(attrs)))
    except IRTypeError:
        return False
    if types[0] != old.type:
        return False
    e = emitter_for(graph, node, pass_name, rule.name)
    made = e.emit(opname, inputs, attrs, name=old.name)
    if not can_replace(old, made.outputs[0]):
        discard(graph, [made])
        return False
    replace_node(graph, node, made.outputs, made=[made])
    return True


class Simplify(Pass):
    """Apply ``rules`` (default ``RULES``) to every node, repeatedly, until none fires."""

    name = "simplify"

    def __init__(self, rules: Optional[List[Rule]] = None):
        self.rules = list(RULES if rules is None else rules)

    def run(self, graph: Graph) -> PassResult:
        by_op = {}
        for r in self.rules:
            by_op.setdefault(r.op, []).append(r)
        notes: List[str] = []
        progress = True
        while progress:
            progress = False
            for node in list(graph.nodes):
                if node.graph is not graph:
                    continue  # removed by an earlier rewrite in this sweep
                for rule in by_op.get(node.op.name, ()):
                    name = node.name
                    got = rule.fn(node)
                    if got is not None and _apply(graph, node, rule, got, self.name):
                        notes.append(f"{rule.name} at %{name}")
                        progress = True
                        break
        return PassResult(graph, bool(notes), notes)


simplify = Simplify()
