"""Model -> Graph: the one place that says what counts as a model.

A model is a ``Graph``, a ``cr.nn`` module (lowered on an input ``%x``, in its
parameters' dtype), or anything that holds a compiled graph in ``.graph``
(an ``Executable``, a ``TrainStep``). A model with specialisation keys (an ONNX
``KeyedModel``) is a graph per value of its keys: ``cr.compile`` takes it, the
other actions need one of its graphs.
"""
from __future__ import annotations

import numpy as np

from ...ir import Graph, IRTypeError
from .nn import Module


def to_graph(model, input_shape=None, action: str = "compile", training: bool = False) -> Graph:
    """The graph of ``model`` (not a copy); ``action`` names what the caller does, for the error.
    ``training``: a module's training-mode lowering (batch statistics, dropout masks)."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, Module):
        ps = model.named_parameters()
        return model.to_graph(input_shape, dtype=ps[0][1].dtype if ps else np.float32, training=training)
    g = getattr(model, "graph", None)
    if isinstance(g, Graph):
        return g
    keyed = model if hasattr(model, "specialize") else getattr(model, "model", None)
    if not hasattr(keyed, "specialize"):
        raise IRTypeError(f"cannot {action} a {type(model).__name__}: pass a cr.Graph, a cr.nn module, "
                          f"a compiled Executable or a training step")
    # an ONNX KeyedModel, or a KeyedExecutable not yet called
    raise IRTypeError(f"cannot {action} {keyed.name} as one graph: it specialises on the values of input(s) "
                      f"{', '.join('%' + k for k in keyed.keys)}; take the graph for one value with "
                      f"model.specialize({{{keyed.keys[0]!r}: value}}) (cr.compile specialises at each call)")
