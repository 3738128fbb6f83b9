"""Execution backends by name, for ``cr.compile(..., backend=NAME)``.

The NumPy executors of this layer are the built-in backend. Others register here, so that
``compile`` finds them without importing them:

- ``register_backend(name, factory)``: ``factory(compiled graph, pass history) -> executable``,
  a whole executable of its own (onnxruntime does, in ``frontends/onnx/``);
- ``register_runner(name, cls)``: ``cls(graph, params, planner=, threads=)``, a runner with the
  sequential executor's interface (``run_list``, ``run``), which ``cr.compile`` and
  ``cr.compile_train`` put where the NumPy executor would be (numba does, ``numba_backend.py``).
"""
from __future__ import annotations

from typing import Callable, Dict

from ..ir.errors import ChainruleError

BACKENDS: Dict[str, Callable] = {}
RUNNERS: Dict[str, Callable] = {}


class BackendError(ChainruleError):
    """An execution backend is not installed, or could not build the step; the message says which."""


def register_backend(name: str, factory: Callable) -> None:
    BACKENDS[name] = factory


def register_runner(name: str, cls: Callable) -> None:
    RUNNERS[name] = cls
