"""Cost ledger and memory timeline of a graph, per node and per phase.

``cost_ledger(graph, {"N": 32})`` counts multiply-adds (each op's ``flops``)
and bytes read and written for every node, with totals per phase (forward,
backward, update). For an MLP the backward pass costs about twice the
forward (the lecture's rule of thumb: W̄ = z̄xᵀ and x̄ = Wᵀz̄ are one
multiply-add per weight each), and the cost grows linearly with the number
of layers and quadratically with the units per layer (``mlp_scaling``).

``memory_timeline(graph, bindings)`` gives, from the memory plan of the
schedule (``passes.memory.plan_memory``), the live bytes at each step, the
forward values kept alive for the backward pass, and the planned peak
(buffers reused) against the lower bound for the order and the unplanned
peak (one buffer per value).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ...ir import Graph
from ...ir.core import PHASES
from ...ir.files import write_file
from ...passes.memory import plan_memory


def nbytes(t, bindings) -> int:
    return t.require_nbytes(bindings, "cost: ")


@dataclass
class Row:
    name: str
    op: str
    phase: str
    madds: int
    read: int
    written: int


@dataclass
class Ledger:
    rows: List[Row] = field(default_factory=list)

    def total(self, what: str = "madds", phase: Optional[str] = None) -> int:
        return sum(getattr(r, what) for r in self.rows if phase is None or r.phase == phase)

    @property
    def backward_forward_ratio(self) -> float:
        f = self.total("madds", "forward")
        return self.total("madds", "backward") / f if f else float("nan")


def cost_ledger(graph: Graph, bindings: Optional[Dict[str, int]] = None) -> Ledger:
    """Multiply-adds and bytes read/written of each node (symbolic dims bound by ``bindings``)."""
    led = Ledger()
    for n in graph.nodes:
        ins = [v.type for v in n.inputs]
        outs = [v.type for v in n.outputs]
        madds = int(n.op.flops(ins, outs, dict(n.attrs), bindings) or 0)
        led.rows.append(Row(n.name, n.op.name, n.prov.phase, madds, sum(nbytes(t, bindings) for t in ins),
                            sum(nbytes(t, bindings) for t in outs)))
    return led


def format_ledger(led: Ledger, per_node: bool = True) -> str:
    lines = []
    if per_node:
        lines.append(f"{'node':28} {'op':20} {'phase':9} {'mult-adds':>12} {'read B':>12} {'written B':>12}")
        for r in led.rows:
            lines.append(f"{r.name[:28]:28} {r.op[:20]:20} {r.phase:9} {r.madds:12,d} {r.read:12,d} {r.written:12,d}")
        lines.append("")
    lines.append(f"{'phase':9} {'nodes':>6} {'mult-adds':>14} {'read B':>14} {'written B':>14}")
    for ph in PHASES:
        k = sum(r.phase == ph for r in led.rows)
        if k:
            lines.append(f"{ph:9} {k:6d} {led.total('madds', ph):14,d} {led.total('read', ph):14,d} "
                         f"{led.total('written', ph):14,d}")
    lines.append(f"{'total':9} {len(led.rows):6d} {led.total('madds'):14,d} {led.total('read'):14,d} "
                 f"{led.total('written'):14,d}")
    if led.total("madds", "backward"):
        lines.append(f"backward / forward multiply-adds = {led.backward_forward_ratio:.2f} "
                     f"(lecture's rule of thumb: about 2)")
    return "\n".join(lines) + "\n"


# -- MLP scaling ----------------------------------------------------------------

def mlp_gradient_graph(sizes, seed: int = 0, input_grad: bool = False) -> Graph:
    """The forward + backward graph of an MLP with a softmax-cross-entropy loss.

    ``input_grad=True`` also asks for x̄, as the lecture counts it (two multiply-adds
    per weight in every layer); normally the data needs no gradient, so the first
    layer's backward costs one multiply-add per weight, not two.
    """
    from ...passes.pipeline import gradient_pipeline
    from ..compile import compile
    from ..python.tracer import GraphBuilder
    from ..python.nn import mlp
    model = mlp(list(sizes), "sigmoid", seed=seed)
    b = GraphBuilder("mlp")
    x = b.input("x", ("N", sizes[0]))
    t = b.input("t", ("N", sizes[-1]))
    g = b.build(b.op("SoftmaxCrossEntropy", model(x), t, name="loss"))
    wrt = [p.name for p in g.params] + (["x"] if input_grad else [])
    return compile(g, gradient_pipeline(wrt=wrt)).graph


def mlp_scaling(width: int = 64, depths=(1, 2, 4, 8), widths=(32, 64, 128, 256), batch: int = 32):
    """Total multiply-adds as layers (at ``width`` units) and as units per layer (at 2 hidden layers) grow."""
    by_depth = [(d, cost_ledger(mlp_gradient_graph([width] * (d + 1)), {"N": batch}).total()) for d in depths]
    by_width = [(w, cost_ledger(mlp_gradient_graph([w, w, w]), {"N": batch}).total()) for w in widths]
    return by_depth, by_width


# -- memory timeline --------------------------------------------------------------

@dataclass
class Timeline:
    steps: List[tuple]  # (step, node name, phase, bytes of planned values live at the step)
    kept_for_backward: List[tuple]  # (value name, bytes): forward values a backward node reads
    planned_peak: int  # the memory plan's buffers (with reuse and in-place)
    lower_bound: int  # the most bytes live at once in this order: no plan can do better
    unplanned_peak: int  # one buffer per value, nothing reused
    resident: int  # inputs and parameters (alive throughout, not planned)
    workspaces: List[tuple] = field(default_factory=list)  # (node name, bytes): scratch counted at its step


def memory_timeline(graph: Graph, bindings: Optional[Dict[str, int]] = None) -> Timeline:
    """Live bytes per step of the schedule, from the memory plan (``passes.memory.plan_memory``)."""
    plan = plan_memory(graph, dict(bindings or {}))
    phase = {n.name: n.prov.phase for n in graph.nodes}
    steps = [(i, name, phase[name], b) for i, (name, b) in enumerate(zip(plan.order, plan.live_bytes))]
    resident = sum(nbytes(v.type, bindings) for v in list(graph.inputs) + list(graph.params))
    kept = []
    for n in graph.nodes:
        if n.prov.phase == "forward":
            for o in n.outputs:
                if any(u.prov.phase != "forward" for u, _ in o.uses):
                    kept.append((o.name, nbytes(o.type, bindings)))
    return Timeline(steps, kept, plan.peak_bytes, plan.lower_bound_bytes, plan.no_reuse_bytes, resident,
                    list(plan.workspace_bytes.items()))


def format_timeline(tl: Timeline) -> str:
    lines = [f"{'step':>4} {'node':28} {'phase':9} {'live bytes':>14}"]
    lines += [f"{i:4d} {name[:28]:28} {ph:9} {b:14,d}" for i, name, ph, b in tl.steps]
    lines.append("")
    lines.append(f"inputs and parameters (resident): {tl.resident:,d} B")
    lines.append(f"kept from forward for backward: {len(tl.kept_for_backward)} values, "
                 f"{sum(b for _, b in tl.kept_for_backward):,d} B"
                 + (": " + ", ".join(f"%{n}" for n, _ in tl.kept_for_backward) if tl.kept_for_backward else ""))
    if tl.workspaces:  # im2col's columns and the like, counted in the live bytes of their step
        big = max(tl.workspaces, key=lambda w: w[1])
        lines.append(f"workspaces (kernel scratch, planned): {len(tl.workspaces)} nodes, largest "
                     f"{big[1]:,d} B at node {big[0]}")
    lines.append(f"planned peak (buffers reused, in place):  {tl.planned_peak:,d} B")
    lines.append(f"lower bound for this order (max live):   {tl.lower_bound:,d} B")
    lines.append(f"unplanned peak (one buffer per value):   {tl.unplanned_peak:,d} B")
    return "\n".join(lines) + "\n"


def plot_timeline(tl: Timeline, path: str) -> bool:
    """Write the live-bytes curve as a PNG; returns False when matplotlib is missing."""
    try:  # a Figure with its own Agg canvas: the user's pyplot backend is left alone
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return False
    colours = {"forward": "#3b75af", "backward": "#d9653b", "update": "#2a9d2a"}
    fig = Figure(figsize=(8, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    xs = [s[0] for s in tl.steps]
    ax.step(xs, [s[3] for s in tl.steps], where="post", color="#333333")
    for i, _, ph, b in tl.steps:
        ax.plot([i], [b], "o", ms=3, color=colours.get(ph, "#777777"))
    ax.axhline(tl.unplanned_peak, ls="--", color="#999999", label="unplanned peak (no reuse)")
    ax.axhline(tl.planned_peak, ls=":", color="#2a9d2a", label="planned peak (buffers)")
    ax.set_xlabel("step (node in schedule order)")
    ax.set_ylabel("live bytes")
    ax.set_title("memory timeline (blue forward, orange backward, green update)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    write_file(path, writer=lambda f: fig.savefig(f, format="png", dpi=90))  # atomic: no partial PNG
    return True
