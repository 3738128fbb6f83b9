"""The IR layer: types, values, nodes, graphs, the op registry, text form, verifier.

Read in this order: ``types``, ``core``, ``ops/base``, ``ops/*``, ``builder``,
``printer``, ``parser``, ``verifier``. This layer imports no other layer.
"""
from .builder import Emitter
from .core import Graph, Node, Provenance, Value
from .errors import (ArgumentError, ChainruleError, ExecutionError, GradientError, GraphError, InputError,
                     IRTypeError, ParseError, PassError, ReadError, ResourceError, UnsupportedOpError,
                     VerifyError, WriteError)
from .ops import OPS, Op, get_op, register
from .parser import parse_graph
from .printer import print_graph
from .types import DType, TensorType
from .verifier import verify

__all__ = [
    "ArgumentError", "ChainruleError", "DType", "Emitter", "ExecutionError", "GradientError", "Graph",
    "GraphError", "InputError", "IRTypeError", "Node", "OPS", "Op", "ParseError", "PassError", "Provenance", "ReadError",
    "ResourceError", "TensorType", "UnsupportedOpError", "Value", "VerifyError", "WriteError", "get_op", "parse_graph",
    "print_graph", "register", "verify",
]
