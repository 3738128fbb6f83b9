"""The runtime layer: executes scheduled graphs with NumPy."""
from .interpreter import Interpreter, NumericsError

__all__ = ["Interpreter", "NumericsError"]
