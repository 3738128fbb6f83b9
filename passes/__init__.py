"""The passes layer: graph-to-graph transformations and the pass manager.

Read in this order: ``manager`` (Pass, PassResult, PassManager), ``analysis``,
``basic`` (shape inference, toposort, DCE), ``autodiff``, ``pipeline``.
"""
from .analysis import nodes_between, topological_order
from .autodiff import Autodiff, GradientWarning, backward, grad_name
from .basic import dce, infer_shapes, toposort
from .manager import FunctionPass, Pass, PassManager, PassRecord, PassResult, graph_pass, run_passes
from .optimizer import AdamUpdate, OptimizerPass, SGDUpdate
from .pipeline import PIPELINES, get_pipeline, gradient_pipeline, inference_pipeline, training_pipeline

__all__ = [
    "Autodiff", "FunctionPass", "GradientWarning", "PIPELINES", "Pass", "PassManager", "PassRecord",
    "PassResult", "backward", "dce", "get_pipeline", "gradient_pipeline", "grad_name", "graph_pass", "inference_pipeline",
    "infer_shapes", "nodes_between", "run_passes", "topological_order", "toposort",
    "AdamUpdate", "OptimizerPass", "SGDUpdate", "training_pipeline",
]
