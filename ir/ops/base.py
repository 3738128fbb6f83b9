"""The ``Op`` base class: everything about one operator in one class.

An op class holds every facet of its operator, so that adding an op means
writing one class (and one entry in the gradient-check table of the tests):

- ``attrs``: attribute names and defaults (``REQUIRED`` for none);
- ``infer``: the type rule, input types to output types;
- ``kernel``: builds the NumPy function once, at compile time, for given attrs;
- ``out_kernel``: the same, writing into a buffer the memory planner allocated;
- ``workspace``: the scratch arrays a kernel needs besides its inputs and result (im2col's
  columns), which the memory planner counts and places, and the executors pass in;
- ``ufunc``, ``foldable``, ``static_value``: what the executors may compute once
  per set of bindings (a NumPy ufunc, a pure cheap op, a value read off the types);
- ``emit``: the lines of generated Python that compute the op into a planned
  buffer (default: a call of the out-kernel); ``emit_fresh``: into new arrays;
- ``scalar``, ``loops``, ``accumulate``: the op as explicit loops (``runtime/loops.py``): one
  element's expression, the loop nest of a non-elementwise op, a reduction's running value;
- ``vjp``: the gradient rule, which *emits IR* through an ``Emitter``;
- ``rule``: that rule written in the lecture's bar notation (v̄ = dL/dv);
- ``lecture``: one input's term v̄ⱼ ∂vⱼ/∂vᵢ as the lecture writes it (``explain``);
- ``flops``: multiply-adds, for the cost ledger; ``blas``: they run in a BLAS call, whose
  speed depends on its thread count (the dataflow executor's cost model, ``runtime/costmodel.py``);
- ``takes``: the restricted element types (``types.RESTRICTED``: strings, bfloat16) the op
  accepts; every other op refuses them, before its type rule runs, as operands and as results.
- ``split``: which slices of the inputs the result's rows (or columns) r0:r1 need, so that the
  dataflow executor can compute a big node as several tasks (``runtime/split.py``).

How an op maps to ONNX is not here (``ir/`` never sees onnx): its import and
export sit side by side in its family's table, ``frontends/onnx/ops/<family>.py``.
"""
from __future__ import annotations

import functools
import math
from typing import Dict, FrozenSet, List, NamedTuple, Optional, Sequence

import numpy as np

from ..errors import IRTypeError
from ..types import RESTRICTED, DType, TensorType


HOLE = "⋆"  # in a lecture term, where the consumer's v̄ⱼ goes


class Term(NamedTuple):
    """v̄ⱼ ∂vⱼ/∂vᵢ in the lecture's notation: ``coef`` times ``text``, which holds ``HOLE`` for v̄ⱼ."""
    coef: float
    text: str


def hadamard(node) -> str:
    """The product sign between v̄ⱼ and a local derivative: ∘ for tensors, a space for scalars."""
    return " " if node.outputs[0].type.rank == 0 else " ∘ "


class Accumulator(NamedTuple):
    """A reduction as a running value: ``acc = init``, then ``acc = combine`` for each element
    ``{x}``, then the result ``finish`` (``{n}``: how many elements were joined). Python text."""
    init: str
    combine: str
    finish: str = "{acc}"


def literal(value) -> str:
    """A number as Python source that NumPy and numba both read back as that number
    (negative numbers parenthesised, so that ``x ** (-2.0)`` means what it says)."""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        text = str(int(value))
    else:
        v = float(value)
        text = "np.nan" if math.isnan(v) else ("np.inf" if v > 0 else "-np.inf") if math.isinf(v) else repr(v)
    return f"({text})" if text.startswith("-") else text


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()


class Op:
    """Base class of all ops. Subclasses are registered singletons."""

    name: str = ""
    family: str = ""
    attrs: Dict[str, object] = {}  # attribute name -> default (or REQUIRED)
    arity = (1, 1)  # (min, max) number of inputs; max None = variadic
    num_outputs = 1
    elementwise = False  # output[i] depends only on input[i] (after broadcasting)
    differentiable = True  # False: no gradient flows (ArgMax, OneHot, Cast, comparisons)
    zero_grad = False  # True: derivative is zero almost everywhere (hard threshold)
    view = False  # the result is a view of input 0 (no buffer of its own; Constant: its own array)
    commutative = False  # the inputs may be given in any order (Add, Mul, Sum, Equal)
    rule: str = ""  # the chain-rule step of vjp, in bar notation
    nograd_reason: str = ""  # why a non-differentiable op has no gradient, for autodiff's error
    lecture_factor: str = ""  # an elementwise op's ∂y/∂x as the lecture writes it; {x}, {y} name operand and result
    ufunc = None  # the NumPy ufunc computing this elementwise op: ufunc(*inputs, out=out)
    foldable = False  # pure and cheap: the executors compute it once per bindings when its inputs are known
    blas = False  # the multiply-adds run in a BLAS call (GEMM): their time depends on the BLAS threads
    uses_donated = False  # ``emit`` may overwrite inputs whose buffers die at the node (Fused: its steps)
    takes: FrozenSet[DType] = frozenset()  # restricted element types the op accepts (types.RESTRICTED)

    def __init_subclass__(cls, **kwargs):
        """Every type rule a subclass writes runs behind the gate of the restricted types, and no
        loop form it writes sees them (ml_dtypes' formats and strings run as NumPy kernels)."""
        super().__init_subclass__(**kwargs)
        if "infer" in cls.__dict__:
            cls.infer = _gated(cls.__dict__["infer"])
        if "scalar" in cls.__dict__:
            cls.scalar = _no_restricted_loops(cls.__dict__["scalar"], None)
        if "loops" in cls.__dict__:
            cls.loops = _no_restricted_loops(cls.__dict__["loops"], False)

    # -- attributes --------------------------------------------------------
    def check_attrs(self, attrs: dict, where: str = "") -> dict:
        """Fill defaults and reject unknown or missing attributes."""
        out = {}
        for k in attrs:
            if k not in self.attrs:
                known = ", ".join(self.attrs) or "none"
                raise IRTypeError(f"{where}{self.name} has no attribute {k!r} (its attributes: {known})")
        for k, default in self.attrs.items():
            if k in attrs:
                out[k] = attrs[k]
            elif default is REQUIRED:
                raise IRTypeError(f"{where}{self.name} needs attribute {k!r}")
            else:
                out[k] = default
        return out

    def check_arity(self, n: int, where: str = "") -> None:
        lo, hi = self.arity
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"{lo} to {hi if hi is not None else 'any number of'}"
            raise IRTypeError(f"{where}{self.name} takes {want} inputs, got {n}")

    # -- facets subclasses fill in ------------------------------------------
    def infer(self, ins: Sequence[TensorType], attrs: dict) -> List[TensorType]:
        raise NotImplementedError(f"{self.name}.infer")

    def kernel(self, attrs: dict):
        raise NotImplementedError(f"{self.name}.kernel")

    def out_kernel(self, attrs: dict, alias: int = -1):
        """``fn(out, *inputs)`` writing the result into a planned buffer, or None (then the
        executor calls ``kernel`` and the result gets a fresh array). ``alias``: the input
        that may share ``out``'s storage (used by ``Fused``)."""
        return None

    def kernel_into(self, attrs: dict):
        """``fn(out, *inputs)`` always: the out-kernel, or the kernel's result copied into ``out``."""
        into = self.out_kernel(attrs)
        if into is not None:
            return into
        fn = self.kernel(attrs)
        return lambda out, *xs: np.copyto(out, fn(*xs), casting="unsafe")

    def workspace(self, ins: Sequence[TensorType], attrs: dict) -> List[TensorType]:
        """The scratch arrays the kernel uses at this node, besides its inputs and result (types may
        hold symbolic dimensions). The planner counts their bytes at the node's step and gives them
        a place in the arena; the planned executors pass them, allocated once per bindings, as the
        keyword ``workspace=`` (a list of arrays) to the kernel or out-kernel, which must then
        allocate nothing of that size. Without it (the interpreter) the kernel allocates them."""
        return []

    def output_count(self, attrs: dict) -> int:
        """How many results a node with these attributes makes."""
        return self.num_outputs

    def static_value(self, ins: Sequence[TensorType], attrs: dict):
        """The result if the input *types* alone determine it (``Count``: a product of dimensions), else None."""
        return None

    # -- generated code (runtime/codegen.py) ---------------------------------
    # ``code`` is the code generator: ``code.const(obj, hint)`` binds a Python object (a kernel, a
    # ufunc, a scratch buffer) to a name the lines may use. ``args`` are the names of the inputs,
    # ``in_types`` their types with every dimension bound. The lines must compute exactly what
    # the kernel computes, bit for bit: the executors are checked against the interpreter.
    def emit(self, code, attrs: dict, out: str, args: List[str], in_types: Sequence[TensorType],
             alias: int = -1, donated: Sequence[int] = (), workspace: Optional[str] = None) -> List[str]:
        """Lines computing the result into the existing array named ``out`` (a planned buffer).
        ``alias``: the input sharing ``out``'s storage; ``donated``: inputs whose buffers die here
        (a ``Fused`` body may use both); ``workspace``: the name of the planned scratch arrays
        (given only to ops with a ``workspace``)."""
        if workspace is not None:
            return [f"{code.const(self.out_kernel(attrs), 'k')}({', '.join([out] + list(args))}, workspace={workspace})"]
        if self.ufunc is not None:  # with a positional ``out``: the cheapest call there is
            return [f"{code.const(self.ufunc, self.name.lower() + '_')}({', '.join(list(args) + [out])})"]
        k = code.const(self.kernel_into(attrs), "k")
        return [f"{k}({', '.join([out] + list(args))})"]

    def emit_fresh(self, code, attrs: dict, outs: List[str], args: List[str],
                   in_types: Sequence[TensorType]) -> Optional[List[str]]:
        """Lines binding the variables ``outs`` to new arrays holding the results, or None: then
        the executor calls ``kernel`` (``SoftmaxCrossEntropy`` computes its results without temporaries)."""
        return None

    # -- loop-level code (runtime/loops.py) ----------------------------------
    # ``lb`` is the loop builder: ``lb.line(text)`` writes a line, ``with lb.space(shape)`` sets the
    # index space and ``with lb.over(axes)`` opens ``for`` loops over some of its axes,
    # ``lb.at(name, t)`` reads (or names, to assign) the element of array ``name`` of type ``t`` at the
    # open indices (broadcasting is index arithmetic: a size-1 axis reads index 0), ``lb.local(hint)``
    # makes a new scalar name, ``lb.map``/``lb.reduce``/``lb.matmul`` write whole nests. The text is
    # plain Python over NumPy arrays, which numba compiles (``runtime/numba_source.py``).
    def scalar(self, attrs: dict, xs: List[str], in_types: Sequence[TensorType]) -> Optional[str]:
        """One element of an elementwise op's result as a Python expression of its operands'
        elements ``xs`` (names, literals or array reads, already broadcast), or None. By default
        an op with a ``ufunc`` calls it on the elements (``np.floor(x)``: NumPy's rules, numba's too)."""
        uf = self.ufunc
        if self.elementwise and uf is not None and getattr(np, getattr(uf, "__name__", ""), None) is uf:
            return f"np.{uf.__name__}({', '.join(xs)})"
        return None

    def loops(self, lb, attrs: dict, outs: List[str], args: List[str], in_types: Sequence[TensorType],
              out_types: Sequence[TensorType]) -> bool:
        """Write loops computing the results into the arrays ``outs`` (a view op instead binds the
        name ``outs[0]``); False if the op has no loop form (the step then calls its NumPy kernel).
        The default: an elementwise op with a ``scalar`` is one loop nest over its result."""
        if not self.elementwise or self.scalar(attrs, [f"x{k}" for k in range(len(args))], in_types) is None:
            return False
        lb.map(self, attrs, outs[0], out_types[0], args, in_types)
        return True

    def accumulate(self, attrs: dict, in_type: TensorType) -> Optional[Accumulator]:
        """A reduction's running value (``Accumulator``), so that ``runtime/loops.py`` can also
        compute it inside the loop nest of the elementwise node making its input; or None."""
        return None
    def split(self, attrs: dict, in_types: Sequence[TensorType], out: TensorType, axis: int = 0):
        """The slice r0:r1 of the result along ``axis`` (0: rows, 1: columns), computed from slices of
        the inputs: per input, the axis to slice by r0:r1 (None: the input is read whole), or None
        if that slice cannot be computed alone. An elementwise op reads the same slice of each input
        that has the axis (broadcasting aligns shapes on the right); an input without it, or with
        one entry against more, is broadcast and read whole::

            Add(%h: f32[N,256], %b: f32[256]), axis 0  ->  (0, None):  out[r0:r1] = h[r0:r1] + b
                                               axis 1  ->  (1, 0):     out[:, c0:c1] = h[:, c0:c1] + b[c0:c1]
        """
        if not self.elementwise:
            return None
        return broadcast_split(in_types, out, axis)

    def lecture(self, node, i: int, n) -> Term:
        """Input ``i``'s term v̄ⱼ ∂vⱼ/∂vᵢ, as ``chainrule explain`` prints it. ``n`` names values:
        ``n.sym(v)`` (λ for ``lam``), ``n.const(v)`` (the number of a scalar constant, or None)."""
        x, y = n.sym(node.inputs[i]), n.sym(node.outputs[0])
        if self.lecture_factor:
            return Term(1.0, f"{HOLE}{hadamard(node)}{self.lecture_factor.format(x=x, y=y)}")
        return Term(1.0, f"{HOLE} ∂{y}/∂{x}")

    def vjp(self, e, node, gys):
        """Cotangents of the inputs given cotangents ``gys`` of the outputs.

        ``e`` is an Emitter that appends nodes to the graph; return one Value
        (or None for "no gradient") per input of ``node``.
        """
        raise NotImplementedError(f"{self.name} has no gradient rule")

    def flops(self, ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: dict, bindings=None) -> int:
        """Multiply-adds (elementwise ops count one per output element)."""
        n = outs[0].numel(bindings) if outs else 0
        return n or 0

    def __repr__(self):
        return f"<op {self.name}>"


def _gated(infer):
    """``infer`` that refuses operands and results of a restricted element type the op does not take:

        Exp(%s: bf16[3])  ->  IRTypeError: Exp does not take bf16 operands (bfloat16 values are ...)
    """
    @functools.wraps(infer)
    def gated(self, ins, attrs):
        refuse_restricted(self, ins, "operands")
        outs = infer(self, ins, attrs)
        refuse_restricted(self, outs, "results")
        return outs
    return gated


def _no_restricted_loops(form, none):
    """``scalar`` or ``loops`` answering ``none`` (no loop form) when an operand or result has a
    restricted element type: the step then calls the NumPy kernel."""
    @functools.wraps(form)
    def checked(self, *args):
        if any(isinstance(t, TensorType) and t.dtype in RESTRICTED for a in args if isinstance(a, (list, tuple))
               for t in a):
            return none
        return form(self, *args)
    return checked


Op.scalar = _no_restricted_loops(Op.scalar, None)
Op.loops = _no_restricted_loops(Op.loops, False)


def refuse_restricted(op: Op, types: Sequence[TensorType], what: str) -> None:
    for t in types:
        if t.dtype in RESTRICTED and t.dtype not in op.takes:
            raise IRTypeError(f"{op.name} does not take {t.dtype.value} {what}, got {t} ({RESTRICTED[t.dtype]})")
def broadcast_split(in_types: Sequence[TensorType], out: TensorType, axis: int):
    """Per input, its axis that broadcasting aligns with the result's ``axis`` and has its length
    (None: the input has no such axis, or broadcasts one entry); None for a result without ``axis``."""
    if not 0 <= axis < out.rank:
        return None
    ks = [axis - (out.rank - t.rank) for t in in_types]
    return tuple(k if k >= 0 and t.shape[k] == out.shape[axis] else None for k, t in zip(ks, in_types))


def same_dtype(op: Op, ins: Sequence[TensorType], where: str = "") -> None:
    dts = [t.dtype for t in ins]
    if any(d != dts[0] for d in dts):
        raise IRTypeError(f"{where}{op.name} needs operands of one dtype, got {', '.join(str(t) for t in ins)}")


def need_float(op: Op, t: TensorType, where: str = "") -> None:
    if not t.dtype.is_float:
        raise IRTypeError(f"{where}{op.name} needs a float operand, got {t}")


def as_dtype(x, dtype):
    """Cast a kernel result back to ``dtype`` (NumPy may promote scalars)."""
    return x if x.dtype == dtype else x.astype(dtype, copy=False)
