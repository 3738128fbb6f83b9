"""onnxruntime as an execution backend: ``cr.compile(model, backend="onnxruntime")``.

The compiled graph is exported (``exporter``) and run by an onnxruntime
session with the same calling convention as the NumPy ``Executable``. A graph
with updates (a training step) feeds its parameters and state in and copies
the ``<param>.next`` outputs back into the live arrays, as the interpreter does.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ...ir import Graph, InputError
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

    @property
    def params(self) -> Dict[str, np.ndarray]:
        return self.graph.initializers

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        names = [v.name for v in self.graph.inputs]
        if sorted(feeds) != sorted(names):
            raise InputError(f"graph {self.graph.name} takes inputs {', '.join(names)}, got {', '.join(feeds)}")
        feeds = {v.name: np.asarray(feeds[v.name], dtype=v.type.dtype.numpy) for v in self.graph.inputs}
        if self.graph.updates:
            feeds.update({p.name: self.graph.initializers[p.name] for p in self.graph.params})
        outs = dict(zip(self.output_names, self.session.run(None, feeds)))
        for p, _ in self.graph.updates:
            np.copyto(self.graph.initializers[p.name], outs.pop(p.name + NEXT_SUFFIX))
        return outs

    def __call__(self, *arrays):
        if len(arrays) != len(self.graph.inputs):
            raise InputError(f"graph {self.graph.name} takes {len(self.graph.inputs)} input(s), got {len(arrays)}")
        outs = self.run({v.name: a for v, a in zip(self.graph.inputs, arrays)})
        vals = [outs[v.name] for v in self.graph.outputs]
        return vals[0] if len(vals) == 1 else tuple(vals)

    def __repr__(self):
        return f"<OrtExecutable {self.graph.name}: {len(self.graph.nodes)} nodes>"
