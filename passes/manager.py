"""Passes and the pass manager.

A pass maps a ``Graph`` to a ``PassResult(graph, changed)``. It declares
whether it works ``in_place`` (mutates and returns its input) or returns a
new graph. Printing, dumping, verification and timing are the manager's
instrumentation, never code inside passes (as in MLIR):

- ``verify_each``: run the verifier after every pass;
- ``print_after_all`` / ``print_after`` (a set of pass names) / ``print_after_change``;
- ``dump_dir``: write ``00-input.ir``, ``01-<pass>.ir``, ... each with a header
  naming the pass and whether it changed the graph. If a pass raises, the
  manager writes ``NN-<pass>.failed-input.ir`` (a reproducer) and raises
  ``PassError`` naming the pass and the file.
"""
from __future__ import annotations

import difflib
import gc
import sys
import time
from dataclasses import dataclass, field, fields
from typing import Callable, List, Optional, Sequence

from ..ir import ArgumentError, Graph, PassError, print_graph, verify
from ..ir.errors import ChainruleError
from ..ir.files import prepare_dump_dir, write_in


@dataclass
class PassResult:
    graph: Graph
    changed: bool
    notes: List[str] = field(default_factory=list)  # e.g. which rewrite rules fired, on which nodes


class Pass:
    """Base class: subclasses set ``name`` and implement ``run``."""

    name: str = "pass"
    in_place: bool = True

    def run(self, graph: Graph) -> PassResult:
        raise NotImplementedError

    def __call__(self, graph: Graph) -> PassResult:
        return self.run(graph)

    def __repr__(self):
        return f"<pass {self.name}>"


class FunctionPass(Pass):
    """A pass made from a function ``graph -> bool`` (changed) that mutates in place."""

    def __init__(self, name: str, fn: Callable[[Graph], bool], doc: str = ""):
        self.name, self.fn = name, fn
        self.__doc__ = doc

    def run(self, graph):
        return PassResult(graph, bool(self.fn(graph)))


def graph_pass(name: str):
    """Decorator turning ``def f(graph) -> changed`` into an in-place ``Pass``."""
    def wrap(fn):
        return FunctionPass(name, fn, fn.__doc__ or "")
    return wrap


@dataclass
class PassRecord:
    """What the manager saw of one pass: name, changed, seconds (the pass itself), text after."""
    name: str
    changed: bool
    seconds: float
    text: str = ""
    notes: List[str] = field(default_factory=list)  # the pass result's notes
    verify_seconds: float = 0.0  # the verifier's run after the pass (with ``verify_each``)


def format_timing(history: Sequence[PassRecord]) -> str:
    """A per-pass time table, as MLIR's ``-mlir-timing`` prints one::

        pass                 time (ms)   share
        infer-shapes             0.212    8.1%
        ...
        (verifier)               0.530   20.2%
        total                    2.624  100.0%
    """
    rows = [(r.name, r.seconds) for r in history if r.name != "input"]
    rows.append(("(verifier)", sum(r.verify_seconds for r in history)))
    total = sum(s for _, s in rows) or 1e-12
    width = max(len("pass"), *(len(n) for n, _ in rows))
    lines = [f"{'pass':{width}}  time (ms)   share"]
    lines += [f"{n:{width}}  {s * 1e3:9.3f}  {100 * s / total:5.1f}%" for n, s in rows]
    lines.append(f"{'total':{width}}  {total * 1e3:9.3f}  100.0%")
    return "\n".join(lines) + "\n"


@dataclass
class PassManager:
    passes: Sequence[Pass]
    verify_each: bool = True
    print_after_all: bool = False
    print_after: Sequence[str] = ()
    print_after_change: bool = False
    dump_dir: Optional[str] = None
    keep_text: bool = False  # keep each pass's IR text in ``history`` (for diffs and reports)
    stream: object = None
    history: List[PassRecord] = field(default_factory=list)

    def run(self, graph: Graph) -> Graph:
        # Passes allocate many small objects that stay alive until the pipeline ends; the cyclic
        # garbage collector's repeated scans of that growing heap made compile time super-linear
        # in graph size. Reference counting still frees everything; the collector resumes after.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._run(graph)
        finally:
            if paused:
                gc.enable()

    @classmethod
    def check_options(cls, options, where: str, hints=None) -> None:
        """Refuse an option a ``PassManager`` does not take, naming it and those it does, with a
        hint where one is known (``hints``: option -> text), rather than a ``TypeError`` from its
        constructor."""
        known = [f.name for f in fields(cls) if f.name not in ("passes", "history")]
        unknown = sorted(set(options) - set(known))
        if unknown:
            hint = "".join(f"; {(hints or {})[k]}" for k in unknown if k in (hints or {}))
            raise ArgumentError(f"{where}() takes no option {', '.join(map(repr, unknown))}: besides its own "
                                f"arguments it takes the pass manager's ({', '.join(known)}){hint}")

    def check_print_after(self) -> None:
        """Refuse a ``print_after`` name that is not a pass of this pipeline (before anything runs)."""
        names = [p.name for p in self.passes]
        unknown = [n for n in self.print_after if n not in names]
        if unknown:
            close = [m for n in unknown for m in difflib.get_close_matches(n, names, 1)]
            raise PassError(f"--print-after names unknown pass(es) {', '.join(unknown)}"
                            + (f" (did you mean {', '.join(close)}?)" if close else "")
                            + f"; this pipeline runs: {', '.join(names)}")

    def _run(self, graph: Graph) -> Graph:
        out = self.stream or sys.stdout
        self.check_print_after()
        if self.dump_dir:
            prepare_dump_dir(self.dump_dir)  # refuses a folder of other files (cr.dump may force it first)
            self._dump(0, "input", None, graph)
        t0 = time.perf_counter()
        if self.verify_each:
            self._verify(graph, "input")
        self.history = [PassRecord("input", False, 0.0, print_graph(graph) if self.keep_text else "",
                                   verify_seconds=time.perf_counter() - t0)]
        for i, p in enumerate(self.passes, 1):
            t0 = time.perf_counter()
            try:
                result = p.run(graph)
            except Exception as err:
                where = ""
                if self.dump_dir:
                    path = write_in(self.dump_dir, f"{i:02d}-{p.name}.failed-input.ir",
                                    f"// input of failing pass {p.name}: {_describe(err)}\n" + print_graph(graph))
                    where = f" (its input graph is in {path})"
                if isinstance(err, ChainruleError) and not isinstance(err, PassError):
                    raise PassError(f"pass {p.name} failed{where}: {err}") from err
                if isinstance(err, PassError):
                    raise
                raise PassError(f"pass {p.name} failed with {_describe(err)}{where}") from err
            t1 = time.perf_counter()
            graph = result.graph
            if self.verify_each:
                self._verify(graph, p.name)
            t2 = time.perf_counter()
            text = None
            if self.keep_text:
                text = print_graph(graph)
            self.history.append(PassRecord(p.name, result.changed, t1 - t0, text or "", list(result.notes), t2 - t1))
            if self.dump_dir:
                self._dump(i, p.name, result.changed, graph)
            if self.print_after_all or p.name in self.print_after or (self.print_after_change and result.changed):
                out.write(f"// ----- IR after {p.name}{'' if result.changed else ' (unchanged)'} -----\n")
                out.write(text or print_graph(graph))
        return graph

    def _verify(self, graph, after):
        try:
            verify(graph)
        except ChainruleError as err:
            raise PassError(f"the graph is invalid after pass {after}: {err}") from err

    def _dump(self, i, name, changed, graph):
        status = "" if changed is None else (" (changed)" if changed else " (unchanged)")
        head = f"// {i:02d}: IR after pass {name}{status}\n" if i else "// 00: input IR\n"
        write_in(self.dump_dir, f"{i:02d}-{name}.ir", head + print_graph(graph))


def _describe(err: BaseException) -> str:
    """``RuntimeError: boom``; a MemoryError (often without a message) says it ran out of memory."""
    text = str(err)
    if isinstance(err, MemoryError):
        return f"{type(err).__name__}: it ran out of memory" + (f" ({text})" if text else "")
    return f"{type(err).__name__}: {text}" if text else f"{type(err).__name__} (no message)"


def run_passes(graph: Graph, passes: Sequence[Pass], **options) -> Graph:
    """Run ``passes`` on ``graph`` with the manager's instrumentation options."""
    return PassManager(list(passes), **options).run(graph)
