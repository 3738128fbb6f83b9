"""The runtime layer: executes scheduled graphs with NumPy.

``interpreter.py`` is the runtime: one kernel call per node, values freed after
their last use, clear errors. The planned executors are an optional chapter on
speed: ``executor.py`` plans buffers once per set of bindings and runs Python
generated from the ops' own ``emit`` facets (``codegen.py``, and ``fused.py``
for a ``Fused`` node's body), bit for bit what the interpreter computes.
``dataflow.py`` runs the same code as list-scheduled tasks on threads
(``costmodel.py``: predicted node times; ``tasks.py``: tasks and the schedule;
``threads.py``: the threads budget); ``profile.py`` times one call per node.
``lowering.py`` lowers each node to explicit loops (``loops.py``: the builder; a ``Fused``
node is one loop nest), printed by
``chainrule dump --print-kernels``; ``numba_source.py`` writes a whole step of them as one
module and ``numba_backend.py`` runs it compiled by numba (``backend="numba"``).
"""
from .interpreter import Interpreter, NumericsError
from .limits import memory_limit, set_memory_limit
from . import numba_backend  # noqa: F401  (registers backend "numba"; numba itself is imported on use)

__all__ = ["Interpreter", "NumericsError", "memory_limit", "set_memory_limit"]
