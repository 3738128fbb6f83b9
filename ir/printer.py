"""Print a graph as text. The text parses back (``ir.parser``) to the same text.

Grammar (``?`` optional, ``*`` repeated)::

    graph     := "graph" NAME "{" line* "}"
    line      := "input" VAR ":" TYPE ("key" KEYVALUE)?  # key: the value the graph is specialised for
               | "param" VAR ":" TYPE          # a trainable parameter
               | "state" VAR ":" TYPE          # optimizer state or another buffer
               | results "=" OP "(" vars? ")" attrs? meta?
               | "return" vars?
               | "update" VAR "<-" VAR         # in-place update after a step
               | "meta" (KEY | JSON-STRING) "=" JSON   # graph metadata: last, one line a key, sorted
               | results "=" "Fused" "(" vars ")" meta? "{" NEWLINE step* "}"  # body: one step a line
    step      := VAR ":" TYPE "=" OP "(" vars ")" attrs?  # operands: the node's inputs or earlier steps
    results   := VAR ":" TYPE ("," VAR ":" TYPE)*
    vars      := VAR ("," VAR)*
    VAR       := "%" NAME | "%" JSON-STRING    # e.g. %fc1.weight, %"onnx::Gemm_0"
    TYPE      := DTYPE "[" (DIM ("," DIM)*)? "]"   # f32[N,784]; a DIM is an int or a symbol
    attrs     := "{" KEY "=" VALUE ("," KEY "=" VALUE)* "}"
    VALUE     := INT | FLOAT | JSON-STRING | "true" | "false" | "none" | DTYPE
               | "[" (VALUE ("," VALUE)*)? "]"
               | "dense<" TYPE ">" NESTED-LIST  # a tensor, e.g. dense<f32[2]>[1.0, 2.0]
    meta      := "#[" (KEY "=" (NAME | VAR | JSON-STRING))* "]"
    KEYVALUE  := NESTED-LIST of the input's TYPE   # e.g. input %shape: i64[2] key [3, 8]

An input line ending in ``key [3, 8]`` is a specialisation key (``Graph.keys``): the
graph was built for that value of the input, and the runtime refuses any other.

``meta`` records provenance: ``by`` (the pass that made the node, omitted for
the frontend), ``phase`` (omitted for forward), ``of`` (for a gradient node,
the forward value whose vjp made it) and ``rule`` (the chain-rule step).
``meta`` lines hold the graph's ``meta`` (``Graph.set_meta``), such as the class
labels of an imported classifier: ``meta classes.probabilities = [0, 1, 2]``.

Example::

    graph logistic {
      input %x: f32[N,2]
      param %w: f32[1,2]
      param %b: f32[1]
      %z: f32[N,1] = Gemm(%x, %w, %b) {transB=1}
      %y: f32[N,1] = Sigmoid(%z)
      return %y
    }
"""
from __future__ import annotations

import json
import re
from typing import Optional

import numpy as np

from .types import DType, TensorType

_BARE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]*$")


def var(name: str) -> str:
    return "%" + (name if _BARE.match(name) else json.dumps(name, ensure_ascii=False))


def meta_key(key: str) -> str:
    """A graph metadata key as written: bare if it is a word, else a JSON string."""
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key) else json.dumps(key, ensure_ascii=False)


def _scalar(x, dtype: DType) -> str:
    if dtype == DType.bool:
        return "true" if x else "false"
    if dtype.is_float:
        return _float(x, dtype)
    return str(int(x))


def _float(x, dtype: DType = DType.f64) -> str:
    x = float(x) if dtype == DType.f64 else x
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    s = repr(float(x)) if dtype == DType.f64 else str(dtype.numpy.type(x))
    return s if any(c in s for c in ".en") else s + ".0"


def _nested(a: np.ndarray, dtype: DType) -> str:
    if a.ndim == 0:
        return _scalar(a.item() if dtype != DType.f32 and dtype != DType.f16 else a, dtype)
    return "[" + ", ".join(_nested(x, dtype) for x in a) + "]"


def format_attr(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _float(float(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, DType):
        return v.value
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    if isinstance(v, np.ndarray):
        dt = DType.of(v.dtype)
        return f"dense<{TensorType(v.shape, dt)}>{_nested(v, dt)}"
    raise TypeError(f"cannot print attribute value of type {type(v).__name__}")


def derived_rule(node, values=None):
    """The rule a gradient node inherits from the op of the forward value it differentiates."""
    if node.prov.grad_of is None:
        return None
    fwd = values.get(node.prov.grad_of) if values is not None else None
    if fwd is None and node.graph is not None:
        fwd = next((v for v in node.graph.all_values() if v.name == node.prov.grad_of), None)
    return fwd.producer.op.rule if fwd is not None and fwd.producer is not None else None


def format_meta(node, values=None) -> str:
    """``#[by=… phase=… of=%v rule="…"]``; the rule is printed only when it is not the
    forward op's own rule (which ``derived_rule`` recovers)."""
    p = node.prov
    parts = []
    if p.created_by != "frontend":
        parts.append(f"by={var(p.created_by)[1:]}")  # quoted when not a bare word (fuse-elementwise)
    if p.phase != "forward":
        parts.append(f"phase={p.phase}")
    if p.grad_of is not None:
        parts.append(f"of={var(p.grad_of)}")
    if p.rule and p.rule != derived_rule(node, values):
        parts.append(f"rule={json.dumps(p.rule, ensure_ascii=False)}")
    return f" #[{' '.join(parts)}]" if parts else ""


def _is_default(op, k, v) -> bool:
    d = op.attrs.get(k)
    return type(v) is type(d) and not isinstance(v, np.ndarray) and v == d


def format_node(node, meta: bool = True, values=None) -> str:
    """One node as text; attributes equal to the op's defaults are left out."""
    results = ", ".join(f"{var(o.name)}: {o.type}" for o in node.outputs)
    args = ", ".join(var(v.name) for v in node.inputs)
    region = getattr(node.op, "region_attr", None)  # e.g. a Fused node's body: printed by region_lines
    attrs = ", ".join(f"{k}={format_attr(v)}" for k, v in node.attrs.items()
                      if not _is_default(node.op, k, v) and k != region)
    text = f"{results} = {node.op.name}({args})"
    if attrs:
        text += " {" + attrs + "}"
    return text + (format_meta(node, values) if meta else "")


def region_lines(node, indent: str = "    "):
    """A fused node's body, one step a line; operands by name (the node's inputs, then earlier steps)."""
    from .ops import OPS
    from .ops.fused import as_body, step_types
    body = as_body(node.attrs[node.op.region_attr])
    names = [v.name for v in node.inputs] + [step.name for step in body]
    types = step_types([v.type for v in node.inputs], body)
    out = []
    for step, t in zip(body, types):
        shown = ", ".join(f"{k}={format_attr(v)}" for k, v in step.attrs if not _is_default(OPS[step.op], k, v))
        text = f"{indent}{var(step.name)}: {t} = {step.op}({', '.join(var(names[r]) for r in step.refs)})"
        out.append(text + (" {" + shown + "}" if shown else ""))
    return out


def key_text(g, v) -> str:
    """`` key [3, 8]`` after a specialisation key's input line (``Graph.keys``), else ``""``."""
    arr = g.keys.get(v.name)
    return "" if arr is None else f" key {_nested(arr, v.type.dtype)}"


def graph_lines(g, meta: bool = True, line_of: Optional[dict] = None):
    """The graph as a list of text lines (one per input, param, node...); ``line_of``, if given, is
    filled with id(node) -> index of the node's line, and "return" -> the return line."""
    line_of = {} if line_of is None else line_of
    name = g.name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", g.name) else json.dumps(g.name, ensure_ascii=False)
    lines = [f"graph {name} {{"]
    lines += [f"  input {var(v.name)}: {v.type}" + key_text(g, v) for v in g.inputs]
    lines += [f"  {v.kind} {var(v.name)}: {v.type}" for v in g.params]
    values = {v.name: v for v in g.all_values()} if meta else None
    for n in g.nodes:
        line_of[id(n)] = len(lines)
        lines.append("  " + format_node(n, meta, values))
        if getattr(n.op, "region_attr", None):
            lines[-1] += " {"
            lines += region_lines(n) + ["  }"]
    line_of["return"] = len(lines)
    lines.append("  return" + ("" if not g.outputs else " " + ", ".join(var(v.name) for v in g.outputs)))
    lines += [f"  update {var(p.name)} <- {var(v.name)}" for p, v in g.updates]
    lines += [f"  meta {meta_key(k)} = {json.dumps(g.meta[k], ensure_ascii=False, sort_keys=True)}"
              for k in sorted(g.meta)]
    lines.append("}")
    return lines


def print_graph(g, meta: bool = True) -> str:
    """The text form of ``g``; ``meta=False`` leaves out provenance comments."""
    return "\n".join(graph_lines(g, meta)) + "\n"
