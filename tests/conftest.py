"""Shared pytest fixtures. Tests import helpers from ``golden.py`` (tests/ is on sys.path)."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def rng():
    """A fixed-seed generator: every test sees the same numbers on every run."""
    return np.random.default_rng(0)


def pytest_terminal_summary(terminalreporter):
    """Print the per-op counts of ONNX's node tests when test_onnx_node ran."""
    mod = sys.modules.get("onnx_summary")
    for line in getattr(mod, "LINES", []):
        terminalreporter.write_line(line)
