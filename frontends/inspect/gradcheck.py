"""``cr.gradcheck``: verify a model's gradients by finite differences, in float64.

The lecture's advice, "verify the update", as one call. The graph is cast to
float64, autodiff builds its backward graph, and for each parameter the
directional derivative ⟨∇L, d⟩ along random unit directions d is compared
with the central difference (L(w + εd) − L(w − εd)) / 2ε.

    report = cr.gradcheck(graph, {"x": x, "t": t})
    print(report)              # one line per parameter: analytic, numeric, relative error
    assert report.ok
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from ...ir import ChainruleError, Graph, GradientError
from ...passes import backward
from ...passes.precision import cast_floats
from ...runtime import Interpreter
from ..python.lower import to_graph


class GradcheckError(ChainruleError):
    """A gradient disagrees with its finite-difference estimate."""


@dataclass
class GradcheckRow:
    name: str
    analytic: float
    numeric: float
    error: float  # |analytic − numeric| / max(1, |numeric|)


@dataclass
class GradcheckReport:
    rows: List[GradcheckRow] = field(default_factory=list)
    tolerance: float = 1e-5

    @property
    def ok(self) -> bool:
        return all(r.error <= self.tolerance for r in self.rows)

    def __str__(self):
        lines = [f"{'value':24} {'⟨∇L, d⟩':>14} {'finite diff.':>14} {'error':>9}"]
        for r in self.rows:
            flag = "" if r.error <= self.tolerance else "   <-- MISMATCH"
            lines.append(f"{r.name:24} {r.analytic:14.6e} {r.numeric:14.6e} {r.error:9.1e}{flag}")
        lines.append("gradients OK" if self.ok else f"gradient check FAILED (tolerance {self.tolerance:g})")
        return "\n".join(lines)


def gradcheck(model, inputs, wrt: Optional[Sequence[str]] = None, eps: float = 1e-6, directions: int = 2,
              seed: int = 0, tolerance: float = 1e-5, raise_on_failure: bool = False) -> GradcheckReport:
    """Check ∂L/∂w for each parameter ``w`` (or each name in ``wrt``) of a graph whose first output is L."""
    graph: Graph = to_graph(model, action="check")
    if not graph.outputs or graph.outputs[0].type.shape != ():
        got = graph.outputs[0].type if graph.outputs else "no output"
        raise GradientError(f"gradcheck needs a graph whose first output is a scalar loss, got {got}")
    g = cast_floats(graph)
    g.initializers = {k: np.array(v, dtype=np.float64) if v.dtype.kind == "f" else v.copy()
                      for k, v in g.initializers.items()}
    names = list(wrt) if wrt is not None else [p.name for p in g.params if p.kind == "param"]
    targets = [g.value(n) for n in names]
    loss = g.outputs[0]
    grads = backward(g, [loss], targets)
    g.set_outputs([loss] + grads)
    run = Interpreter(g)
    feeds = _feeds(g, inputs)
    outs = run.run_list(feeds)
    rng = np.random.default_rng(seed)
    report = GradcheckReport(tolerance=tolerance)
    for v, grad in zip(targets, outs[1:]):
        for _ in range(directions):
            d = rng.standard_normal(v.type.shape if v.kind != "input" else np.shape(feeds[g.inputs.index(v)]))
            d /= max(np.linalg.norm(d), 1e-300)
            numeric = (_loss_at(run, g, feeds, v, d * eps) - _loss_at(run, g, feeds, v, -d * eps)) / (2 * eps)
            analytic = float(np.sum(grad * d))
            err = abs(analytic - numeric) / max(1.0, abs(numeric))
            report.rows.append(GradcheckRow(v.name, analytic, numeric, err))
    if raise_on_failure and not report.ok:
        raise GradcheckError(str(report))
    return report


def _feeds(g: Graph, inputs) -> List[np.ndarray]:
    if isinstance(inputs, dict):
        missing = [v.name for v in g.inputs if v.name not in inputs]
        if missing:
            raise GradientError(f"gradcheck: missing input(s) {', '.join(missing)}")
        inputs = [inputs[v.name] for v in g.inputs]
    return [np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
            for a in inputs]


def _loss_at(run: Interpreter, g: Graph, feeds, v, delta) -> float:
    if v.kind == "input":
        k = g.inputs.index(v)
        shifted = list(feeds)
        shifted[k] = feeds[k] + delta
        return float(run.run_list(shifted)[0])
    arr = run.params[v.name]
    arr += delta
    try:
        return float(run.run_list(feeds)[0])
    finally:
        arr -= delta
