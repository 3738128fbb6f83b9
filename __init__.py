"""chainrule: a graph-IR compiler for neural networks.

    import chainrule as cr
    model = cr.nn.Sequential(cr.nn.Linear(784, 256), cr.nn.ReLU(), cr.nn.Linear(256, 10))
    exe = cr.compile(model)
"""
__version__ = "0.1.0"

from .ir import (ChainruleError, DType, Emitter, Graph, OPS, TensorType, parse_graph, print_graph,
                 verify)
from .passes import Autodiff, PassManager, backward
from .runtime import Interpreter
from .frontends import nn
from .frontends.compile import Executable, compile
from .frontends.onnx_api import export_onnx, import_onnx
from .frontends.gradcheck import gradcheck
from .frontends.functional import *  # noqa: F401,F403  (cr.relu, cr.softmax, ...)
from .frontends.functional import __all__ as _functional
from .frontends.tracer import GraphBuilder, Tensor, trace
from .frontends import checkpoint, datasets, optim
from .frontends.train import TrainStep, compile_train
from .frontends.dump import dump
from .frontends.explain import explain_grad

__all__ = ["Autodiff", "ChainruleError", "DType", "Emitter", "Executable", "Graph", "GraphBuilder",
           "Interpreter", "export_onnx", "import_onnx", "OPS", "PassManager", "Tensor", "TensorType", "backward", "compile", "gradcheck", "nn",
           "parse_graph", "print_graph", "trace", "verify", *_functional,
           "TrainStep", "checkpoint", "compile_train", "datasets", "optim", "dump", "explain_grad"]
