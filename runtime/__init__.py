"""The runtime layer: executes scheduled graphs with NumPy."""
from .interpreter import Interpreter, NumericsError
from .limits import memory_limit, set_memory_limit

__all__ = ["Interpreter", "NumericsError", "memory_limit", "set_memory_limit"]
