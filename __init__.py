"""chainrule: a graph-IR compiler for neural networks.

    import chainrule as cr
    model = cr.nn.Sequential(cr.nn.Linear(784, 256), cr.nn.ReLU(), cr.nn.Linear(256, 10))
    exe = cr.compile(model)

This file only re-exports; the README says in which order to read the code.
"""
from .frontends.version import __version__

# the IR and its passes
from .ir import ChainruleError, DType, Emitter, Graph, OPS, TensorType, parse_graph, print_graph, verify
from .passes import Autodiff, PassManager, backward
from .runtime import Interpreter

# writing, compiling and training models
from .frontends.train import checkpoint, datasets, optim
from .frontends.python import nn
from .frontends.compile import Executable, compile
from .frontends.python.functional import *  # noqa: F401,F403  (cr.relu, cr.softmax, cr.cross_entropy, ...)
from .frontends.python.functional import __all__ as _functional
from .frontends.python.tracer import GraphBuilder, Tensor, trace
from .frontends.train.step import TrainStep, compile_train

# the edges and the teaching tools
from .frontends.inspect import display as _display  # noqa: F401  (notebook pictures of graphs, with Graphviz)
from .frontends.inspect.dump import dump
from .frontends.inspect.explain import explain_grad
from .frontends.inspect.gradcheck import gradcheck
from .frontends.onnx.api import export_onnx, import_onnx

__all__ = [
    "Autodiff", "ChainruleError", "DType", "Emitter", "Graph", "OPS", "TensorType", "parse_graph",
    "print_graph", "verify", "PassManager", "backward", "Interpreter",
    "checkpoint", "datasets", "nn", "optim", "Executable", "compile", "GraphBuilder", "Tensor", "trace",
    "TrainStep", "compile_train", *_functional,
    "dump", "explain_grad", "gradcheck", "export_onnx", "import_onnx",
]
