"""The frontends layer: Python tracing, nn modules, compile, CLI (and, later, ONNX)."""
