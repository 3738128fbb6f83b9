"""Lines that ``test_onnx_node`` leaves for the conftest terminal summary (per-op counts)."""
LINES = []
