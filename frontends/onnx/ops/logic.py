"""ONNX mappings of ``ir/ops/logic.py``: the comparisons and logical ops, one to one."""
from __future__ import annotations

from .table import binary, direct, unary

binary("Less", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")
unary("Not")
direct("Less", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not")
