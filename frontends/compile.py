"""``cr.compile``: lower a model, run a pass pipeline, and return something to call.

    exe = cr.compile(model)            # model: a Graph or an nn Module
    y = exe(x)                         # outputs in graph order (one array or a tuple)
    outs = exe.run({"x": x})           # {output name: array}

A compiled model is specialised on what its inputs fix, at call time, and keeps the
specialisations it made (``runtime/specialize.py``): per size of each symbolic dimension
(the batch size), the executor's memory plan and code; and for a model with
specialisation keys (an ONNX model that feeds a reshape target as an input,
``frontends/onnx/keys.py``), per value of its keys, a graph built and compiled for that
value (``KeyedExecutable``). A new batch size or key value compiles once; the most
recently used ``MAX_SPECIALIZATIONS`` of each are kept.
"""
from __future__ import annotations

import os
import threading
from typing import Dict, Optional, Sequence, Union

import numpy as np

from ..ir import ArgumentError, Graph, InputError, WriteError
from ..passes import Pass, PassManager, get_pipeline
from ..passes.memory import plan_memory
from ..runtime import Interpreter
from ..runtime.backends import BACKENDS, RUNNERS
from ..runtime.dataflow import DataflowExecutor
from ..runtime.executor import SequentialExecutor
from ..runtime.specialize import Specializations
from .python.lower import to_graph


EXECUTORS = {"interpreter": Interpreter, "sequential": SequentialExecutor, "dataflow": DataflowExecutor}


def make_runner(executor: str, graph: Graph, params, threads: Optional[int] = None, backend: str = "numpy"):
    """The runner named ``executor`` for ``graph`` on ``params`` (planned buffers unless "interpreter");
    a runner backend (``backend="numba"``) takes the sequential executor's place."""
    if executor not in EXECUTORS:
        raise ArgumentError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if backend != "numpy":
        check_backend(backend, executor, runner=True)
        return RUNNERS[backend](graph, params, planner=plan_memory, threads=threads)
    if executor == "interpreter":
        return Interpreter(graph, params)
    return EXECUTORS[executor](graph, params, planner=plan_memory, threads=threads)


def check_backend(backend: str, executor: str = "sequential", runner: bool = False) -> None:
    """``backend`` is known (and, for ``runner``, one that runs inside an Executable or a TrainStep)."""
    known = RUNNERS if runner else {**RUNNERS, **BACKENDS}
    if backend not in known:
        raise ArgumentError(f"unknown backend {backend!r}; choose from {', '.join(['numpy', *known])}")
    if backend in RUNNERS and executor != "sequential":
        raise ArgumentError(f"backend={backend!r} compiles the whole step into one function, so "
                          f"executor={executor!r} does not apply; leave executor at 'sequential'")


class Executable:
    """A compiled graph bound to a NumPy runtime: the sequential executor (planned buffers) by default,
    the dataflow executor, or the interpreter (always, with ``check_numerics``)."""

    def __init__(self, graph: Graph, history=(), check_numerics: bool = False, executor: str = "sequential",
                 threads: Optional[int] = None, backend: str = "numpy"):
        self.graph = graph
        self.history = list(history)
        self.interpreter = Interpreter(graph, check_numerics=check_numerics)
        self.runner = self.interpreter  # executor: "interpreter", "sequential" or "dataflow" (planned buffers)
        if executor != "interpreter" and not check_numerics:
            self.runner = make_runner(executor, graph, self.interpreter.params, threads, backend)

    @property
    def params(self) -> Dict[str, np.ndarray]:
        return self.interpreter.params

    @property
    def compile_times(self) -> Dict[str, object]:
        """What building the step took, in seconds, for a backend that compiles (numba: ``lower``,
        ``numba``, ``cache`` hit or miss, ``numba init``); empty before the first call or for NumPy."""
        return dict(getattr(self.runner, "compile_times", {}))

    def __call__(self, *arrays):
        outs = self.runner.run_list(list(arrays))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self.runner.run(feeds)

    def schedule(self, *arrays):
        """The dataflow executor's schedule for inputs like these (None for the other executors)."""
        return self.runner.schedule_for(list(arrays)) if isinstance(self.runner, DataflowExecutor) else None

    def profile(self, inputs, path: Optional[str] = None, gantt: Optional[str] = None):
        """One timed call on ``inputs`` (a list of arrays, or a dict by name as ``run`` takes): a list
        of ``runtime.profile.Event``, written as Chrome trace-event JSON to ``path`` and as a Gantt
        chart PNG to ``gantt`` if given.
        The interpreter is profiled through the sequential executor's code (the same results), and so
        is a numba step: compiled as one function, its nodes cannot be timed one by one."""
        return profile_call(self.runner, self.graph, _listed(inputs, [v.name for v in self.graph.inputs],
                                                             self.runner.run), path, gantt)

    def __repr__(self):
        return f"<Executable {self.graph.name}: {len(self.graph.nodes)} nodes, {type(self.runner).__name__}>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """A notebook shows the compiled graph (``ir/display.py``)."""
        from ..ir.display import graph_bundle
        return graph_bundle(self.graph, repr(self))


class KeyedExecutable:
    """A model with specialisation keys, compiled per value of its keys on first use.

    ``model`` has ``input_names``, ``keys`` (the names of its key inputs) and
    ``specialize(values) -> Graph`` (``frontends/onnx/keys.KeyedModel``). A call reads the
    keys' values among its inputs and runs the ``Executable`` compiled for them, kept in
    ``specializations`` (at most ``max_specializations``, least recently used dropped first).
    """

    def __init__(self, model, compile_graph, max_specializations: Optional[int] = None):
        self.model = model
        self.compile_graph = compile_graph  # Graph -> Executable
        self.specializations = Specializations(max_specializations)
        self.last: Optional[Executable] = None
        self._lock = threading.Lock()  # look-up and insertion from several threads

    @property
    def graph(self) -> Optional[Graph]:
        """The graph of the most recent call's specialisation (None before the first call)."""
        return None if self.last is None else self.last.graph

    @property
    def params(self) -> Dict[str, np.ndarray]:
        return self.model.params

    @property
    def history(self):
        return [] if self.last is None else self.last.history

    def executable_for(self, arrays) -> Executable:
        """The Executable for these inputs (in the model's input order), compiled if new."""
        names = self.model.input_names
        if len(arrays) != len(names):
            raise InputError(f"model {self.model.name} takes {len(names)} input(s) "
                             f"({', '.join('%' + n for n in names)}), got {len(arrays)}")
        with self._lock:
            exe = self.specializations.use(self._key(arrays))
            if exe is None:
                exe = self.compile_graph(self.model.specialize(dict(zip(names, arrays))))
                self.specializations.add(self._key(arrays), exe)  # after specialize: model.keys may have grown
            self.last = exe
        return exe

    def _key(self, arrays):
        index = {n: i for i, n in enumerate(self.model.input_names)}
        key = []
        for k in self.model.keys:
            a = np.asarray(arrays[index[k]])
            key.append((a.dtype.str, a.shape, a.tobytes()))
        return tuple(key)

    def __call__(self, *arrays):
        return self.executable_for(arrays)(*arrays)

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        names = self.model.input_names
        if sorted(feeds) != sorted(names):
            raise InputError(f"model {self.model.name} takes inputs {', '.join(names)}, got {', '.join(feeds)}")
        return self.executable_for([feeds[n] for n in names]).run(feeds)

    def schedule(self, *arrays):
        return self.executable_for(arrays).schedule(*arrays)

    def profile(self, inputs, path: Optional[str] = None, gantt: Optional[str] = None):
        arrays = _listed(inputs, self.model.input_names, self.run)
        return self.executable_for(arrays).profile(arrays, path, gantt)

    def __repr__(self):
        return (f"<KeyedExecutable {self.model.name}: specialised on {', '.join('%' + k for k in self.model.keys)}, "
                f"{len(self.specializations)} specialisation(s)>")


def profile_call(runner, graph: Graph, arrays, path: Optional[str] = None, gantt: Optional[str] = None):
    """One timed call of ``runner`` (compiled from ``graph``) on ``arrays``, written to ``path`` (trace
    JSON) and ``gantt`` (PNG) if given; an interpreter is timed through the sequential executor's code."""
    from ..runtime.profile import gantt_png, profile, write_trace
    for out in (path, gantt):  # before the call, which may update parameters: nothing half done
        folder = os.path.dirname(out) if out else ""
        if folder and not os.path.isdir(folder):
            raise WriteError(f"cannot write {out}: the folder {folder} does not exist")
    if isinstance(runner, Interpreter):
        runner = SequentialExecutor(graph, runner.params, planner=plan_memory)
    events = profile(runner, arrays)
    # "sequential" is also nn.Sequential's graph name: the title says which is which
    title = f"{graph.name}: the {'dataflow' if isinstance(runner, DataflowExecutor) else 'sequential'} executor"
    if path:
        write_trace(path, events, title)
    if gantt:
        gantt_png(events, gantt, title)
    return events


def _listed(inputs, names, run) -> list:
    """``inputs`` as a list of arrays: one array, a list, or a dict by input name (a wrong set of names
    goes to ``run``, whose error names the inputs the model takes)."""
    if isinstance(inputs, dict):
        return [inputs[n] for n in names] if sorted(inputs) == sorted(names) else run(inputs)
    return [inputs] if isinstance(inputs, np.ndarray) else list(inputs)


def compile(model: Union[Graph, Module], pipeline: Union[str, Sequence[Pass]] = "inference",
            input_shape=None, check_numerics: bool = False, copy: bool = True, executor: str = "sequential",
            threads: Optional[int] = None, backend: str = "numpy", max_specializations: Optional[int] = None,
            **options) -> Union[Executable, KeyedExecutable]:
    """Compile ``model`` with a named pipeline (or a list of passes).

    ``options`` go to the ``PassManager``: ``verify_each``, ``print_after_all``,
    ``print_after``, ``print_after_change``, ``dump_dir``, ``keep_text``.
    The input graph is copied first unless ``copy=False``. ``executor``: "sequential"
    (planned buffers, least overhead), "dataflow" (thread pool) or "interpreter";
    ``threads`` caps BLAS threads (threadpoolctl). ``backend="onnxruntime"`` runs the
    compiled graph on onnxruntime instead (registered by ``frontends/onnx/``, same interface);
    ``backend="numba"`` compiles the whole step into one numba function (``runtime/numba_backend.py``;
    needs ``pip install "chainrule[numba]"``).
    A model with specialisation keys (``import_onnx``'s ``KeyedModel``) compiles to a
    ``KeyedExecutable``: one graph per value of its keys, the ``max_specializations``
    (default ``MAX_SPECIALIZATIONS``) most recently used kept.
    """
    check_backend(backend, executor) if backend != "numpy" else None
    PassManager.check_options(options, "compile")
    if hasattr(model, "specialize"):
        def compile_graph(g):
            return compile(g, pipeline, check_numerics=check_numerics, copy=False, executor=executor,
                           threads=threads, backend=backend, **options)
        return KeyedExecutable(model, compile_graph, max_specializations)
    graph = to_graph(model, input_shape, "compile")
    if copy:
        graph = graph.clone()
    passes = get_pipeline(pipeline)
    pm = PassManager(passes, **options)
    compiled = pm.run(graph)
    if backend in BACKENDS:
        return BACKENDS[backend](compiled, pm.history)
    return Executable(compiled, pm.history, check_numerics=check_numerics, executor=executor, threads=threads,
                      backend=backend)
