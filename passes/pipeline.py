"""The pass pipelines: one ordered list each, in this one file (no global registry).

``inference_pipeline()`` prepares a forward graph for execution;
``gradient_pipeline()`` appends the backward graph; ``training_pipeline()``
appends the backward graph and the optimizer's update nodes, then cleans up,
fuses and schedules. ``get_pipeline`` is the one look-up by name.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

from .autodiff import Autodiff
from .basic import dce, infer_shapes, toposort
from .cse import cse
from .fold import fold_constants
from .fold_linear import fold_linear
from .fuse_elementwise import fuse_elementwise
from .fusion import fuse_softmax_ce, share_loss_softmax
from ..ir import ArgumentError
from .manager import Pass
from .optimizer import OptimizerPass, SGDUpdate
from .schedule import schedule
from .simplify import simplify


def inference_pipeline(freeze_params: bool = True) -> List[Pass]:
    """``freeze_params=False`` when the parameters stay live (shared with a training step): no fold-linear."""
    # cse after fuse-softmax-ce: merging two Softmax nodes could give the loss's softmax a second use
    return [infer_shapes, toposort, simplify, fuse_softmax_ce, cse, fold_constants] + (
        [fold_linear] if freeze_params else []) + [dce, fuse_elementwise, schedule]


def gradient_pipeline(loss=None, wrt=None, allow_unused: bool = False) -> List[Pass]:
    """Forward graph -> forward + backward graph whose outputs include the gradients."""
    # fuse-softmax-ce before autodiff, as in training: the unfused gradient −t / softmax(z) is
    # NaN once a probability underflows to 0 (logits of ±100 in f32); the fused one is finite
    return [infer_shapes, toposort, fuse_softmax_ce, Autodiff(loss, wrt, allow_unused), dce]


def training_pipeline(loss=None, wrt=None, optimizer: OptimizerPass = None) -> List[Pass]:
    """Forward + loss graph -> one training step: forward, backward, optimizer update nodes."""
    # share-loss-softmax after cse (one Softmax(z) left to share) and before fuse-elementwise (which
    # would otherwise fuse nothing differently, but reads the probabilities as a plain value)
    return [infer_shapes, toposort, fuse_softmax_ce, Autodiff(loss, wrt), optimizer or SGDUpdate(lr=0.1),
            simplify, cse, fold_constants, dce, share_loss_softmax, fuse_elementwise, schedule]


PIPELINES = {"inference": inference_pipeline, "gradient": gradient_pipeline, "training": training_pipeline}


def get_pipeline(pipeline: Union[str, Sequence[Pass]], optimizer: Optional[OptimizerPass] = None) -> List[Pass]:
    """The passes of ``pipeline`` (a name in ``PIPELINES``, or a list of passes, returned as a list);
    ``optimizer`` is the update pass of the training pipeline (default: SGD with lr 0.1)."""
    if not isinstance(pipeline, str):
        return list(pipeline)
    if pipeline not in PIPELINES:
        raise ArgumentError(f"unknown pipeline {pipeline!r}; choose from {', '.join(sorted(PIPELINES))}")
    if optimizer is not None:
        if pipeline != "training":
            raise ArgumentError(f"an optimizer only applies to the training pipeline, not {pipeline!r}")
        return training_pipeline(optimizer=optimizer)
    return list(PIPELINES[pipeline]())
