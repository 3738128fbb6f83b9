"""Explain a gradient in the lecture's notation (v̄ = dL/dv).

    print(cr.explain_grad(graph, "w"))

For the L2-regularised example (z = wx + b, y = σ(z), L = ½(y − t)²,
R = ½w², L_reg = L + λR) this prints the lecture's backward pass::

    L̄_reg = 1
    R̄ = L̄_reg ∂L_reg/∂R = L̄_reg λ
    L̄ = L̄_reg ∂L_reg/∂L = L̄_reg
    ȳ = L̄ ∂L/∂y = L̄ (y − t)
    z̄ = ȳ ∂y/∂z = ȳ σ′(z)
    w̄ = z̄ ∂z/∂w + R̄ ∂R/∂w = z̄ x + R̄ w
    b̄ = z̄ ∂z/∂b = z̄

Each line is v̄ = Σⱼ v̄ⱼ ∂vⱼ/∂v over the children vⱼ of v. Values the user did
not name (``mul``, ``square``, constants ``c``) are folded into their
consumers, so z = Add(Mul(w, x), b) reads z̄ x. Then come the forward
node(s), the op's rule, the backward IR autodiff emitted (with its ``Sum``
at a fan-out), and optionally the numbers for one batch.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from ...ir import GraphError, Graph, Value
from ...ir.ops.base import HOLE, Term
from ...ir.ops.shape import Constant
from ...ir.printer import format_node
from ...passes import backward
from ...passes.analysis import nodes_between
from ...runtime import Interpreter
from .display import Explanation

SYMBOLS = {"lam": "λ", "lambda": "λ", "alpha": "α", "beta": "β", "sigma": "σ", "eta": "η"}


def sym(v: Value) -> str:
    return SYMBOLS.get(v.name, v.name)


def bar(name: str) -> str:
    """v̄ in the lecture's notation: z̄, L̄_reg, W̄1; longer names as grad_<name> (the IR's name)."""
    name = SYMBOLS.get(name, name)
    if len(name) == 1 or (len(name) > 2 and name[1] == "_" and name[0].isalpha()) or re.fullmatch(r"[A-Za-z]\d+", name):
        return name[0] + "\u0304" + name[1:]
    return f"grad_{name}"


def anonymous(v: Value) -> bool:
    """A value the user did not name: its name is its op's default (mul, mul.1, c, square...)."""
    if v.producer is None:
        return False
    base = re.sub(r"\.\d+$", "", v.name)
    return base == v.producer.op.name.lower() or (isinstance(v.producer.op, Constant) and base == "c")


def _const(v: Value):
    if v.producer is not None and isinstance(v.producer.op, Constant) and anonymous(v):
        a = np.asarray(v.producer.attrs["value"])
        if a.size == 1:
            return float(a.reshape(()))
    return None


class _Notation:
    """How explain names values in an op's ``lecture`` term (see ``Op.lecture``)."""
    sym = staticmethod(sym)
    const = staticmethod(_const)


def local(node, i: int) -> Term:
    """v̄ⱼ ∂vⱼ/∂vᵢ for input i of node j, as (coefficient, template with HOLE for v̄ⱼ): the op's own
    ``lecture`` facet."""
    return node.op.lecture(node, i, _Notation)


def _fill(template: str, expr: str) -> str:
    if template == HOLE:
        return expr
    if " " in expr or expr.startswith("−"):
        expr = f"({expr})"
    return template.replace(HOLE, expr)


def _fmt_terms(terms: List[Term]) -> str:
    out = []
    for k, (c, e) in enumerate(terms):
        if abs(c - 1.0) < 1e-12:
            s = e
        elif abs(c + 1.0) < 1e-12:
            s = "−" + e
        else:
            s = f"{c:g} {e}"
        if k and s.startswith("−"):
            out.append("− " + s[1:])
        else:
            out.append(("+ " if k else "") + s)
    return " ".join(out) if out else "0"


def backprop_lines(graph: Graph, loss: Optional[Value] = None, wrt: Optional[List[Value]] = None):
    """[(value, general form, instantiated form)] for each named value, in backward order."""
    loss = loss or graph.outputs[0]
    wrt = wrt if wrt is not None else [p for p in graph.params if p.kind == "param"]
    between = nodes_between(graph, wrt, [loss])
    on_path = {id(o) for n in between for o in n.outputs} | {id(v) for v in wrt}
    # value -> terms (coefficient, expression, the named value the term comes through)
    expr: Dict[int, List[Tuple[float, str, Value]]] = {id(loss): [(1.0, bar(loss.name), loss)]}
    lines = [(loss, "", "1")]
    seen = {id(loss)}
    # reverse topological order: every consumer of v is done before v itself
    for v in [o for n in reversed(between) for o in n.outputs] + [w for w in wrt if w.producer is None]:
        if id(v) in seen or id(v) not in on_path:
            continue
        seen.add(id(v))
        terms = []
        for node, i in v.uses:
            out = node.outputs[0]
            if id(out) not in expr:
                continue
            c, tmpl = local(node, i)
            terms += [(c * c0, _fill(tmpl, e), origin) for c0, e, origin in expr[id(out)]]
        if not terms:
            continue
        if anonymous(v):  # an unnamed value is folded into the lines of its parents
            expr[id(v)] = terms
            continue
        expr[id(v)] = [(1.0, bar(v.name), v)]
        origins = list(dict.fromkeys(id(o) for _, _, o in terms))
        by_id = {id(o): o for _, _, o in terms}
        general = " + ".join(f"{bar(by_id[k].name)} ∂{sym(by_id[k])}/∂{sym(v)}" for k in origins)
        lines.append((v, general, _fmt_terms([(c, e) for c, e, _ in terms]), origins))
    return _params_after_their_origins(lines)


def _params_after_their_origins(lines):
    """Move each parameter's line to just after the last named value its gradient comes through,
    as the lecture orders the MLP: ȳ, W̄2, b̄2, h̄, z̄, W̄1, b̄1 (not every W̄ at the end)."""
    out = [ln[:3] for ln in lines if len(ln) == 3 or ln[0].producer is not None]
    for v, gen, inst, origins in (ln for ln in lines if len(ln) == 4 and ln[0].producer is None):
        pos = max((k for k, (u, _, _) in enumerate(out) if id(u) in origins), default=len(out) - 1)
        while pos + 1 < len(out) and out[pos + 1][0].producer is None:  # keep parameters in their order
            pos += 1
        out.insert(pos + 1, (v, gen, inst))
    return out


def format_backprop(graph: Graph, loss=None, wrt=None) -> str:
    """The backward pass as the lecture writes it, one line per named value."""
    out = []
    for v, gen, inst in backprop_lines(graph, loss, wrt):
        out.append(f"{bar(v.name)} = {gen} = {inst}" if gen and gen != inst else f"{bar(v.name)} = {inst}")
    return Explanation("\n".join(out) + "\n")


def explain_grad(model, name: str, batch: Optional[dict] = None, loss=None) -> str:
    """How the gradient of the loss with respect to value ``name`` is computed (text)."""
    from .dump import model_graph
    graph = model_graph(model, "gradient")
    try:
        v = graph.value(name)
    except GraphError:
        names = ", ".join(p.name for p in graph.params)
        raise GraphError(f"graph {graph.name} has no value named {name!r} to explain; its parameters: {names}") from None
    loss_v = graph.value(loss) if isinstance(loss, str) else (loss or graph.outputs[0])
    lines = [f"gradient of the loss %{loss_v.name} with respect to %{v.name} ({v.kind} {v.type})", ""]
    lines.append("forward node(s) using it, with their local rules:")
    for node in v.consumers:
        lines.append(f"  {format_node(node, meta=False)}")
        lines.append(f"      rule of {node.op.name}: {node.op.rule}")
    if len(v.consumers) > 1:
        lines.append(f"  %{v.name} fans out to {len(v.consumers)} nodes, so its gradient is a sum "
                     f"(multivariate chain rule): v̄ = Σⱼ v̄ⱼ ∂vⱼ/∂v")
    lines += ["", "the chain, in the lecture's notation (v̄ = dL/dv):"]
    chain = backprop_lines(graph, loss_v, [v])
    for u, gen, inst in chain:
        lines.append(f"  {bar(u.name)} = {gen} = {inst}" if gen and gen != inst else f"  {bar(u.name)} = {inst}")
    named = [u for u, _, _ in chain]
    g = graph.clone()
    grads = backward(g, [g.value(loss_v.name)], [g.value(u.name) for u in named[1:]] or [g.value(v.name)])
    g.outputs = list(g.outputs) + grads
    target = grads[named[1:].index(v)] if v in named[1:] else grads[-1]
    lines += ["", f"the backward IR autodiff emits for %{target.name}:"]
    need = {id(target)}
    for node in reversed(g.nodes):
        if any(id(o) in need for o in node.outputs):
            need.update(id(x) for x in node.inputs)
    for node in g.nodes:
        if node.prov.phase == "backward" and id(node.outputs[0]) in need:
            lines.append(f"  {format_node(node, meta=False)}")
            why = f"of %{node.prov.grad_of}" + (f": {node.prov.rule}" if node.prov.rule else "")
            lines.append(f"      {why}")
    if batch is not None:
        feeds = [np.asarray(batch[x.name], dtype=x.type.dtype.numpy) for x in g.inputs]
        forward = [g.value(u.name) for u in reversed(named)]  # the chain's values, forward order
        g.outputs = list(g.outputs) + forward
        outs = Interpreter(g).run_list(feeds)
        vals = dict(zip([o.name for o in g.outputs], outs))
        lines += ["", "numbers for this batch, forward pass:"]
        lines += [f"  {x.name} = {_num(a)}" for x, a in zip(g.inputs, feeds)]
        lines += [f"  {u.name} = {_num(g.initializers[u.name] if u.kind in ('param', 'state') else vals[u.name])}"
                  for u in forward if u.kind != "input"]
        lines += ["", "and backward:", f"  {bar(loss_v.name)} = 1 (the seed)"]
        for u, gr in zip(named[1:], grads):
            lines.append(f"  {bar(u.name)} = {_num(vals[gr.name])}")
    return Explanation("\n".join(lines) + "\n")


def _num(a) -> str:
    """A value for the batch table: small arrays in full with their shape's nesting ([[1, 2], [3, 4]]
    for a [2,2] x), large ones as dtype[shape], norm and the first entries."""
    a = np.asarray(a)
    if a.size <= 8:
        return _nested(a)
    first = ", ".join(f"{x:.5g}" for x in a.ravel()[:4])
    return f"{a.dtype}{list(a.shape)}, ‖·‖ = {np.linalg.norm(a):.5g}, first [{first}, ...]"


def _nested(a: np.ndarray) -> str:
    if a.ndim == 0:
        return f"{a.item():.5g}"
    return "[" + ", ".join(_nested(x) for x in a) + "]"
