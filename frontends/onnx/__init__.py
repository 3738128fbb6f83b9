"""The ONNX edge: import (``importer``), export (``exporter``), one table of op mappings per
family, and onnxruntime as a backend. ``onnx`` itself is loaded only when one of them is used."""
from ...runtime.backends import register_backend
from .api import export_onnx, import_onnx


def _onnxruntime(graph, history):
    from .backend import OrtExecutable
    return OrtExecutable(graph, history)


register_backend("onnxruntime", _onnxruntime)

__all__ = ["export_onnx", "import_onnx"]
