"""Loop-level lowering: each node as explicit loops over its index space, as Python source.

A ``Fused`` node is a chain of elementwise steps; the executors of ``executor.py`` run it as
one NumPy call per step, each a pass over memory. Here it becomes one loop nest over the
result's index space, each step a scalar (``Op.scalar``), and broadcasting index arithmetic:
an operand's size-1 axis reads index 0. A step that varies along fewer axes is computed
outside the loops it does not need (``%div`` below, before any loop)::

    %grad_fc3: f32[N,10] = Fused(%grad_crossentropy, %count, %softmax, %reducesum, %t) {
      %div: f32[] = Div(%grad_crossentropy, %count)
      %mul: f32[N,10] = Mul(%softmax, %reducesum)
      %sub: f32[N,10] = Sub(%mul, %t)
      %grad_fc3: f32[N,10] = Mul(%sub, %div)
    }

becomes::

    div = 1.0 / count[()]
    for i0 in range(N):
        for i1 in range(10):
            mul = softmax[i0, i1] * reducesum[i0, 0]
            sub = mul - t[i0, i1]
            grad_fc3[i0, i1] = sub * div

A reduction of such a node's result (the bias gradient's column sum) is *closed* into the same
nest: it adds each element to an accumulator as it is made, and at its own place in the
schedule only copies the accumulator into its result. Other ops write their own loops
(``Op.loops``: softmax rows, the loss, a small GEMM; a large one calls ``np.dot``); an op
without one is left to its NumPy kernel (a ``numpy`` kernel), and a value the same on every call
(``Constant``, ``foldable`` ops of constants) is computed now (a ``static`` kernel; a single
number is written into the code as a literal).

The text is plain Python over NumPy arrays (and ``math``): it runs as it is (slowly), numba compiles it
(``numba_source.py``), and ``chainrule dump --print-kernels`` prints it. Arrays are named after
their values (``%fc1.weight`` is ``fc1_weight``), symbolic dimensions after their symbols
(``N``), loop indices after their axes (``i0``, ``i1``...). This module is the loop builder the
ops write through (``Loops``) and the names it uses (``Names``); ``lowering.py`` lowers a whole
graph with it.
"""
from __future__ import annotations

import builtins
import keyword
import math
import re
from contextlib import contextmanager
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple


from ..ir.ops import OPS
from ..ir.ops.base import Accumulator
from ..ir.ops.fused import Step, as_body, step_types
from ..ir.types import TensorType, broadcasts_into

#: at most this many multiply-adds, a matrix product runs as loops: calling BLAS costs more
SMALL_GEMM = 256
_INDEX = re.compile(r"i\d+$|arena_")  # loop indices and the arena's views: never a value's name


def ident(name: str) -> str:
    """A Python identifier for an IR name: ``fc1.weight`` -> ``fc1_weight``."""
    text = re.sub(r"\W", "_", name)
    return "_" + text if not text or text[0].isdigit() else text


class Names:
    """Identifiers for values and symbols (one per program) and for the locals of each kernel."""

    RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {"np", "math", "numba", "njit", "offs"}

    def __init__(self):
        self.taken = set(self.RESERVED)
        self.of: Dict[str, str] = {}  # IR name (or symbol) -> identifier
        self.local_taken: set = set()

    def _fresh(self, hint: str, taken: set) -> str:
        base = ident(hint)
        name, k = base, 1
        while name in taken or name in self.local_taken or _INDEX.match(name):
            name, k = f"{base}_{k}", k + 1
        return name

    def value(self, name: str) -> str:
        """The array identifier of the IR value ``name`` (made once)."""
        if name not in self.of:
            self.of[name] = self._fresh(name, self.taken)
            self.taken.add(self.of[name])
        return self.of[name]

    def _symbol(self, sym: str) -> str:
        key = "\0" + sym
        if key not in self.of:
            self.of[key] = self._fresh(sym, self.taken)
            self.taken.add(self.of[key])
        return self.of[key]

    def dim(self, d) -> str:
        return str(d) if isinstance(d, int) else self._symbol(d)

    def begin_kernel(self):
        """Locals are per kernel: a new kernel may reuse ``acc``, ``m``..."""
        self.local_taken = set()

    def local(self, hint: str) -> str:
        name = self._fresh(hint, self.taken)
        self.local_taken.add(name)
        return name

    def shared(self, hint: str) -> str:
        """A name that lives across kernels (a closed reduction's accumulator)."""
        name = self._fresh(hint, self.taken)
        self.taken.add(name)
        return name


def shape_text(names: Names, shape) -> str:
    """A shape as a Python tuple: ``(N, 784)``, ``(10,)``, ``()``."""
    ds = [names.dim(d) for d in shape]
    return "(" + ", ".join(ds) + ("," if len(ds) == 1 else "") + ")"


def product_text(names: Names, dims) -> str:
    """The product of ``dims`` as text: ``N * 784``, ``256``, ``1``."""
    static = math.prod(d for d in dims if isinstance(d, int))
    syms = [names.dim(d) for d in dims if not isinstance(d, int)]
    return " * ".join(syms + ([str(static)] if static != 1 or not syms else []))


class Closing(NamedTuple):
    """A reduction computed inside the nest of the node making its input."""
    acc: str  # the accumulator's name
    how: Accumulator
    axes: Tuple[int, ...]  # reduced axes of the nest's space
    keepdims: bool
    out_type: TensorType  # the reduction's result


class Loops:
    """The loop builder given to ``Op.loops``: lines, the index space, the open loops."""

    def __init__(self, names: Names, inline: Optional[Dict[str, str]] = None, strided=None):
        self.names = names
        self.inline = inline if inline is not None else {}  # identifier -> literal (a static number)
        self.strided = strided if strided is not None else set()  # views that are not contiguous
        self.lines: List[str] = []
        self.depth = 0
        self.shape: Tuple = ()
        self.idx: List[Optional[str]] = []
        self.closing: List[Closing] = []  # set by the driver for the node's nest (``body``)
        self.closed = False  # ``body`` ran: the node's loops are one elementwise nest over its result

    # -- text ----------------------------------------------------------------------------------
    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def local(self, hint: str) -> str:
        return self.names.local(hint)

    def dim(self, d) -> str:
        return self.names.dim(d)

    def shape_text(self, shape) -> str:
        return shape_text(self.names, shape)

    def count(self, dims) -> str:
        return product_text(self.names, dims)

    # -- the index space -----------------------------------------------------------------------
    @contextmanager
    def space(self, shape):
        """Loops below run over ``shape`` (its axes are the index space of ``at``)."""
        saved = self.shape, self.idx
        self.shape, self.idx = tuple(shape), [None] * len(shape)
        try:
            yield
        finally:
            self.shape, self.idx = saved

    @contextmanager
    def over(self, axes):
        """``for`` loops over these axes of the space (an axis of size 1 needs none)."""
        opened = []
        for a in axes:
            if self.shape[a] == 1:
                continue
            self.line(f"for i{a} in range({self.dim(self.shape[a])}):")
            self.depth += 1
            self.idx[a] = f"i{a}"
            opened.append(a)
        try:
            yield
        finally:
            for a in opened:
                self.depth -= 1
                self.idx[a] = None

    def index_of(self, axis: int) -> str:
        """The index a loop over ``axis`` of the space runs (``i<axis>``; 0 for an axis of size 1)."""
        return "0" if self.shape[axis] == 1 else f"i{axis}"

    def at(self, name: str, t: TensorType, fix: Optional[Dict[int, str]] = None) -> str:
        """Element of array ``name`` (of type ``t``) at the open indices; ``t`` is aligned to the
        space's last axes and broadcast (a size-1 axis reads 0). ``fix``: space axis -> index."""
        if name in self.inline:
            return self.inline[name]
        if t.rank == 0:
            return f"{name}[()]"
        lead = len(self.shape) - t.rank
        ix = []
        for a, d in enumerate(t.shape):
            s = lead + a
            if fix and s in fix:
                ix.append(fix[s])
            elif d == 1:
                ix.append("0")
            elif s >= 0 and self.idx[s] is not None:
                ix.append(self.idx[s])
            else:
                raise AssertionError(f"loops: axis {a} of {name}: {t} is not open in the space {self.shape}")
        return f"{name}[{', '.join(ix)}]"

    def at_axes(self, name: str, axes) -> str:
        """Element of array ``name`` whose axes are the space axes ``axes`` (at their open indices)."""
        ix = [self.idx[a] or "0" for a in axes]
        return f"{name}[{', '.join(ix)}]" if ix else f"{name}[()]"

    def at_reduced(self, name: str, axes, keepdims: bool, rank: int) -> str:
        """Element of a reduction's result at the open indices of its input's space."""
        ix = []
        for a in range(rank):
            if a in axes:
                if keepdims:
                    ix.append("0")
            else:
                ix.append(self.idx[a] if self.idx[a] is not None else "0")
        return f"{name}[{', '.join(ix)}]" if ix else f"{name}[()]"

    # -- whole nests ---------------------------------------------------------------------------
    def nest(self, out: str, t: TensorType, args: Sequence[str], in_types: Sequence[TensorType], expr) -> None:
        """``out[i] = expr(operands at i)`` over ``t``'s index space (``expr``: texts -> text)."""
        with self.space(t.shape), self.over(range(t.rank)):
            self.line(f"{self.at(out, t)} = {expr([self.at(a, u) for a, u in zip(args, in_types)])}")

    def map(self, op, attrs: dict, out: str, t: TensorType, args: Sequence[str], in_types: Sequence[TensorType]):
        """An elementwise op: a one-step ``body``."""
        step = Step(op.name, tuple(range(len(args))), tuple(sorted(attrs.items())), out)
        self.body((step,), out, t, args, in_types)

    def body(self, body, out: str, t: TensorType, args: Sequence[str], in_types: Sequence[TensorType]) -> None:
        """A ``Fused`` body as one nest over ``t``: each step a scalar local, computed inside the loops
        it varies along only (invariant code motion); the last step stored into ``out``; the
        ``closing`` reductions accumulated as each element is made."""
        body = as_body(body)
        types = list(in_types) + step_types(in_types, body)
        if not all(broadcasts_into(u.shape, t.shape) for u in types):
            raise AssertionError(f"loops: a step of {out}'s body does not broadcast into {t}")
        n, rank, last = len(args), t.rank, len(body) - 1
        loop_axes = [a for a in range(rank) if t.shape[a] != 1]

        def depth(u: TensorType) -> int:  # how many of the loops a value of type u varies along
            axes = [rank - u.rank + a for a, d in enumerate(u.shape) if d != 1]
            return max((loop_axes.index(a) + 1 for a in axes if a in loop_axes), default=0)
        at_depth: Dict[int, List[int]] = {}
        for j in range(last):
            at_depth.setdefault(depth(types[n + j]), []).append(j)
        names: Dict[int, str] = {}

        def operand(r: int) -> str:
            return self.at(args[r], in_types[r]) if r < n else names[r - n]

        def step_expr(j: int) -> str:
            s = body[j]
            text = OPS[s.op].scalar(dict(s.attrs), [operand(r) for r in s.refs], [types[r] for r in s.refs])
            if text is None:
                raise AssertionError(f"loops: {s.op} has no scalar form")
            return text

        def steps(d: int) -> None:
            for j in at_depth.get(d, []):
                names[j] = self.local(body[j].name)
                self.line(f"{names[j]} = {step_expr(j)}")
        closing, self.closing, self.closed = self.closing, [], True
        with self.space(t.shape):
            for c in closing:
                self.line(f"{c.acc} = {_filled(self.shape_text(c.out_type.shape), c.how.init)}"
                          if c.out_type.rank else f"{c.acc} = {c.how.init}")
            steps(0)
            self._open(loop_axes, 0, steps, lambda: self._store(out, t, step_expr(last), closing))

    def _open(self, loop_axes, k, steps, innermost):
        if k == len(loop_axes):
            innermost()
            return
        with self.over((loop_axes[k],)):
            steps(k + 1)
            self._open(loop_axes, k + 1, steps, innermost)

    def _store(self, out, t, expr, closing):
        self.line(f"{self.at(out, t)} = {expr}")
        for c in closing:
            acc = c.acc if c.out_type.rank == 0 else self.at_reduced(c.acc, c.axes, c.keepdims, t.rank)
            self.line(_combine(acc, c.how, self.at(out, t)))

    def reduce(self, out: str, out_t: TensorType, x: str, t: TensorType, axes, keepdims: bool, how: Accumulator):
        """``out`` = the reduction of ``x`` over ``axes``: for each kept index, a running value over
        the reduced ones."""
        kept = [a for a in range(t.rank) if a not in axes]
        with self.space(t.shape), self.over(kept):
            acc = self.local("acc")
            self.line(f"{acc} = {how.init}")
            with self.over(axes):
                self.line(_combine(acc, how, self.at(x, t)))
            n = self.count([t.shape[a] for a in axes])
            self.line(f"{self.at_reduced(out, axes, keepdims, t.rank)} = {how.finish.format(acc=acc, n=n)}")

    def finish(self, out: str, out_t: TensorType, c: Closing, in_t: TensorType) -> None:
        """A closed reduction at its own place: its accumulator, finished, into ``out``."""
        n = self.count([in_t.shape[a] for a in c.axes])
        if out_t.rank == 0:
            self.line(f"{out}[()] = {c.how.finish.format(acc=c.acc, n=n)}")
            return
        with self.space(out_t.shape), self.over(range(out_t.rank)):
            self.line(f"{self.at(out, out_t)} = {c.how.finish.format(acc=self.at(c.acc, out_t), n=n)}")

    def matmul(self, out: str, a: str, b: str, ta: TensorType, tb: TensorType, trans_a=False, trans_b=False,
               out_t: Optional[TensorType] = None) -> None:
        """``out = op(a) @ op(b)`` for matrices: ``np.dot`` (BLAS), or loops when the sizes are known
        and the product is small (``SMALL_GEMM`` multiply-adds, or a contraction of 1, an outer
        product). With a symbolic size it is always ``np.dot``: one code path compiles faster."""
        m = ta.shape[1] if trans_a else ta.shape[0]
        k = ta.shape[0] if trans_a else ta.shape[1]
        n = tb.shape[0] if trans_b else tb.shape[1]
        dims = [m, n, k]
        zero = "0.0" if ta.dtype.is_float else "0"
        if ta.dtype.numpy.name not in ("float32", "float64"):  # BLAS multiplies floats only
            return self._matmul_loops(out, a, b, trans_a, trans_b, dims, zero)
        if all(isinstance(d, int) for d in dims) and (m * n * k <= SMALL_GEMM or k == 1):
            return self._matmul_loops(out, a, b, trans_a, trans_b, dims, zero)
        self._dot(out, a, b, trans_a, trans_b)

    def _dot(self, out, a, b, trans_a, trans_b):
        def operand(x, trans):
            x = f"np.ascontiguousarray({x})" if x in self.strided else x
            return x + (".T" if trans else "")
        self.line(f"np.dot({operand(a, trans_a)}, {operand(b, trans_b)}, {out})")

    def _matmul_loops(self, out, a, b, trans_a, trans_b, dims, zero):
        m, n, k = dims
        with self.space((m, n, k)):
            with self.over((0, 1)):
                acc = self.local("acc")
                self.line(f"{acc} = {zero}")
                with self.over((2,)):
                    i, j, p = (self.idx[x] or "0" for x in range(3))
                    ea = f"{a}[{p}, {i}]" if trans_a else f"{a}[{i}, {p}]"
                    eb = f"{b}[{j}, {p}]" if trans_b else f"{b}[{p}, {j}]"
                    self.line(f"{acc} += {ea} * {eb}")
                i, j = (self.idx[x] or "0" for x in range(2))
                self.line(f"{out}[{i}, {j}] = {acc}")


def _filled(shape: str, init: str) -> str:
    """An accumulator array (float64 for float sums: ``0.0``) holding ``init`` everywhere."""
    if init in ("0.0", "0"):
        return f"np.zeros({shape})" if init == "0.0" else f"np.zeros({shape}, np.int64)"
    return f"np.full({shape}, {init})"


def _combine(acc: str, how: Accumulator, x: str) -> str:
    if how.combine == "{acc} + {x}":
        return f"{acc} += {x}"
    return f"{acc} = {how.combine.format(acc=acc, x=x)}"
