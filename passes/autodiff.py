"""Reverse-mode autodiff as a pass: the backward graph is emitted as IR nodes.

This is the lecture's backpropagation algorithm, run on the graph instead of
on numbers. With v₁…v_N in topological order and v_N the loss:

    v̄_N = 1
    for i = N−1 … 1:   v̄ᵢ = Σ_{j ∈ Ch(vᵢ)} v̄ⱼ ∂vⱼ/∂vᵢ

``backward`` visits only the nodes between the requested values and the loss,
in reverse order, and keeps a *cotangent map* from each value to the
contributions v̄ⱼ ∂vⱼ/∂vᵢ emitted so far. Each contribution is made by the
consumer op's ``vjp`` rule, which emits ordinary nodes. When a value has
several contributions (fan-out > 1), an explicit ``Sum`` node adds them: the
Σ of the multivariate chain rule, visible in the IR.

Before (L = ½(σ(wx + b) − t)² with λ·½w², the lecture's L2 example)::

    %z: f32[] = Add(%wx, %b)
    %y: f32[] = Sigmoid(%z)
    ...
    return %L_reg

After: the forward graph, then (abridged)::

    %grad_L_reg: f32[] = Constant() {value=...} #[by=autodiff phase=backward ...]
    ...
    %grad_z: f32[] = Mul(%grad_y, %mul.2) #[... of=%y rule="z̄ = ȳ ∘ σ′(z) = ȳ ∘ y(1 − y)"]
    %grad_w: f32[] = Sum(%mul.4, %mul.6) #[... rule="v̄ = Σⱼ v̄ⱼ ∂vⱼ/∂v"]
    return %L_reg, %grad_w, %grad_b

Every backward node records ``grad_of`` (the forward value whose vjp made
it) and ``rule``. Gradients are named ``grad_<value>``.

A loss that does not depend on a requested value raises ``GradientError``,
or, with ``allow_unused=True``, gives an explicit zero gradient. Gradients
through non-differentiable ops (ArgMax, OneHot, Cast, comparisons) do not
flow; through the hard threshold they are zero almost everywhere, and the
pass warns (``GradientWarning``) naming the node.
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Sequence, Union

from ..ir import Emitter, GradientError, Graph, Value
from .analysis import dead_nodes, nodes_between
from .manager import Pass, PassResult

FAN_IN_RULE = "v̄ = Σⱼ v̄ⱼ ∂vⱼ/∂v  (multivariate chain rule: sum over the children of v)"


class GradientWarning(UserWarning):
    """A requested gradient passes through an op whose derivative is zero almost everywhere."""


def grad_name(v: Union[Value, str]) -> str:
    return f"grad_{v if isinstance(v, str) else v.name}"


def backward(graph: Graph, losses: Sequence[Value], wrt: Sequence[Value], allow_unused: bool = False,
             created_by: str = "autodiff") -> List[Value]:
    """Append the backward graph of ``sum(losses)`` to ``graph``; return ∂loss/∂v for v in ``wrt``."""
    if not losses:
        raise GradientError("autodiff needs at least one loss value")
    if not wrt:
        raise GradientError("autodiff needs at least one value to differentiate with respect to (wrt)")
    for L in losses:
        if L.type.shape != () or not L.type.dtype.is_float:
            raise GradientError(f"the loss %{L.name} must be a float scalar, but it is {L.type}; "
                                f"reduce it first (e.g. with ReduceMean)")
    for v in list(losses) + list(wrt):
        if not isinstance(v, Value) or v.graph is not graph:
            raise GradientError(f"{v!r} is not a value of graph {graph.name!r} (pass values of the graph "
                                f"being differentiated, e.g. graph.value(name))")
    between = nodes_between(graph, wrt, losses)
    relevant = {id(v) for v in wrt}
    for node in between:
        relevant.update(id(o) for o in node.outputs)

    cot: Dict[int, List[Value]] = {}
    stopped = []  # nodes with a cotangent but no gradient rule (ArgMax, Cast, Fused...)
    named = set()  # ids of values already named as someone's gradient
    made = []  # nodes this pass emits

    def emitter(**kw):
        return Emitter(graph, created_by=created_by, phase="backward", made=made, **kw)

    done: Dict[int, Value] = {}  # v̄ once finalized: a value asked for twice gets one Σ node

    def finalize(v: Value) -> Optional[Value]:
        """The cotangent v̄: one contribution, or the Σ of several."""
        if id(v) in done:
            return done[id(v)]
        g = _finalize(v)
        if g is not None:
            done[id(v)] = g
        return g

    def _finalize(v: Value) -> Optional[Value]:
        parts = cot.get(id(v))
        if not parts:
            return None
        if len(parts) == 1:
            g = parts[0]
            if id(g) not in named and g.producer is not None and g.producer.prov.created_by == created_by:
                graph.rename(g, grad_name(v))
                named.add(id(g))
            return g
        e = emitter(grad_of=v.name, rule=FAN_IN_RULE)
        g = e.Sum(*parts, name=grad_name(v))
        named.add(id(g))
        return g

    for L in losses:
        e = emitter(grad_of=L.name, rule=f"{_bar(L.name)} = 1")
        seed = e.const(1.0, L.type.dtype, name=grad_name(L))
        named.add(id(seed))
        cot.setdefault(id(L), []).append(seed)

    for node in reversed(between):
        gys = [finalize(o) for o in node.outputs]
        if all(g is None for g in gys):
            continue
        op = node.op
        if op.zero_grad and node.prov.phase == "forward":
            warnings.warn(GradientWarning(
                f"gradient through %{node.name} ({op.name}) is zero almost everywhere: "
                f"{op.name} has no useful derivative, so nothing before it learns "
                f"({op.nograd_reason or 'use Sigmoid instead'})"),
                stacklevel=3)
        if not op.differentiable or op.zero_grad:
            stopped.append(node)
            continue
        e = emitter(grad_of=node.outputs[0].name, rule=op.rule)
        gins = op.vjp(e, node, gys)
        skip = getattr(op, "nondiff_inputs", ())
        for i, (x, g) in enumerate(zip(node.inputs, gins)):
            if g is None or i in skip or id(x) not in relevant:
                continue
            cot.setdefault(id(x), []).append(g)

    grads = []
    for v in wrt:
        g = finalize(v)
        if g is None:
            if not allow_unused:
                loss_names = ", ".join(f"%{L.name}" for L in losses)
                why = ""
                if stopped:
                    where = ", ".join(f"%{n.name} ({n.op.name})" for n in stopped[:3])
                    why = f" (the gradient stops at {where}, which has no gradient rule"
                    reasons = sorted({n.op.nograd_reason for n in stopped if n.op.nograd_reason})
                    why += "".join(f"; {r}" for r in reasons) + ")"
                raise GradientError(f"{loss_names} does not depend (differentiably) on %{v.name}{why}; "
                                    f"pass allow_unused=True for an explicit zero gradient")
            e = emitter(grad_of=v.name, rule=f"{_bar(v.name)} = 0 (the loss does not depend on it)")
            g = e.ExpandLike(e.const(0.0, v.type.dtype), v, name=grad_name(v))
        elif g.name != grad_name(v):
            # a gradient that aliases another value (b̄ = z̄) still gets its own name
            e = emitter(grad_of=v.name, rule=f"{_bar(v.name)} = the cotangent %{g.name}")
            g = e.Identity(g, name=grad_name(v))
        named.add(id(g))
        grads.append(g)

    _prune(graph, made, {id(g) for g in grads})
    return grads


def _prune(graph: Graph, made, keep) -> None:
    """Remove emitted nodes whose results reach no requested gradient (e.g. x̄ of the data)."""
    graph.remove_nodes(dead_nodes(made, set(keep) | graph.exported_ids()))  # made: emission order


def _bar(name: str) -> str:
    return f"{name}\u0304" if len(name) == 1 else f"grad_{name}"


class Autodiff(Pass):
    """The autodiff pass: appends ∂loss/∂v for each v in ``wrt`` to the graph outputs.

    ``loss``: a value or its name (default: the first output); a list sums
    several losses. ``wrt``: values or names (default: every trainable
    parameter, in graph order).
    """

    name = "autodiff"
    in_place = True

    def __init__(self, loss=None, wrt=None, allow_unused: bool = False):
        self.loss, self.wrt, self.allow_unused = loss, wrt, allow_unused

    def run(self, graph: Graph) -> PassResult:
        losses = self._resolve(graph, self.loss) if self.loss is not None else graph.outputs[:1]
        if self.wrt is None:
            wrt = [p for p in graph.params if p.kind == "param"]
        else:
            wrt = self._resolve(graph, self.wrt)
        grads = backward(graph, losses, wrt, self.allow_unused)
        graph.outputs = list(graph.outputs) + grads
        return PassResult(graph, True)

    @staticmethod
    def _resolve(graph, spec):
        items = spec if isinstance(spec, (list, tuple)) else [spec]
        return [graph.value(s) if isinstance(s, str) else s for s in items]
