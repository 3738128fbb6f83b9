"""The NumPy interpreter: runs a scheduled graph.

Everything that can be decided before the first call is decided in the
constructor: each node's kernel is built once (attributes bound), every value
gets a slot number, and each step knows which slots die after it. A call is
then a thin loop over prepared ``(kernel, input slots, output slots, dead
slots)`` tuples; values are freed right after their last use.

A failing kernel raises ``ExecutionError`` naming the node, its input shapes
and its line of IR. Inputs are checked against the graph's types first
(missing or extra inputs, wrong dtype, rank, fixed dimension, or a symbolic
dimension bound to two sizes, a specialisation key fed another value than
the graph's), with an ``InputError`` naming the input.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ..ir import ExecutionError, Graph, InputError
from ..ir.errors import ChainruleError
from ..ir.printer import format_node
from .limits import check_memory, peak_live_bytes


class NumericsError(ChainruleError):
    """A node produced NaN or Inf while ``check_numerics`` was on."""


def _range(a) -> str:
    a = np.asarray(a)
    if a.size == 0 or a.dtype.kind not in "fiub":
        return f"{a.dtype}{list(a.shape)}"
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    lo, hi = (finite.min(), finite.max()) if finite.size else (np.nan, np.nan)
    bad = a.size - finite.size
    return f"{a.dtype}{list(a.shape)} in [{lo:.4g}, {hi:.4g}]" + (f", {bad} non-finite" if bad else "")


def _convert(a, want) -> np.ndarray:
    """A list (or scalar) as an array of dtype ``want``. Holes are refused: NumPy would turn
    None into NaN and accept strings, so a list with a missing value would run silently."""
    raw = np.asarray(a)
    if raw.dtype.kind in "OUSV":
        if raw.dtype.kind == "O":
            flat = raw.ravel()
            holes = [i for i, x in enumerate(flat) if x is None]
            if holes:
                at = np.unravel_index(holes[0], raw.shape) if raw.ndim else ()
                raise ValueError(f"it holds None (the first at index {list(map(int, at))}); "
                                 f"give numbers only")
            kinds = sorted({type(x).__name__ for x in flat if not isinstance(x, (int, float, bool, np.generic))})
            if kinds or raw.ndim == 0:
                raise ValueError(f"it holds {', '.join(kinds) or type(a).__name__} values, or rows of "
                                 f"different lengths; give numbers only")
        else:
            raise ValueError(f"it holds {raw.dtype} text, not numbers")
    return np.asarray(raw, dtype=want)


# -- input checking: the policy every backend applies (the onnxruntime one too) ---------------------
def feeds_in_order(graph: Graph, feeds: Dict[str, np.ndarray]) -> List:
    """The arrays of ``feeds`` (by input name) in the graph's input order; a missing or unknown
    name is an ``InputError`` listing them."""
    names = [v.name for v in graph.inputs]
    extra = [k for k in feeds if k not in names]
    missing = [k for k in names if k not in feeds]
    if extra or missing:
        parts = []
        if missing:
            parts.append(f"missing input(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unknown input(s) {', '.join(extra)}")
        raise InputError(f"graph {graph.name}: {'; '.join(parts)} (inputs: {', '.join(names)})")
    return [feeds[n] for n in names]


def check_count(graph: Graph, arrays: List) -> None:
    if len(arrays) != len(graph.inputs):
        names = ", ".join(f"%{v.name}" for v in graph.inputs)
        raise InputError(f"graph {graph.name} takes {len(graph.inputs)} input(s) ({names}), got {len(arrays)}")


def check_keys(graph: Graph, arrays: List[np.ndarray]) -> None:
    """Each specialisation key (``Graph.keys``) must be fed the value the graph was built for."""
    keys = graph.keys
    for v, a in zip(graph.inputs, arrays):
        if v.name in keys and not np.array_equal(a, keys[v.name]):
            raise InputError(f"input %{v.name} is a specialisation key of graph {graph.name}: the graph "
                             f"was built for %{v.name} = {keys[v.name].tolist()}, got {np.asarray(a).tolist()}; "
                             f"a compiled model (cr.compile of the imported model) makes a graph per value")


def _spelled(dt: np.dtype) -> str:
    """How a user names ``dt`` in Python: ``np.float32``, ``object`` (strings), ``ml_dtypes.bfloat16``."""
    if dt.kind == "O":
        return "object"
    return f"np.{dt.name}" if isinstance(getattr(np, dt.name, None), type) else f"ml_dtypes.{dt.name}"


def check_inputs(graph: Graph, arrays: List, peak_bytes) -> List[np.ndarray]:
    """``arrays`` checked against the graph's input types: lists converted, but no dtype changed
    (a float64 array for an f32 input is refused, not silently rounded), ranks, fixed dimensions and
    symbols bound consistently; then the memory the call needs (``peak_bytes(bindings)``)."""
    out, bound = [], {}
    for v, a in zip(graph.inputs, arrays):
        want = v.type.dtype.numpy
        if not isinstance(a, np.ndarray):
            try:
                a = _convert(a, want)
            except (TypeError, ValueError) as err:
                raise InputError(f"input %{v.name}: cannot convert {type(a).__name__} to {want}: {err}") from None
        if a.dtype != want:
            raise InputError(f"input %{v.name} must have dtype {want} (type {v.type}), got {a.dtype}; "
                             f"convert it with .astype({_spelled(want)})")
        if a.ndim != v.type.rank:
            raise InputError(f"input %{v.name} must have rank {v.type.rank} (type {v.type}), "
                             f"got shape {list(a.shape)}")
        for k, (d, n) in enumerate(zip(v.type.shape, a.shape)):
            if isinstance(d, int) and d != n:
                raise InputError(f"input %{v.name} dimension {k} must be {d} (type {v.type}), "
                                 f"got shape {list(a.shape)}")
            if isinstance(d, str):
                if bound.setdefault(d, (n, v.name))[0] != n:
                    raise InputError(f"input %{v.name} dimension {k} is {d}={n}, but %{bound[d][1]} "
                                     f"bound {d}={bound[d][0]}")
        out.append(a)
    if graph.keys:
        check_keys(graph, out)
    sizes = {k: n for k, (n, _) in bound.items()}  # all-static graphs too (sizes {})
    check_memory(graph, sizes, peak_bytes(sizes))
    return out


class Interpreter:
    """Executes ``graph`` with NumPy; parameters are read from ``params`` (live arrays)."""

    def __init__(self, graph: Graph, params: Optional[Dict[str, np.ndarray]] = None,
                 check_numerics: bool = False):
        self.graph = graph
        self.params = graph.initializers if params is None else params
        self.check_numerics = check_numerics
        missing = [p.name for p in graph.params if p.name not in self.params]
        if missing:
            raise InputError(f"graph {graph.name} has parameters without arrays: {', '.join(missing)}")
        slot: Dict[int, int] = {}

        def slot_of(v):
            return slot.setdefault(id(v), len(slot))

        self.input_slots = [slot_of(v) for v in graph.inputs]
        self.param_slots = [(slot_of(v), v.name) for v in graph.params]
        keep = graph.exported_ids()
        last_use: Dict[int, int] = {}
        for i, node in enumerate(graph.nodes):
            for v in node.inputs:
                last_use[id(v)] = i
        steps = []
        for i, node in enumerate(graph.nodes):
            ins = tuple(slot_of(v) for v in node.inputs)
            outs = tuple(slot_of(v) for v in node.outputs)
            dead = tuple(sorted({slot_of(v) for v in node.inputs
                                 if last_use[id(v)] == i and id(v) not in keep and v.kind == "node"}))
            steps.append((node.op.kernel(dict(node.attrs)), ins, outs, dead))
        self.steps = steps
        self.nslots = len(slot)
        self.output_slots = [slot_of(v) for v in graph.outputs]
        self.update_slots = [(p.name, slot_of(v)) for p, v in graph.updates]
        self._peaks: Dict[tuple, int] = {}

    def peak_bytes(self, bindings: Dict[str, int]) -> int:
        """Most bytes of inputs and intermediate values alive at once, for these symbol sizes."""
        key = tuple(sorted(bindings.items()))
        if key not in self._peaks:
            self._peaks[key] = peak_live_bytes(self.graph, bindings)
        return self._peaks[key]

    # -- input checking ------------------------------------------------------
    def check_inputs(self, arrays: List) -> List[np.ndarray]:
        return check_inputs(self.graph, arrays, self.peak_bytes)

    # -- running -------------------------------------------------------------
    def run_list(self, arrays: List, check: bool = True) -> List[np.ndarray]:
        """Run with inputs in graph order; returns outputs in graph order."""
        if check:
            check_count(self.graph, arrays)
            arrays = self.check_inputs(arrays)
        env: List = [None] * self.nslots
        for s, a in zip(self.input_slots, arrays):
            env[s] = a
        params = self.params
        for s, name in self.param_slots:
            env[s] = params[name]
        if self.check_numerics:
            self._run_checked(env)
        else:
            i = 0
            try:
                for i, (fn, ins, outs, dead) in enumerate(self.steps):
                    r = fn(*[env[j] for j in ins])
                    if len(outs) == 1:
                        env[outs[0]] = r
                    else:
                        for s, x in zip(outs, r):
                            env[s] = x
                    for j in dead:
                        env[j] = None
            except ChainruleError:
                raise
            except Exception as err:
                self._fail(i, env, err)
        # an output that is (a view of) a parameter is copied, as the executors do: writing into
        # it must not change the model, and it keeps its value from before this step's update
        live = [params[name] for _, name in self.param_slots]
        results = [r.copy() if any(np.may_share_memory(r, p) for p in live) else r
                   for r in (env[s] for s in self.output_slots)]
        if self.update_slots:
            for name, s in self.update_slots:
                np.copyto(params[name], env[s])
        return results

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run with inputs by name; returns ``{output name: array}``."""
        outs = self.run_list(feeds_in_order(self.graph, feeds))
        return {v.name: a for v, a in zip(self.graph.outputs, outs)}

    def _fail(self, i, env, err):
        node = self.graph.nodes[i]
        shapes = ", ".join(_range(env[j]) if env[j] is not None else "?" for j in self.steps[i][1])
        raise ExecutionError(f"while executing node %{node.name} ({node.op.name}) with inputs {shapes}: "
                             f"{type(err).__name__}: {err}\n  {format_node(node)}") from err

    def _run_checked(self, env):
        for i, (fn, ins, outs, dead) in enumerate(self.steps):
            try:
                with np.errstate(all="ignore"):
                    r = fn(*[env[j] for j in ins])
            except Exception as err:
                self._fail(i, env, err)
            rs = [r] if len(outs) == 1 else list(r)
            for s, x in zip(outs, rs):
                x = np.asarray(x)
                if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
                    node = self.graph.nodes[i]
                    ranges = "; ".join(f"%{v.name}: {_range(env[j])}" for v, j in zip(node.inputs, ins))
                    raise NumericsError(
                        f"first non-finite value: node %{node.name} ({node.op.name}, {node.prov.phase} phase) "
                        f"produced {_range(x)}; its inputs: {ranges or '(none)'}\n  {format_node(node)}")
                env[s] = x
            for j in dead:
                env[j] = None
