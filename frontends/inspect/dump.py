"""``cr.dump``: every step the compiler takes, written to a folder.

    res = cr.dump(model, "dump/", pipeline="gradient")

writes, for the input and after each pass ``NN-<pass>``:

- ``NN-<pass>.ir``: the IR text (written by the PassManager's ``dump_dir``);
- ``NN-<pass>.diff``: nodes added, removed and rewritten against the previous
  step, with stable node identities and the pass/rule that made each change;
- ``NN-<pass>.dot`` (and ``.svg`` when Graphviz is installed): the picture;

and ``report.html``, one self-contained page stepping through them all, with the dataflow
executor's schedule of the last graph at N = ``batch`` (``schedule.py``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

from ...ir import Graph, IRTypeError, parse_graph
from ...ir.files import MARKER, prepare_dump_dir, write_in
from ...passes import Pass, PassManager, get_pipeline
from ..python.lower import to_graph
from ..python.nn import Module
from ..python.tracer import GraphBuilder
from .dot import have_dot, render_svg, to_dot
from .irdiff import GraphDiff, diff_graphs, diff_texts, format_diff
from .report import build_report
from .schedule import pane

NEEDS_LOSS = ("gradient", "training")


@dataclass
class DumpStep:
    label: str  # "02-autodiff"
    pass_name: str
    changed: bool
    text: str = field(repr=False)  # the texts and pictures are long: repr() shows the label only
    diff: str = field(repr=False)
    dot: str = field(repr=False)
    svg: Optional[str] = field(default=None, repr=False)


@dataclass
class DumpResult:
    out_dir: str
    steps: List[DumpStep] = field(default_factory=list)
    report: Optional[str] = None  # path of report.html
    history: list = field(default_factory=list)  # the PassManager's records (``passes.manager.format_timing``)

    @property
    def files(self) -> List[str]:
        return sorted(f for f in os.listdir(self.out_dir) if f != MARKER)

    def diff(self, pass_name: str) -> GraphDiff:
        """The diff made by the first run of ``pass_name`` (displays itself in a notebook)."""
        for i, s in enumerate(self.steps[1:], 1):
            if s.pass_name == pass_name:
                prev = self.steps[i - 1]
                return diff_texts(prev.text, s.text, pass_name, prev.label, s.label)
        raise IRTypeError(f"this dump has no pass {pass_name!r}; its passes: "
                          f"{', '.join(s.pass_name for s in self.steps[1:])}")

    def __repr__(self):
        changed = sum(s.changed for s in self.steps[1:])
        return (f"<DumpResult {self.out_dir}: {len(self.steps)} steps, {changed} passes changed the graph"
                + (f", report {self.report}>" if self.report else ">"))

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .display import dump_bundle
        return dump_bundle(self)


def model_graph(model, pipeline: Union[str, Sequence[Pass]] = "inference", input_shape=None) -> Graph:
    """A fresh graph for ``model`` (``to_graph``, copied).

    A module dumped through a gradient/training pipeline gets the loss
    ``SoftmaxCrossEntropy(logits, t)`` on a one-hot target input ``%t``.
    """
    if not (isinstance(model, Module) and isinstance(pipeline, str) and pipeline in NEEDS_LOSS):
        return to_graph(model, input_shape, "dump").clone()
    n_in = model.in_features()
    if input_shape is None and n_in is None:
        raise IRTypeError(f"{type(model).__name__} cannot infer its input shape; pass input_shape=")
    b = GraphBuilder(type(model).__name__.lower())
    x = b.input("x", input_shape or ("N", n_in))
    logits = model(x)
    t = b.input("t", logits.shape)
    return b.build(b.op("SoftmaxCrossEntropy", logits, t, name="loss"))


def pipeline_passes(pipeline: Union[str, Sequence[Pass]], optimizer=None) -> List[Pass]:
    """The passes of ``pipeline``; ``optimizer`` (a ``cr.optim`` object) sets the training
    pipeline's update rule (default: SGD with lr 0.1)."""
    return get_pipeline(pipeline, None if optimizer is None else optimizer.make_pass())


def dump(model, out_dir: str, pipeline: Union[str, Sequence[Pass]] = "inference", input_shape=None,
         svg: bool = True, html: bool = True, title: Optional[str] = None, optimizer=None, force: bool = False,
         batch: int = 32, **pm_options) -> DumpResult:
    """Run ``pipeline`` on ``model`` and write text, diffs, pictures and a report to ``out_dir``
    (``optimizer``: a ``cr.optim`` object for the training pipeline's update nodes; ``batch``: the N
    of the report's schedule). A folder holding other files (and no dump marker) is refused unless
    ``force``."""
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise IRTypeError(f"batch={batch!r}: the schedule's batch size must be a positive int")
    prepare_dump_dir(out_dir, force)
    graph = model_graph(model, pipeline, input_shape)
    passes = pipeline_passes(pipeline, optimizer)
    pm = PassManager(passes, dump_dir=out_dir, keep_text=True, **pm_options)
    pm.run(graph)
    return write_steps(pm.history, out_dir, title or f"chainrule dump: {graph.name}", svg=svg, html=html,
                       schedule=pane(graph, batch) if html else None)


def write_steps(history, out_dir: str, title: str, svg: bool = True, html: bool = True,
                schedule: Optional[dict] = None) -> DumpResult:
    """Write the diff, DOT, SVG and report files for a PassManager history (kept with ``keep_text``);
    ``schedule``: the report's schedule pane (``schedule.pane``)."""
    prepare_dump_dir(out_dir)
    res = DumpResult(out_dir, history=list(history))
    render = svg and have_dot()
    prev = None
    for i, rec in enumerate(history):
        label = f"{i:02d}-{rec.name}"
        g = parse_graph(rec.text)
        if prev is None:
            diff = f"// {label}: the input graph ({len(g.nodes)} nodes)\n"
        else:
            diff = format_diff(diff_graphs(prev[1], g, rec.name, prev[0], label))
        here = {n.name for n in g.nodes}
        gone = [] if prev is None else [n for n in prev[1].nodes if n.name not in here]  # drawn as ghosts
        dot = to_dot(g, title=f"{label}: {g.name}", removed=gone)
        step = DumpStep(label, rec.name, rec.changed or i == 0, rec.text, diff, dot)
        _write(out_dir, f"{label}.diff", diff)
        _write(out_dir, f"{label}.dot", dot)
        if render:
            step.svg = render_svg(dot)
            _write(out_dir, f"{label}.svg", step.svg)
        res.steps.append(step)
        prev = (label, g)
    if html:
        page = build_report(title, [{"label": s.label, "pass": s.pass_name, "changed": s.changed, "text": s.text,
                                     "diff": s.diff, "svg": s.svg, "dot": s.dot} for s in res.steps], schedule)
        res.report = os.path.join(out_dir, "report.html")
        _write(out_dir, "report.html", page)
    return res


def _write(out_dir, name, text):
    write_in(out_dir, name, text)
