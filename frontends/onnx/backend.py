"""onnxruntime as an execution backend: ``cr.compile(model, backend="onnxruntime")``.

The compiled graph is exported (``exporter``) and run by an onnxruntime
session with the same calling convention as the NumPy ``Executable``, and the
same input policy (``runtime.interpreter.check_inputs``): a missing or unknown
input, a wrong dtype (float64 for an f32 input is refused, not rounded), rank or
dimension is the NumPy backend's ``InputError``, word for word, and anything
onnxruntime itself refuses is an ``ExecutionError`` naming the graph. A graph
with updates (a training step) feeds its parameters and state in and copies the
``<param>.next`` outputs back into the live arrays, as the interpreter does.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ...ir import ExecutionError, Graph
from ...runtime.interpreter import check_count, check_inputs, feeds_in_order
from ...runtime.limits import peak_live_bytes
from .common import NEXT_SUFFIX, OnnxError


class OrtExecutable:
    """A compiled graph bound to an onnxruntime ``InferenceSession``."""

    def __init__(self, graph: Graph, history=(), providers=None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise OnnxError("backend='onnxruntime' needs the onnxruntime package (pip install onnxruntime)") from None
        from .exporter import export_model
        self.graph = graph
        self.history = list(history)
        self.model = export_model(graph)
        avail = ort.get_available_providers()
        providers = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in avail]
        self.session = ort.InferenceSession(self.model.SerializeToString(), providers=providers)
        self.output_names = [o.name for o in self.model.graph.output]
        self._peaks: Dict[tuple, int] = {}

    @property
    def params(self) -> Dict[str, np.ndarray]:
        return self.graph.initializers

    def peak_bytes(self, bindings: Dict[str, int]) -> int:
        key = tuple(sorted(bindings.items()))
        if key not in self._peaks:
            self._peaks[key] = peak_live_bytes(self.graph, bindings)
        return self._peaks[key]

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self._run(feeds_in_order(self.graph, feeds))

    def _run(self, arrays) -> Dict[str, np.ndarray]:
        arrays = check_inputs(self.graph, arrays, self.peak_bytes)
        feeds = {v.name: a for v, a in zip(self.graph.inputs, arrays)}
        if self.graph.updates:
            feeds.update({p.name: self.graph.initializers[p.name] for p in self.graph.params})
        try:
            results = self.session.run(None, feeds)
        except Exception as err:  # onnxruntime's own errors (an index out of range...) have no common type
            raise ExecutionError(f"onnxruntime failed to run graph {self.graph.name}: {err}") from err
        outs = dict(zip(self.output_names, results))
        for p, _ in self.graph.updates:
            np.copyto(self.graph.initializers[p.name], outs.pop(p.name + NEXT_SUFFIX))
        return outs

    def __call__(self, *arrays):
        check_count(self.graph, list(arrays))
        outs = self._run(list(arrays))
        vals = [outs[v.name] for v in self.graph.outputs]
        return vals[0] if len(vals) == 1 else tuple(vals)

    def __repr__(self):
        return f"<OrtExecutable {self.graph.name}: {len(self.graph.nodes)} nodes>"
