"""``backend="numba"``: the whole scheduled step compiled by numba into one function.

    exe = cr.compile(model, backend="numba")        # or cr.compile_train(..., backend="numba")
    y = exe(x)                                      # the first call for a new graph compiles it
    exe.compile_times     # {'lower': 0.004, 'numba': 1.9, 'cache': 'miss', 'numba init': 0.4}
    exe.runner.fallbacks  # nodes left to their NumPy kernel, e.g. ['conv (Conv)']

``NumbaExecutor`` is the sequential executor (``executor.py``: input checks, one memory plan
and one arena per batch size, error messages) whose generated Python calls, instead of one
NumPy function per node, the functions of one numba module: the kernels of ``lowering.py``
written out by ``numba_source.py``. A node without a loop form runs its NumPy kernel between
two numba functions, on the same arena.

The module is a file in the cache folder (``cache.py``: ``CHAINRULE_CACHE``, else the user's
cache folder, in ``numba/``), named by a hash of its text and written once; numba keeps the
compiled code beside it (``cache=True``), so another process with the same graph loads it
instead of compiling (``compile_times['cache'] == 'hit'``). numba is optional: chainrule imports
without it, and asking for this backend without it is a ``BackendError`` saying how to install it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sys
import tempfile
import threading
import time
from typing import Dict, Optional

import numpy as np

from ..ir.files import write_file
from .backends import BackendError, register_runner
from .cache import cache_dir
from .executor import SequentialExecutor
from .lowering import lower
from .numba_source import step_source
from .threads import rescan

INSTALL = 'pip install "chainrule[numba]"'
log = logging.getLogger("chainrule.numba")
_LOCK = threading.Lock()
_STATE: Dict[str, object] = {}  # "numba": the module, "init": seconds its first set-up took
_MODULES: Dict[str, object] = {}  # source hash -> the imported step module (one per process)


def load_numba():
    """numba, imported and set up once per process (the set-up time is ``compile_times['numba init']``)."""
    with _LOCK:
        if "numba" not in _STATE:
            t0 = time.perf_counter()
            try:
                import numba
                from numba.core.registry import cpu_target
            except ImportError:
                raise BackendError(f"backend='numba' needs the numba package: {INSTALL} "
                                   f"(or pip install numba)") from None
            cpu_target.target_context.refresh()  # numba's own set-up (its NumPy and BLAS support), once
            rescan()  # numba's np.dot calls SciPy's OpenBLAS, now loaded: blas_threads must see it too
            _STATE["numba"], _STATE["init"] = numba, time.perf_counter() - t0
        return _STATE["numba"]


def _folder() -> str:
    """The folder of the step modules: in the cache folder if it can be written, else a temporary one."""
    want = cache_dir("numba")
    try:
        os.makedirs(want, exist_ok=True)
        if os.access(want, os.W_OK):
            return want
    except OSError:
        pass
    if "tmp" not in _STATE:
        _STATE["tmp"] = tempfile.mkdtemp(prefix="chainrule-numba-")
        log.warning("cannot write the cache folder %s: compiled steps are kept in %s for this process only",
                    want, _STATE["tmp"])
    return _STATE["tmp"]


def step_module(text: str):
    """The module of generated source ``text``: written once as ``step_<hash>.py``, imported once."""
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    with _LOCK:
        mod = _MODULES.get(key)
        if mod is not None:
            return mod
        path = os.path.join(_folder(), f"step_{key}.py")
        if not os.path.exists(path):  # never rewritten: numba's cache is keyed by the file's time stamp
            write_file(path, text)
        name = f"chainrule_step_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # numba finds the module by name when it loads its cache
        spec.loader.exec_module(mod)
        _MODULES[key] = mod
        return mod


class NumbaExecutor(SequentialExecutor):
    """The sequential executor's planned step, with every node that has a loop form compiled by numba."""

    def __init__(self, graph, params=None, planner=None, threads=None):
        self.nb = load_numba()
        super().__init__(graph, params, planner=_aligned(planner) if planner else None, threads=threads)
        self.compile_times: Dict[str, object] = {}
        self.program = None  # the kernels (loops.Program) of the last compile
        self.module = None
        self.module_source: Optional[str] = None
        self._values = {v.name: v for v in graph.all_values()}

    def _lookup(self, arrays):
        """As the sequential executor's, with every input C-contiguous: what the step was compiled for."""
        try:
            contiguous = all([a.flags.c_contiguous for a in arrays])
        except AttributeError:  # not arrays: the sequential executor's slow path converts them
            contiguous = True
        if not contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
            arrays = [a.copy(order="C") if isinstance(a, np.ndarray) and not a.flags.c_contiguous else a
                      for a in arrays]
        return super()._lookup(arrays)

    @property
    def fallbacks(self):
        """Nodes without a loop form, which run their NumPy kernel inside the step (``node (Op)``)."""
        return list(self.program.fallbacks) if self.program is not None else None

    def _compile(self, key):
        prep = self.prepared(key)
        plan = self.plans[key]
        t0, c0 = time.perf_counter(), time.process_time()
        program = lower(self.graph, prep.nodes, can_lower=_supported)
        src = step_source(program, list(plan.buffer_of), plan.param_outputs)
        t1 = time.perf_counter()
        mod = step_module(src.text)
        first = self.module is None
        self.program, self.module, self.module_source = program, mod, src.text
        arenas, offs = self._arenas(prep, src), self._offsets(src, plan)
        ns = dict(prep.gen.ns)
        ns.update({f"arena_{a}_": x for a, x in zip(src.arenas, arenas)}, offs_=offs)
        hits = misses = 0
        for seg in src.segments:
            fn = getattr(mod, seg.name)
            ns[seg.name] = fn
            before = (sum(fn.stats.cache_hits.values()), sum(fn.stats.cache_misses.values()))
            sig = tuple(self._arg_type(prep, src, v) for v in seg.args) + tuple(
                self.nb.typeof(x) for x in arenas) + (self.nb.typeof(offs),)
            try:
                fn.compile(sig)
            except Exception as err:  # noqa: BLE001 (numba's typing and lowering errors have many types)
                raise BackendError(f"numba could not compile {seg.name} of graph {self.graph.name} "
                                   f"(module {getattr(mod, '__file__', '?')}): {type(err).__name__}: "
                                   f"{_first_lines(err)}") from err
            hits += sum(fn.stats.cache_hits.values()) - before[0]
            misses += sum(fn.stats.cache_misses.values()) - before[1]
        t2 = time.perf_counter()
        if first:  # seconds of wall time; "cpu": this process's processor time for both (load-proof)
            self.compile_times = {"lower": t1 - t0, "numba": t2 - t1, "cpu": time.process_time() - c0,
                                  "cache": "hit" if hits and not misses else "miss" if misses and not hits
                                  else "mixed" if hits else "memory",
                                  "numba init": float(_STATE.get("init", 0.0)), "segments": len(src.segments)}
        self.source = self._glue(prep, key, src)
        exec(compile(self.source, f"<chainrule numba step {self.graph.name}>", "exec"), ns)  # noqa: S102
        return ns["step"]

    @staticmethod
    def _arenas(prep, src):
        """The arena as an array of each element type the planned values have (views of its bytes)."""
        out = []
        for name in src.arenas:
            dt = np.dtype(name)
            out.append(prep.arena[:len(prep.arena) // dt.itemsize * dt.itemsize].view(dt))
        return out

    def _offsets(self, src, plan) -> np.ndarray:
        """offs: the symbolic sizes, then where each planned value starts in the arena (in elements)."""
        b = plan.bindings
        offs = [int(b[s]) for s in src.symbols] + [
            int(plan.buffer_offsets[plan.buffer_of[v]]) // self._values[v].type.dtype.numpy.itemsize
            for v in src.planned]
        return np.array(offs or [0], np.int64)

    def _arg_type(self, prep, src, name):
        v = self._values[name]
        expr = prep.expr[prep.slot[id(v)]]
        if expr in prep.gen.ns:  # a value bound now (a constant): its exact type
            return self.nb.typeof(prep.gen.ns[expr])
        if v.kind in ("param", "state"):
            return self.nb.typeof(self.params[name])
        t = v.type
        return self.nb.types.Array(self.nb.from_dtype(t.dtype.numpy), t.rank, "A" if name in src.views else "C")

    def _glue(self, prep, key, src) -> str:
        """The Python step: the numba functions and the NumPy kernels of the nodes without loops, in order."""
        lines, results = self.step_head(prep)
        for kind, item in src.items:
            if kind == "numpy":
                lines += ["    " + ln for ln in prep.code[item][0]]
                continue
            args = [prep.expr[prep.slot[id(self._values[v])]] for v in item.args] + \
                [f"arena_{a}_" for a in src.arenas] + ["offs_"]
            call = f"{item.name}({', '.join(args)})"
            rets = [f"v{prep.slot[id(self._values[v])]}" for v in item.returns]
            lines.append(f"    {', '.join(rets)}, = {call}" if rets else f"    {call}")
        return "\n".join(lines + self.step_tail(prep, results))


def _first_lines(err, k: int = 4) -> str:
    """The first lines of numba's message, without its terminal colours."""
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if ln.strip()]
    return " / ".join(lines[:k])


def _aligned(planner):
    """``planner`` whose buffers each start on a multiple of their element size, as the arena's typed
    views need: a plan that laid its buffers end to end unaligned gets them 64 bytes apart instead."""
    def plan(graph, bindings):
        p = planner(graph, bindings)
        itemsize = {o.name: o.type.dtype.numpy.itemsize for n in graph.nodes for o in n.outputs}
        size = {b: 1 for b in range(len(p.buffer_bytes))}
        for v, b in p.buffer_of.items():
            size[b] = max(size[b], itemsize[v])
        if any(o % size[b] for b, o in enumerate(p.buffer_offsets)):
            at, offsets = 0, []
            for nbytes in p.buffer_bytes:  # one buffer after the other: no two share bytes
                offsets.append(at)
                at += -(-nbytes // 64) * 64
            p.buffer_offsets = offsets
        return p
    return plan


def _supported(node) -> bool:
    """numba compiles the loops of this node: no float16 (numba has no half floats)."""
    return all(v.type.dtype.numpy.itemsize != 2 or v.type.dtype.numpy.kind != "f"
               for v in list(node.inputs) + list(node.outputs))


register_runner("numba", NumbaExecutor)
