"""The verifier: checks every invariant of the IR and explains a violation.

``verify(g)`` checks that:

1. names are unique (SSA: every value is defined once);
2. every operand is defined before its use, in node order (a scheduled graph);
3. use-lists agree with operands, in both directions;
4. each node's recorded output types equal the types its op infers;
5. outputs and updates refer to defined values; updates target parameters;
6. every parameter with an array has an array of its declared type;
7. a parameter is updated at most once per step (two updates would leave the
   executors to pick one, and they pick differently);
8. every specialisation key (``Graph.keys``) is a graph input, and its value has
   the input's (static) type.

A violation raises ``VerifyError`` showing the offending line of IR with a
few lines around it, marked ``>>``.
"""
from __future__ import annotations

from .errors import ChainruleError, VerifyError
from .printer import graph_lines, var


def _fail(g, msg, node=None, context=3, at=None):
    """Raise with the IR around ``node`` (or around text line ``at``: an index, "return", or
    ("return", k) for the k-th line after it) marked ``>>``."""
    line_of = {}
    try:
        lines = graph_lines(g, line_of=line_of)  # the printer's own line numbers (a fused node takes several)
    except ChainruleError:  # a node too broken to print (e.g. a bad fused body): no context
        lines, at, node = [], None, None
    if node is not None and id(node) in line_of:
        at = line_of[id(node)]
    elif at == "return" or isinstance(at, tuple):
        at = line_of["return"] + (at[1] if isinstance(at, tuple) else 0)
    if at is not None:
        lo, hi = max(0, at - context), min(len(lines), at + context + 1)
        shown = [(">> " if i == at else "   ") + lines[i] for i in range(lo, hi)]
        msg += "\n" + "\n".join(shown)
    raise VerifyError(f"graph {g.name}: {msg}")


def _use_set(v, cache):
    s = cache.get(id(v))
    if s is None:
        s = cache[id(v)] = {(id(u), i) for u, i in v.uses}
    return s


def verify(g) -> None:
    """Raise ``VerifyError`` if ``g`` breaks an IR invariant."""
    defined = {}
    for k, v in enumerate(list(g.inputs) + list(g.params)):
        if v.name in defined:
            _fail(g, f"%{v.name} is defined twice", at=1 + k)
        if v.producer is not None:
            _fail(g, f"graph input/parameter %{v.name} has a producer", at=1 + k)
        defined[v.name] = v
    for k, p in enumerate(g.params):
        arr = g.initializers.get(p.name)
        if arr is not None:
            if tuple(arr.shape) != p.type.shape or arr.dtype != p.type.dtype.numpy:
                _fail(g, f"parameter %{p.name} is declared {p.type} but its array is "
                         f"{arr.dtype}{list(arr.shape)}", at=1 + len(g.inputs) + k)
    node_ids = {id(n) for n in g.nodes}
    uses = {}  # id(value) -> set of (id(node), operand index): a use-list check in O(1)
    for node in g.nodes:
        if node.graph is not g:
            _fail(g, f"node {node.name} does not point back to this graph", node)
        for i, v in enumerate(node.inputs):
            if defined.get(v.name) is not v:
                why = "is not defined" if v.name not in defined else "is defined by another value of that name"
                _fail(g, f"operand {i} of {node.op.name}, {var(v.name)}, {why} before its use", node)
            if (id(node), i) not in _use_set(v, uses):
                _fail(g, f"{var(v.name)} is operand {i} of {node.name} but its use-list does not say so", node)
        for k, out in enumerate(node.outputs):
            if out.producer is not node or out.index != k:
                _fail(g, f"{var(out.name)} does not record {node.op.name} as its producer", node)
            if out.name in defined:
                _fail(g, f"{var(out.name)} is defined twice (SSA)", node)
            defined[out.name] = out
        try:  # arity and attributes first: a type rule (and a kernel) indexes them without checking
            node.op.check_arity(len(node.inputs))
            missing = [k for k in node.op.check_attrs(dict(node.attrs)) if k not in node.attrs]
            if missing:
                _fail(g, f"{node.op.name} node lacks attribute(s) {', '.join(missing)}", node)
            count = node.op.output_count(dict(node.attrs))
            if len(node.outputs) != count:
                _fail(g, f"{node.op.name} makes {count} result(s), the node has {len(node.outputs)}", node)
            inferred = node.op.infer([v.type for v in node.inputs], dict(node.attrs))
        except VerifyError:
            raise
        except ChainruleError as err:
            _fail(g, f"{node.op.name} rejects its operands: {err}", node)
        recorded = [o.type for o in node.outputs]
        if list(inferred) != recorded:
            _fail(g, f"{node.op.name} infers type {', '.join(map(str, inferred))} but the node records "
                     f"{', '.join(map(str, recorded))}", node)
    for v in defined.values():
        for user, i in v.uses:
            if id(user) not in node_ids:
                _fail(g, f"{var(v.name)} lists a use by a node that is not in the graph ({user.op.name})")
            if i >= len(user.inputs) or user.inputs[i] is not v:
                _fail(g, f"{var(v.name)} lists a use as operand {i} of {user.name}, which is another value", user)
    for v in g.outputs:
        if defined.get(v.name) is not v:
            _fail(g, f"output {var(v.name)} is not defined in the graph", at="return")
    updated = {}
    for k, (p, v) in enumerate(g.updates):
        if updated.setdefault(id(p), k) != k:
            _fail(g, f"{var(p.name)} is updated twice (update lines {updated[id(p)] + 1} and {k + 1}); "
                     f"a parameter takes one update per step", at=("return", 1 + k))
        if p.kind not in ("param", "state") or defined.get(p.name) is not p:
            _fail(g, f"update target {var(p.name)} is not a parameter of the graph", at=("return", 1 + k))
        if defined.get(v.name) is not v:
            _fail(g, f"update value {var(v.name)} is not defined in the graph", at=("return", 1 + k))
        if p.type != v.type:
            _fail(g, f"update of {var(p.name)}: {p.type} would become {v.type}", at=("return", 1 + k))
    inputs = {v.name: (k, v) for k, v in enumerate(g.inputs)}
    for name, arr in g.keys.items():
        if name not in inputs:
            _fail(g, f"specialisation key %{name} is not a graph input")
        k, v = inputs[name]
        if tuple(arr.shape) != v.type.shape or arr.dtype != v.type.dtype.numpy:
            _fail(g, f"specialisation key {var(name)} is declared {v.type} but holds {arr.dtype}{list(arr.shape)}",
                  at=1 + k)
