"""``cr.import_onnx`` and ``cr.export_onnx``: thin wrappers that load onnx only when called."""
from __future__ import annotations


def import_onnx(model, **options):
    """An ONNX model (path, bytes or ModelProto) as a chainrule Graph; see ``importer``."""
    from .importer import import_onnx as imp
    return imp(model, **options)


def export_onnx(model, path=None, **options):
    """Write ``model`` (Graph, nn module, Executable or TrainStep) as ONNX; see ``exporter``."""
    from .exporter import export_onnx as exp
    return exp(model, path, **options)
