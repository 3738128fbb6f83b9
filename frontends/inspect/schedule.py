"""The dataflow executor's schedule as the report shows it: a Gantt chart of the predicted tasks.

``chainrule dump`` compiles the last pass's graph with the dataflow executor for one batch size
and draws what ``print(exe.schedule(x, t))`` prints (``runtime/tasks.py``): one lane per worker,
a box per task from its predicted start to its predicted end, coloured by the phase of its
first node and labelled with its number and that node, and below them a bar as long as the
sequential sum, every node on one thread::

    worker 0   |t2 t0.fc1 |t6 t2.f…|t3 t0.fc2      |t12 grad_re…|
    worker 1     |t4 t1.fc1 |t8 t3.f…|t5 t1.fc2      |t14 grad…|
    one thread |sequential sum 7.446 ms                                          |

No call is timed (the nodes are priced by the calibration's rates, measured once per machine
and cached), so the picture is the plan, not a profile: ``chainrule profile`` times a call.
"""
from __future__ import annotations

import html
from typing import Dict, List, Optional

import numpy as np

from ...ir.display import COLOURS

LANE, TOP, LEFT, WIDTH = 26, 22, 76, 440  # px: a lane's height, the axis above, the labels, the time axis
BOX = 56  # px: the average box of the busiest lane is this wide at least (up to 4 × WIDTH in all)


def sample_inputs(graph, batch: int) -> List[np.ndarray]:
    """Random inputs of the graph's types with every named dimension = ``batch`` (integer inputs:
    class indices 0 and 1); the seed is fixed, so the same graph gets the same arrays."""
    rng = np.random.default_rng(0)
    arrays = []
    for v in graph.inputs:
        shape = tuple(batch if isinstance(d, str) else d for d in v.type.shape)
        dt = v.type.dtype.numpy
        arrays.append(rng.integers(0, 2, shape).astype(dt) if dt.kind in "iu" else
                      rng.standard_normal(shape).astype(dt))
    return arrays


def plan(graph, batch: int):
    """The dataflow executor's schedule of ``graph`` for inputs with N = ``batch`` (compiled, not run).
    The plan reads shapes only, so a parameter without an array (a graph parsed from text) gets zeros."""
    from ...passes.memory import plan_memory
    from ...runtime.dataflow import DataflowExecutor
    params = {p.name: graph.initializers[p.name] if p.name in graph.initializers else
              np.zeros(p.type.shape, p.type.dtype.numpy) for p in graph.params}
    return DataflowExecutor(graph, params, planner=plan_memory).schedule_for(sample_inputs(graph, batch))


def where(schedule) -> Dict[str, str]:
    """Node name -> 'task 3 on worker 1, 0.120–0.340 ms' (a chunked node: each of its tasks)."""
    out: Dict[str, List[str]] = {}
    for t in schedule.tasks:
        for i in t.nodes:
            out.setdefault(schedule.names[i], []).append(
                f"task {t.index} on worker {t.worker}, {t.start * 1e3:.3f}–{t.finish * 1e3:.3f} ms")
    return {k: "; ".join(v) for k, v in out.items()}


def gantt_svg(schedule, phases: Optional[Dict[str, str]] = None) -> str:
    """The predicted schedule as SVG text: a lane per worker and a bar for the sequential sum.
    ``phases``: node name -> forward/backward/update (the box colours). Each box has a
    ``data-node`` (its first node) and a ``<title>`` (its nodes and times)."""
    phases = phases or {}
    span = max(schedule.makespan, schedule.sequential) or 1.0
    busiest = max((sum(t.worker == w for t in schedule.tasks) for w in range(schedule.workers)), default=1)
    # wide enough for a label in the busiest lane's average box (the pane scrolls sideways)
    width = int(min(max(WIDTH, BOX * busiest * span / (schedule.makespan or span)), 4 * WIDTH))
    x = lambda s: LEFT + width * s / span  # noqa: E731 (seconds -> px)
    lanes = schedule.workers + 1
    height = TOP + LANE * lanes + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{LEFT + width + 12}" '
           f'height="{height}" viewBox="0 0 {LEFT + width + 12} {height}" font-family="sans-serif" font-size="11">']
    step = _tick(span * 1e3)
    k = 0
    while k * step <= span * 1e3 + 1e-12:
        px = x(k * step / 1e3)
        out.append(f'<line x1="{px:.1f}" y1="{TOP - 4}" x2="{px:.1f}" y2="{height - 8}" stroke="#ddd"/>'
                   f'<text x="{px:.1f}" y="{TOP - 8}" text-anchor="middle" fill="#555">{k * step:g} ms</text>')
        k += 1
    for w in range(schedule.workers):
        out.append(f'<text x="4" y="{TOP + LANE * w + 17}">worker {w}</text>')
    for t in sorted(schedule.tasks, key=lambda t: t.index):
        first = schedule.names[t.parts[0].node]
        colour = COLOURS.get(phases.get(first, "forward"), COLOURS["forward"])
        x0, x1 = x(t.start), max(x(t.finish), x(t.start) + 1.5)
        y = TOP + LANE * t.worker + 3
        tip = f"task {t.index}, worker {t.worker}, {t.start * 1e3:.3f}–{t.finish * 1e3:.3f} ms: {', '.join(schedule.part_names(t))}"
        label = _fit(f"t{t.index}", first, int((x1 - x0 - 6) / 6.2))  # characters that fit in the box
        text = f'<text x="{x0 + 3:.1f}" y="{y + 14}">{html.escape(label)}</text>' if label else ""
        out.append(f'<g class="task" data-node="{html.escape(first)}"><title>{html.escape(tip)}</title>'
                   f'<rect x="{x0:.1f}" y="{y}" width="{x1 - x0:.1f}" height="{LANE - 6}" fill="{colour}" '
                   f'stroke="#777"/>{text}</g>')
    y = TOP + LANE * schedule.workers + 3
    out.append(f'<text x="4" y="{y + 14}">one thread</text>'
               f'<rect x="{LEFT}" y="{y}" width="{x(schedule.sequential) - LEFT:.1f}" height="{LANE - 6}" '
               f'fill="#eeeeee" stroke="#777"><title>the sequential sum: every node on one thread, '
               f'{schedule.sequential * 1e3:.3f} ms</title></rect>'
               f'<text x="{LEFT + 3}" y="{y + 14}">sequential sum {schedule.sequential * 1e3:.3f} ms</text>')
    out.append("</svg>")
    return "".join(out)


def _fit(tag: str, name: str, room: int) -> str:
    """A box's label in ``room`` characters: "t3 fc1", "t3 gra…", "t3" or nothing (never a cut tag,
    which would read as another task's)."""
    if len(tag) + 1 + len(name) <= room:
        return f"{tag} {name}"
    if room >= len(tag) + 3:
        return f"{tag} {name[:room - len(tag) - 2]}…"
    return tag if room >= len(tag) else ""


def _tick(ms: float) -> float:
    """A round step (1, 2 or 5 × 10^k ms) giving 4–10 grid lines across ``ms``."""
    step = 10.0 ** np.floor(np.log10(ms / 5)) if ms > 0 else 1.0
    for m in (1, 2, 5, 10):
        if ms / (step * m) <= 10:
            return step * m
    return step * 10


def pane(graph, batch: int) -> dict:
    """The report's schedule pane for ``graph`` at N = ``batch``, ``{"html": …, "where": {node: its
    task}}``; a graph the dataflow executor cannot compile gets a line saying why (the report's
    other tabs still show every pass)."""
    try:
        sched = plan(graph, batch)
    except Exception as err:  # noqa: BLE001 (shown in the pane, not raised)
        return {"html": f'<p class="hint">No schedule: {html.escape(str(err))}</p>', "where": {}}
    phases = {n.name: n.prov.phase for n in graph.nodes}
    return {"html": schedule_html(sched, batch, phases), "where": where(sched)}


def schedule_html(schedule, batch: int, phases: Optional[Dict[str, str]] = None) -> str:
    """The report's schedule pane: what it is, the decision, the Gantt chart and the printed schedule."""
    return (f'<p class="hint">The dataflow executor\'s plan for the last pass\'s graph at N = {batch}, priced by '
            f'this machine\'s calibration (predicted, not measured; <code>chainrule profile</code> times a call). '
            f'Click a task to see its first node.</p>'
            f'<p class="decision">{html.escape(schedule.decision)}: predicted makespan '
            f'{schedule.makespan * 1e3:.3f} ms against the sequential sum {schedule.sequential * 1e3:.3f} ms</p>'
            f'<div class="gantt-box">{gantt_svg(schedule, phases)}</div>'
            f'<pre class="wrap">{html.escape(str(schedule))}</pre>')
