"""The error types of chainrule.

Every error chainrule raises on purpose is a ``ChainruleError``; catching that
one class catches them all. Each subclass names the layer that found the
problem, and each message names the thing that is wrong (the file, node, op,
input or argument) so that a person can act on it.
"""


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class IRTypeError(ChainruleError, TypeError):
    """An op was given operands whose shapes or dtypes it cannot accept."""


class ArgumentError(ChainruleError, ValueError):
    """An argument names a choice there is not (an executor, backend, pipeline, activation, metric);
    the message names the argument and lists the choices."""


class ParseError(ChainruleError, ValueError):
    """IR text could not be parsed; the message gives line and column."""


class VerifyError(ChainruleError):
    """A graph breaks an IR invariant; the message shows the IR around it."""


class GraphError(ChainruleError, ValueError):
    """A graph mutation would break the graph (for example removing a used node)."""


class PassError(ChainruleError):
    """A pass failed; the message names the pass (and the reproducer file)."""


class ExecutionError(ChainruleError):
    """A kernel failed at run time; the message names the node and its inputs."""


class InputError(ChainruleError, ValueError):
    """Arrays given to a compiled graph do not match its declared inputs."""


class GradientError(ChainruleError):
    """Reverse-mode autodiff cannot produce a requested gradient."""


class ResourceError(ChainruleError, MemoryError):
    """A model or a batch would need more memory than the configured limit."""


class WriteError(ChainruleError, OSError):
    """A file could not be written, or writing it would be unsafe; the message names the file."""


class ReadError(ChainruleError, OSError):
    """A file the user named is missing, unreadable or not a regular file; the message names it."""


class UnsupportedOpError(ChainruleError, KeyError):
    """An op name is not in the registry; the message lists the supported ones."""

    def __str__(self):  # KeyError would otherwise print the repr of the message
        return str(self.args[0]) if self.args else ""
