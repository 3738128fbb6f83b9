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

The text is plain Python over NumPy arrays: it runs as it is (slowly), numba compiles it
(``numba_source.py``), and ``chainrule dump --print-kernels`` prints it (``program_text``).
Arrays are named after their values (``%fc1.weight`` is ``fc1_weight``), symbolic dimensions
after their symbols (``N``), loop indices after their axes (``i0``, ``i1``...).
"""
from __future__ import annotations

import builtins
import keyword
import math
import re
from contextlib import contextmanager
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..ir.ops import OPS
from ..ir.ops.base import Accumulator, literal
from ..ir.ops.fused import Step, as_body, step_types
from ..ir.printer import format_node
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

    RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {"np", "numba", "njit", "offs"}

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
        self.closed = False

    # -- text ----------------------------------------------------------------------------------
    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def local(self, hint: str) -> str:
        return self.names.local(hint)

    def dim(self, d) -> str:
        return self.names.dim(d)

    def shape_text(self, shape) -> str:
        ds = [self.dim(d) for d in shape]
        return "(" + ", ".join(ds) + ("," if len(ds) == 1 else "") + ")"

    def count(self, dims) -> str:
        """The product of ``dims`` as text: ``N * 784``, ``256``, ``1``."""
        static = math.prod(d for d in dims if isinstance(d, int))
        syms = [self.dim(d) for d in dims if not isinstance(d, int)]
        return " * ".join(syms + ([str(static)] if static != 1 or not syms else []))

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


# -- a graph as kernels ----------------------------------------------------------------------------
class Kernel(NamedTuple):
    """One node's code. ``kind``: ``loops`` (its loops are ``lines``), ``static`` (computed now:
    ``value``), or ``numpy`` (no loop form: the step calls the op's NumPy kernel)."""
    node: object
    kind: str
    lines: List[str]
    closes: Tuple[str, ...] = ()  # reductions computed in this node's nest (node names)
    closed_by: str = ""  # for a closed reduction: the node whose nest accumulates it
    value: Optional[np.ndarray] = None  # a static kernel's value


class Program:
    """A graph (in a node order) as kernels, with the identifiers they use."""

    def __init__(self, graph, kernels: List[Kernel], names: Names, inline: Dict[str, str]):
        self.graph, self.kernels, self.names, self.inline = graph, kernels, names, inline

    def array(self, v) -> str:
        return self.names.value(v.name)

    @property
    def fallbacks(self) -> List[str]:
        """Nodes left to their NumPy kernel (``node (Op)``)."""
        return [f"{k.node.name} ({k.node.op.name})" for k in self.kernels if k.kind == "numpy"]


def _fused_steps(node) -> Optional[tuple]:
    """The steps of a node lowered as one elementwise nest (a Fused body, or the op itself)."""
    op, attrs = node.op, dict(node.attrs)
    region = getattr(op, "region_attr", None)
    if region is not None and op.elementwise:
        body = as_body(attrs[region])
        types = [v.type for v in node.inputs]
        types += step_types(types, body)
        if not all(broadcasts_into(u.shape, node.outputs[0].type.shape) for u in types):
            return None
        for s in body:
            if OPS[s.op].scalar(dict(s.attrs), [f"x{k}" for k in range(len(s.refs))],
                                [types[r] for r in s.refs]) is None:
                return None
        return body
    if op.elementwise and len(node.outputs) == 1 and \
            op.scalar(attrs, [f"x{k}" for k in range(len(node.inputs))], [v.type for v in node.inputs]) is not None:
        return (Step(op.name, tuple(range(len(node.inputs))), tuple(sorted(attrs.items())), node.outputs[0].name),)
    return None


def _static_value(node, static: Dict[str, np.ndarray], exported) -> Optional[np.ndarray]:
    """The node's value when it is the same on every call: a foldable op of static values."""
    if len(node.outputs) != 1 or id(node.outputs[0]) in exported or not node.op.foldable:
        return None
    if not all(v.name in static for v in node.inputs):
        return None
    t = node.outputs[0].type
    if not t.is_static:
        return None
    with np.errstate(all="ignore"):  # a constant 1/0 is inf here as it would be at run time
        out = node.op.kernel(dict(node.attrs))(*[static[v.name] for v in node.inputs])
    out = np.asarray(out, dtype=t.dtype.numpy)
    return out if out.shape == t.shape else None


def lower(graph, nodes=None, can_lower=None) -> Program:
    """Every node of ``graph`` (in the order ``nodes``) as a ``Kernel``; ``can_lower(node)`` False
    keeps a node on its NumPy kernel (what the compiler of the loops cannot take)."""
    nodes = list(graph.nodes) if nodes is None else list(nodes)
    names = Names()
    for v in list(graph.inputs) + list(graph.params):
        names.value(v.name)
    for n in nodes:
        for o in n.outputs:
            names.value(o.name)
    exported = graph.exported_ids()
    static: Dict[str, np.ndarray] = {}
    inline: Dict[str, str] = {}
    strided: set = set()
    kind: Dict[str, str] = {}
    for n in nodes:  # what each node is: static, loops or numpy
        value = _static_value(n, static, exported)
        if value is not None:
            static[n.outputs[0].name] = value
            if value.size == 1:
                inline[names.value(n.outputs[0].name)] = literal(value.reshape(()).item())
            kind[n.name] = "static"
            continue
        names.begin_kernel()
        ok = can_lower is None or can_lower(n)
        kind[n.name] = "loops" if ok and _write(Loops(names, inline, strided), n, names) else "numpy"
    closing = _closings(nodes, kind)
    kernels: List[Kernel] = []
    acc_of: Dict[str, Closing] = {}
    for n in nodes:
        names.begin_kernel()
        k = kind[n.name]
        if k == "static":
            kernels.append(Kernel(n, "static", [], value=static[n.outputs[0].name]))
            continue
        if k == "numpy":
            kernels.append(Kernel(n, "numpy", []))
            continue
        lb = Loops(names, inline, strided)
        if n.name in acc_of:  # a reduction accumulated in its producer's nest
            x = n.inputs[0]
            lb.finish(names.value(n.outputs[0].name), n.outputs[0].type, acc_of[n.name], x.type)
            kernels.append(Kernel(n, "loops", lb.lines, closed_by=x.producer.name))
            continue
        closes = []
        for r in closing.get(n.name, []):
            x_t = r.inputs[0].type
            a = dict(r.attrs)
            axes = tuple(range(x_t.rank)) if a.get("axes") is None else \
                tuple(sorted(ax % x_t.rank for ax in a["axes"]))
            c = Closing(names.shared("acc_" + names.value(r.outputs[0].name)), r.op.accumulate(a, x_t), axes,
                        bool(a.get("keepdims", 1)), r.outputs[0].type)
            acc_of[r.name] = c
            closes.append(c)
        lb.closing = closes
        _write(lb, n, names=names)
        if closes and not lb.closed:
            raise AssertionError(f"loops: node {n.name} did not accumulate its closing reductions")
        kernels.append(Kernel(n, "loops", lb.lines, closes=tuple(r.name for r in closing.get(n.name, []))))
    return Program(graph, kernels, names, inline)


def _write(lb: Loops, n, names: Names) -> bool:
    """Ask the node's op for its loops (False: none)."""
    outs = [names.value(o.name) for o in n.outputs]
    args = [names.value(v.name) for v in n.inputs]
    return bool(n.op.loops(lb, dict(n.attrs), outs, args, [v.type for v in n.inputs], [o.type for o in n.outputs]))


def _closings(nodes, kind) -> Dict[str, list]:
    """For each elementwise nest, the reductions of its result it can accumulate as it goes: the
    reduction reads only that result, with the nest's type, and no NumPy kernel runs between them
    (numba compiles the code between two such kernels as one function)."""
    pos = {n.name: i for i, n in enumerate(nodes)}
    segment, seg = {}, 0
    for n in nodes:
        if kind[n.name] == "numpy":
            seg += 1
        segment[n.name] = seg
    out: Dict[str, list] = {}
    for n in nodes:
        if kind[n.name] != "loops" or len(n.inputs) != 1 or n.inputs[0].producer is None:
            continue
        p = n.inputs[0].producer
        how = n.op.accumulate(dict(n.attrs), n.inputs[0].type)
        if how is None or p.name not in pos or kind[p.name] != "loops" or _fused_steps(p) is None:
            continue
        if len(p.outputs) != 1 or segment[p.name] != segment[n.name] or pos[p.name] > pos[n.name]:
            continue
        out.setdefault(p.name, []).append(n)
    return out


def kernel_text(k: Kernel, program: Program) -> str:
    """One kernel as readable text: the node's IR line as a comment, then its loops."""
    n = k.node
    head = f"# {format_node(n, meta=False)}"
    if k.closes:
        head += f"\n#   (also accumulates {', '.join('%' + r for r in k.closes)} as each element is made)"
    if k.kind == "static":
        v = k.value
        shown = program.inline.get(program.array(n.outputs[0]))
        return head + f"\n{program.array(n.outputs[0])} = " + (
            f"{shown}  # the same on every call: computed once" if shown is not None else
            f"<{v.dtype}{list(v.shape)} array computed once>")
    if k.kind == "numpy":
        outs = ", ".join(program.array(o) for o in n.outputs)
        ins = ", ".join(program.array(v) for v in n.inputs)
        return head + f"\n{outs} = {n.op.name}_kernel({ins})  # no loop form: the op's NumPy kernel"
    if k.closed_by:
        head += f"\n#   (accumulated in the nest of %{k.closed_by})"
    return head + "\n" + "\n".join(k.lines)


def program_text(program: Program, only: Optional[Sequence[str]] = None) -> str:
    """Every kernel (or those of the nodes ``only``), separated by blank lines."""
    ks = [k for k in program.kernels if only is None or k.node.name in only]
    syms = sorted({d for v in program.graph.all_values() for d in v.type.shape if isinstance(d, str)})
    head = f"# {program.graph.name}: {len(program.kernels)} kernels" + (
        f" ({len(program.fallbacks)} on NumPy kernels)" if program.fallbacks else "") + (
        f"; symbolic sizes: {', '.join(syms)}" if syms else "")
    return head + "\n\n" + "\n\n".join(kernel_text(k, program) for k in ks) + "\n"
