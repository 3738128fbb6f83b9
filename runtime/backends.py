"""Execution backends by name, for ``cr.compile(..., backend=NAME)``.

The NumPy executors of this layer are the built-in backend. Others register a
factory ``(compiled graph, pass history) -> executable`` here (onnxruntime does,
in ``frontends/onnx/``), so that ``compile`` finds them without importing them.
"""
from __future__ import annotations

from typing import Callable, Dict

BACKENDS: Dict[str, Callable] = {}


def register_backend(name: str, factory: Callable) -> None:
    BACKENDS[name] = factory
