"""Numerically stable NumPy kernels shared by several ops."""
from __future__ import annotations

import numpy as np


def sigmoid(z):
    """σ(z) without overflow: only ever exponentiates −|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softmax(z, axis=-1):
    """Softmax by the log-sum-exp trick: subtract the max before exponentiating."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(z, axis=-1):
    """log softmax(z) = (z − m) − log Σ exp(z − m), finite for any finite z."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
