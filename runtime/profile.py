"""A timed call of a planned executor, as Chrome trace events (Perfetto, chrome://tracing).

``profile(executor, arrays)`` runs one call with a clock read around every
node (a training step updates its parameters, as any call does) and returns
one ``Event`` per node, or per chunk of a node the dataflow executor splits:
its worker (thread), task, span, op, shapes, multiply-adds and bytes.
``chrome_trace(events)`` is the trace-event JSON object, with complete events
(``"ph": "X"``, microseconds) and the names of the threads::

    {"traceEvents": [{"name": "fc1", "cat": "Gemm", "ph": "X", "ts": 12.5, "dur": 240.1,
                      "pid": 0, "tid": 0, "args": {"shapes": ["f32[128,256]", ...], ...}}, ...]}
"""
from __future__ import annotations

import json
from typing import Dict, List, NamedTuple, Sequence

from ..ir.files import write_file
from .costmodel import node_cost
from .dataflow import DataflowExecutor, build_program, run_program
from .pull import Workers
from .split import Span
from .tasks import Part, Schedule, Task
from .threads import BlasSetter


class Event(NamedTuple):
    node: str
    op: str
    worker: int
    task: int
    span: str  # "[0:32]" for rows 0:32, "[:, 0:128]" for columns 0:128, "" for the whole node
    start: float  # seconds from the call's start
    end: float
    shapes: Sequence[str]
    madds: int
    bytes: int


def _one_worker(prep) -> Schedule:
    n = len(prep.nodes)
    return Schedule([Task(0, tuple(Part(i) for i in range(n)), 0.0, 0.0, (), 0, 0.0, 0.0)],
                    [x.name for x in prep.nodes], 1, 0.0, 0.0, 0.0)


def profile(executor, arrays) -> List[Event]:
    """One timed call of a ``SequentialExecutor`` or ``DataflowExecutor`` on ``arrays`` (with the
    BLAS threads it runs with: its ``threads``, one for the dataflow executor)."""
    with executor._lock:
        arrays, _ = executor._lookup(list(arrays))
        key = executor._key(arrays)
        dataflow = isinstance(executor, DataflowExecutor)
        if dataflow and key in executor.programs:
            prep, sched, pool = executor._preps[key], executor.programs[key].schedule, executor.pool
        else:  # the sequential code: one worker, every node in order
            prep = executor.prepared(key)
            sched, pool = _one_worker(prep), Workers(1)
        prog = build_program(prep, sched, executor.graph.name, executor._updates(prep), timed=True)
        recs: List[List] = [[] for _ in range(pool.n)]
        setb = BlasSetter()
        prev, threads = setb.get(), 1 if dataflow else executor.threads
        if threads:
            setb(threads)
        try:
            t0 = prep.gen.ns["now"]()
            run_program(prog, prep, executor.graph, arrays, executor.params, pool, recs)
        finally:
            if threads and prev:
                setb(prev)
    task_of = {p: t.index for t in sched.tasks for p in t.parts}
    events = []
    for w, records in enumerate(recs):
        for i, span, a, b in records:
            n = prep.nodes[i]
            c = node_cost(n, prep.bindings)
            shapes = [str(v.type) for v in list(n.inputs) + list(n.outputs)]
            span = None if span is None else Span(*span)
            part = 1.0 if span is None else (span.hi - span.lo) / prep.emitted[i].type.shape[span.axis]  # its share
            events.append(Event(n.name, n.op.name, w, task_of[Part(i, span)], "" if span is None else str(span),
                                a - t0, b - t0, shapes, int(c.madds * part), int(c.bytes * part)))
    return sorted(events, key=lambda e: (e.start, e.worker))


def chrome_trace(events: Sequence[Event], name: str = "chainrule") -> Dict:
    """The trace-event format's JSON object: one complete event per node, one thread per worker."""
    out: List[Dict] = [{"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": name}}]
    for w in sorted({e.worker for e in events}):
        out.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": w, "args": {"name": f"worker {w}"}})
    for e in events:
        out.append({"name": e.node, "cat": e.op, "ph": "X", "ts": round(e.start * 1e6, 3),
                    "dur": round((e.end - e.start) * 1e6, 3), "pid": 0, "tid": e.worker,
                    "args": {"op": e.op, "task": e.task, "span": e.span, "shapes": list(e.shapes),
                             "flops": e.madds, "bytes": e.bytes}})
    return {"traceEvents": out, "displayTimeUnit": "ms"}


def write_trace(path: str, events: Sequence[Event], name: str = "chainrule") -> str:
    return write_file(path, json.dumps(chrome_trace(events, name), indent=0))


# an op's colour in the Gantt chart: 20 that tell apart (a training step of an MLP has 12 ops), then hatched
PALETTE = ["#3b75af", "#d9653b", "#2a9d2a", "#b04cb0", "#8c6d31", "#e7ba52", "#5aa5a5", "#777777",
           "#e377c2", "#17becf", "#bcbd22", "#1f3f7a", "#9b2f1f", "#98df8a", "#ff9896", "#c5b0d5",
           "#4d4d00", "#f7b6d2", "#aec7e8", "#ffbb78"]
HATCHES = ["", "//", "..", "xx"]


def gantt_png(events: Sequence[Event], path: str, title: str = "") -> bool:
    """A Gantt chart of the events (a row per worker, a bar per node, coloured by op) as a PNG;
    returns False when matplotlib is missing."""
    try:  # a Figure with its own Agg canvas: the user's pyplot backend is left alone
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        return False
    import io
    ops = sorted({e.op for e in events})
    colour = {op: PALETTE[k % len(PALETTE)] for k, op in enumerate(ops)}
    hatch = {op: HATCHES[k // len(PALETTE) % len(HATCHES)] for k, op in enumerate(ops)}  # past 20 ops
    workers = sorted({e.worker for e in events})
    rows = -(-len(ops) // 6)  # of the legend, six ops a row
    fig = Figure(figsize=(10, 1.6 + 0.6 * len(workers) + 0.15 * rows))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for e in events:
        ax.barh(e.worker, (e.end - e.start) * 1e3, left=e.start * 1e3, height=0.7, color=colour[e.op],
                edgecolor="white", linewidth=0.3, hatch=hatch[e.op])
    ax.set_yticks(workers, [f"worker {w}" for w in workers])
    ax.invert_yaxis()
    ax.set_xlabel("ms from the call's start")
    ax.set_title(title or "profile")
    # a swatch per op (an empty bar would show the default colour), in the figure's own strip below the axes
    swatches = [Patch(facecolor=colour[op], hatch=hatch[op], edgecolor="white", label=op) for op in ops]
    fig.legend(handles=swatches, fontsize=7, ncol=min(len(ops), 6), loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.05 * rows, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_file(path, buf.getvalue())
    return True
