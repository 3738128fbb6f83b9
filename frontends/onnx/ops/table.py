"""The two registries every family table fills: ONNX -> IR (``IMPORTS``) and IR -> ONNX (``EXPORTS``).

An import function is named after its ONNX op and registered with ``@onnx_op``. It takes
the import context and the node's input names (``None`` for an omitted optional input);
its keyword-only parameters are the ONNX op's attributes with the spec defaults, and the
importer refuses any attribute the signature does not name. Behaviour that changed between
opsets is an explicit ``if ctx.opset >= k`` branch. It returns the IR values of the outputs:

    @onnx_op
    def LeakyRelu(ctx, X, *, alpha=0.01):
        return ctx.op("LeakyRelu", ctx.v(X), alpha=float(alpha))

ONNX ops without attributes that are the IR op of the same name are one line each:
``unary("Relu")`` makes ``Relu(ctx, X)``, ``binary("Add")`` makes ``Add(ctx, A, B)``.

An export function is registered for one IR op with ``@export_op(name, onnx=...)``. It takes
the exporter, the IR node, its input names and, as keywords, the node's attributes, and
emits ONNX nodes with ``ex.make`` (the last one writing ``ex.out``). ``onnx`` names the one
ONNX op it becomes; ``None`` means a sub-graph, whose nodes are tagged with ``chainrule.op``
metadata so that import rebuilds the one IR node (``composite=True`` asks for the tag also
when there is one ONNX op whose meaning differs, as for OneHot). An op whose ONNX op has the
same name and the same attributes is one line, ``direct("Relu")``:

    @export_op("Square")        # ONNX has no Square
    def _square(ex, n, x):
        ex.make("Mul", [x, x], ex.out)
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional

import numpy as np

#: ONNX op_type -> import function (the default domain, ai.onnx).
IMPORTS: Dict[str, Callable] = {}
#: ONNX domain -> (op_type -> import function), for the other domains (``ai.onnx.ml``: ``ml.py``).
DOMAIN_IMPORTS: Dict[str, Dict[str, Callable]] = {}


class Export(NamedTuple):
    """How one IR op becomes ONNX."""
    op: str  # the IR op
    onnx: Optional[str]  # the one ONNX op it becomes, or None for a sub-graph
    composite: bool  # tag the ONNX nodes with chainrule.op, so import rebuilds this IR node
    fn: Callable  # fn(ex, node, *input_names, **attrs)
    becomes: Optional[str] = None  # what the op lists say it becomes, when neither an op nor a sub-graph


#: IR op name -> Export.
EXPORTS: Dict[str, Export] = {}


def onnx_op(fn=None, *, domain: str = ""):
    """Register ``fn`` as the import function of the ONNX op of its name; ``@onnx_op(domain=...)``
    registers an op of another domain than the default one."""
    if fn is None:
        return lambda f: onnx_op(f, domain=domain)
    table = IMPORTS if domain in ("", "ai.onnx") else DOMAIN_IMPORTS.setdefault(domain, {})
    if fn.__name__ in table:
        raise ValueError(f"ONNX op {fn.__name__} has two import functions")
    table[fn.__name__] = fn
    return fn


def export_op(op: str, onnx: Optional[str] = None, composite: Optional[bool] = None,
              becomes: Optional[str] = None):
    """Decorator: register ``fn`` as the export function of IR op ``op`` (see the module docstring).

    ``becomes`` is what the generated op lists say when the op is neither one ONNX op nor a
    sub-graph (``DropoutMask`` becomes a graph input the caller feeds)."""
    def register(fn):
        if op in EXPORTS:
            raise ValueError(f"IR op {op} has two export functions")
        EXPORTS[op] = Export(op, onnx, onnx is None if composite is None else composite, fn, becomes)
        return fn
    return register


def _named(make):
    """``make(opname)`` builds an import function; register one per ONNX op name under that name."""
    def register(*onnx_ops: str):
        for opname in onnx_ops:
            f = make(opname)
            f.__name__ = f.__qualname__ = opname
            onnx_op(f)
    register.__doc__ = make.__doc__
    return register


@_named
def unary(opname):
    """Register ``Op(ctx, X)`` for ONNX ops without attributes that are the IR op of the same name."""
    def f(ctx, X):
        return ctx.op(opname, ctx.v(X))
    return f


@_named
def binary(opname):
    """Register ``Op(ctx, A, B)`` for ONNX ops without attributes that are the IR op of the same name."""
    def f(ctx, A, B):
        return ctx.op(opname, ctx.v(A), ctx.v(B))
    return f


def same_op(ex, n, *ins, **attrs):
    """The ONNX op of the IR op's name, its attributes carried over unchanged."""
    ex.make(n.op.name, ins, ex.out, **attrs)


def direct(*ops: str):
    """Register IR ops that export as the ONNX op of the same name with the same attributes."""
    for op in ops:
        export_op(op, onnx=op)(same_op)


def axes_of(ctx, attr, inp, since):
    """Axes given as an attribute (before opset ``since``) or as an input (from it on)."""
    if attr is not None and ctx.opset >= since:
        ctx.fail(f"attribute 'axes' is an input from opset {since} on (this model uses opset {ctx.opset})")
    if inp is not None:
        return tuple(int(a) for a in ctx.static(inp, "axes").reshape(-1))
    return None if attr is None else tuple(int(a) for a in attr)


def static_ints(ctx, name, what):
    """The integers of an operand that sets a shape (repeats, sizes, pads): ``ctx.static``'s
    constant, flattened, which must be of an integer type."""
    arr = ctx.static(name, what)
    if arr.dtype.kind not in "iu":
        ctx.fail(f"input {what!r} ({name!r}) is {arr.dtype}, not integers")
    return [int(v) for v in arr.reshape(-1)]


def f32_attr(v) -> float:
    """An ONNX float attribute, which is stored as float32, as the shortest decimal that rounds to
    it: the number its writer meant (1e-05 rather than 9.999999747378752e-06)."""
    return float(str(np.float32(v)))
