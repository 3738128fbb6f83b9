"""Matrix products: ``MatMul`` and the affine ``Gemm`` (Y = α·A'B' + βC); ``Trilu``, the
triangles of matrices (a causal mask is the lower one).

A fully connected layer is ``Gemm(x, W, b) {transB=1}``: with examples as
rows, the lecture's z = Wx + b becomes Z = XWᵀ + b, and its backward pass
W̄ = z̄xᵀ becomes W̄ = Z̄ᵀX, itself a Gemm.
"""
from __future__ import annotations

import numpy as np

from ..errors import IRTypeError
from ..types import TensorType, broadcast_shapes
from . import register
from .base import HOLE, Op, Term, broadcast_split, literal, same_dtype

SPLIT_K = 256  # a product summing more terms than this, not a multiple of 32, is computed in two (``summed``)


def split_k(k) -> bool:
    """Does a product summing ``k`` terms (an int; else unknown until run) take two BLAS calls?"""
    return not isinstance(k, int) or (k > SPLIT_K and k % 32 != 0)


def summed(a, b, out=None):
    """``np.matmul(a, b, out)``, computed so that its bits do not depend on the BLAS thread count.

    A BLAS library sums a product's K terms in blocks whose sizes it picks from K and from its
    thread count, so the same product may round differently on one thread and on two. With
    OpenBLAS 0.3.31 (Haswell kernel) it does for nearly every K over 448 (float32; over 384,
    float64) that is not a multiple of 32, and for no K that is: of 432 shapes measured (M 2-513,
    N 10-1000, K 300-2500, float32 and float64, an operand transposed or not), 268 whole products
    differ and none computed as here, and no multiple of 32 up to 4096 differs, whole, in either
    dtype (``python benchmarks/bench_blas_bits.py``). So when K is
    over ``SPLIT_K`` and not a multiple of 32, the product is the first K - K % 32 terms, then
    the other K % 32 added to them. ``x @ w.T``, [128,784] @ [784,256]::

        mm(x, w.T, y)                                      # one call: bits that follow the threads

        mm(x[:, :768], w.T[:768, :], y)                    # summed: the same bits on any thread count
        add(y, mm(x[:, 768:], w.T[768:, :]), y)

    (On another machine with the same library and kernel, two threads changed nearly every
    product, K = 32 included; there no order of sums helps, and ``runtime/agree.py`` keeps such
    steps at one thread.)
    Where it holds, a model's numbers follow neither the machine's cores nor ``threads=``, and the dataflow
    executor may run a step on every core's BLAS threads and still give one thread's answer
    (``runtime/agree.py`` checks that on the first call). It costs the second product and one
    pass over Y: 1-5% of a [32-512, 784] @ [784, 256-1024] product on one thread, 4-14% on two,
    and 3 µs at M = 1 (the same script). The second product's result is a temporary of Y's size,
    allocated by NumPy on each call, outside the memory plan."""
    k = a.shape[-1]
    if not split_k(k):
        return np.matmul(a, b, out=out)
    c = k - k % 32
    head, tail = (b[:c], b[c:]) if b.ndim == 1 else (b[..., :c, :], b[..., c:, :])
    out = np.matmul(a[..., :c], head, out=out)
    return np.add(out, np.matmul(a[..., c:], tail), out=out)


def _mm(code, k) -> str:
    """The name generated code calls a product by: NumPy's matmul, or ``summed`` where K needs it."""
    return code.const(summed, "mmk") if split_k(k) else code.const(np.matmul, "mm")


def _mm_shape(a, b):
    if a.rank < 1 or b.rank < 1:
        raise IRTypeError(f"MatMul needs operands of rank ≥ 1, got {a} and {b}")
    sa = (1,) + a.shape if a.rank == 1 else a.shape
    sb = b.shape + (1,) if b.rank == 1 else b.shape
    if sa[-1] != sb[-2]:
        raise IRTypeError(f"MatMul inner dimensions differ: {a} @ {b} ({sa[-1]} vs {sb[-2]})")
    batch = broadcast_shapes(sa[:-2], sb[:-2], "MatMul batch dimensions")
    out = batch + (sa[-2], sb[-1])
    if a.rank == 1:
        out = out[:-2] + out[-1:]
    if b.rank == 1:
        out = out[:-1]
    return out


def _swap_last(e, v):
    perm = tuple(range(v.type.rank - 2)) + (v.type.rank - 1, v.type.rank - 2)
    return e.Transpose(v, perm=perm)


@register
class MatMul(Op):
    """Y = A @ B (NumPy matmul semantics; batch dimensions broadcast)"""
    arity = (2, 2)
    blas = True
    rule = "Ā = Ȳ Bᵀ, B̄ = Aᵀ Ȳ"

    def lecture(self, node, i, n):
        a, b = (n.sym(v) for v in node.inputs)
        return Term(1.0, f"{HOLE} {b}ᵀ" if i == 0 else f"{a}ᵀ {HOLE}")

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        return [TensorType(_mm_shape(*ins), ins[0].dtype)]

    def kernel(self, attrs):
        return summed

    def out_kernel(self, attrs, alias=-1):
        return lambda out, a, b: summed(a, b, out)

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        return [f"{_mm(code, in_types[0].shape[-1])}({args[0]}, {args[1]}, {out})"]

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        if in_types[0].rank != 2 or in_types[1].rank != 2:  # vectors and batches: the NumPy kernel
            return False
        lb.matmul(outs[0], args[0], args[1], in_types[0], in_types[1])
        return True

    def split(self, attrs, in_types, out, axis=0):
        """Y[r0:r1] = A[r0:r1] @ B (A's first axis is Y's: its rows or its batch) and
        Y[..., c0:c1] = A @ B[:, c0:c1], when B is one matrix."""
        a, b = in_types
        if not (a.rank == out.rank >= 2 and b.rank == 2):
            return None
        return (0, None) if axis == 0 else (None, 1) if axis == out.rank - 1 else None

    def vjp(self, e, node, gys):
        a, b = node.inputs
        g = gys[0]
        # A vector operand is a 1×K row (a) or K×1 column (b) whose unit axis the product dropped:
        # put it back, apply the matrix rule, then squeeze it away again.
        a2 = e.Unsqueeze(a, axes=(0,)) if a.type.rank == 1 else a
        b2 = e.Unsqueeze(b, axes=(1,)) if b.type.rank == 1 else b
        rank = max(a2.type.rank, b2.type.rank)
        dropped = tuple(ax for ax, vec in ((rank - 2, a.type.rank == 1), (rank - 1, b.type.rank == 1)) if vec)
        if dropped:
            g = e.Unsqueeze(g, axes=dropped)
        ga = e.sum_to(e.MatMul(g, _swap_last(e, b2)), a2.type)
        gb = e.sum_to(e.MatMul(_swap_last(e, a2), g), b2.type)
        if a.type.rank == 1:
            ga = e.Squeeze(ga, axes=(0,))
        if b.type.rank == 1:
            gb = e.Squeeze(gb, axes=(1,))
        return [ga, gb]

    def flops(self, ins, outs, attrs, bindings=None):
        k = ins[0].shape[-1]
        k = (bindings or {}).get(k, k) if isinstance(k, str) else k
        n = outs[0].numel(bindings)
        if n is None or not isinstance(k, int):
            return 0
        return n * k


@register
class Gemm(Op):
    """Y = α·op(A)·op(B) + β·C, op(X) = Xᵀ if trans else X (A, B are matrices)"""
    arity = (2, 3)
    attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
    blas = True
    rule = "Ā = α Ȳ op(B)ᵀ, B̄ = α op(A)ᵀ Ȳ (transposed back if needed), C̄ = β Ȳ summed to C's shape"

    def lecture(self, node, i, n):
        ta, tb = node.attrs["transA"], node.attrs["transB"]
        a, b = n.sym(node.inputs[0]), n.sym(node.inputs[1])
        alpha = float(node.attrs["alpha"])
        if i == 0:
            return Term(alpha, f"{HOLE} {b if tb else b + 'ᵀ'}" if not ta else f"{b + 'ᵀ' if tb else b} {HOLE}ᵀ")
        if i == 1:
            return Term(alpha, f"{a + 'ᵀ' if not ta else a} {HOLE}" if not tb else f"{HOLE}ᵀ {a + 'ᵀ' if ta else a}")
        same = node.inputs[2].type.rank == node.outputs[0].type.rank
        return Term(float(node.attrs["beta"]), HOLE if same else f"Σ_rows {HOLE}")

    def infer(self, ins, attrs):
        same_dtype(self, ins)
        a, b = ins[0], ins[1]
        if a.rank != 2 or b.rank != 2:
            raise IRTypeError(f"Gemm needs matrices, got {a} and {b}")
        m, k = a.shape[::-1] if attrs["transA"] else a.shape
        k2, n = b.shape[::-1] if attrs["transB"] else b.shape
        if k != k2:
            raise IRTypeError(f"Gemm inner dimensions differ: op(A) is [{m},{k}], op(B) is [{k2},{n}]")
        out = (m, n)
        if len(ins) == 3:
            out = broadcast_shapes(out, ins[2].shape, "Gemm bias C")
            if out != (m, n):
                raise IRTypeError(f"Gemm bias C {ins[2]} does not broadcast to [{m},{n}]")
        return [TensorType(out, a.dtype)]

    def kernel(self, attrs):
        ta, tb = attrs["transA"], attrs["transB"]
        into = self.out_kernel(attrs)

        def gemm(a, b, c=None):  # the out-kernel on a fresh array: the same operations, the same bits
            out = np.empty((a.shape[1 if ta else 0], b.shape[0 if tb else 1]), np.result_type(a, b))
            return into(out, a, b, c)
        return gemm

    def out_kernel(self, attrs, alias=-1):
        ta, tb, alpha, beta = attrs["transA"], attrs["transB"], attrs["alpha"], attrs["beta"]

        def gemm_into(out, a, b, c=None):
            summed(a.T if ta else a, b.T if tb else b, out)
            if alpha != 1.0:
                out *= out.dtype.type(alpha)
            if c is not None:
                out += c if beta == 1.0 else c * c.dtype.type(beta)
            return out
        return gemm_into

    def emit(self, code, attrs, out, args, in_types, alias=-1, donated=()):
        a = args[0] + (".T" if attrs["transA"] else "")
        b = args[1] + (".T" if attrs["transB"] else "")
        ta = in_types[0]
        k = ta.shape[0] if attrs["transA"] else ta.shape[-1]
        # an outer product (k = 1, a batch of one): BLAS gemm is slow there, a broadcast multiply is not,
        # and both round the one product once, so the bits are the same
        mm = code.const(np.multiply, "mul_") if k == 1 else _mm(code, k)
        lines = [f"{mm}({a}, {b}, {out})"]
        dt = ta.dtype.numpy.type
        if attrs["alpha"] != 1.0:
            lines.append(f"{code.const(np.multiply, 'mul_')}({out}, {code.const(dt(attrs['alpha']))}, {out})")
        if len(args) > 2:
            c = args[2] if attrs["beta"] == 1.0 else f"({args[2]} * {code.const(dt(attrs['beta']))})"
            lines.append(f"{code.const(np.add, 'add_')}({out}, {c}, {out})")
        return lines

    def loops(self, lb, attrs, outs, args, in_types, out_types):
        """The product (``np.dot``, or loops if small), then α and the bias in one pass over Y."""
        y, t = outs[0], out_types[0]
        lb.matmul(y, args[0], args[1], in_types[0], in_types[1], bool(attrs["transA"]), bool(attrs["transB"]))
        alpha, beta = attrs["alpha"], attrs["beta"]
        if alpha == 1.0 and len(args) < 3:
            return True
        scale = (lambda v: v) if alpha == 1.0 else (lambda v: f"{v} * {literal(alpha)}")
        bias = (lambda c: c) if beta == 1.0 else (lambda c: f"{c} * {literal(beta)}")
        if len(args) < 3:
            lb.nest(y, t, [y], [t], lambda xs: scale(xs[0]))
        else:
            lb.nest(y, t, [y, args[2]], [t, in_types[2]], lambda xs: f"{scale(xs[0])} + {bias(xs[1])}")
        return True

    def split(self, attrs, in_types, out, axis=0):
        """Y[r0:r1] = α op(A)[r0:r1] op(B) + β C[r0:r1] and Y[:, c0:c1] = α op(A) op(B)[:, c0:c1] + β C[:, c0:c1].
        op(A)'s rows are A's columns when transA (the weight gradient W̄ = Z̄ᵀX takes columns r0:r1
        of Z̄), op(B)'s columns are B's rows when transB (Z = XWᵀ takes rows c0:c1 of W); C
        broadcasts as in an elementwise op."""
        if axis not in (0, 1):
            return None
        c = broadcast_split(in_types[2:], out, axis) or ()
        if axis == 0:
            return (1 if attrs["transA"] else 0, None) + c
        return (None, 0 if attrs["transB"] else 1) + c

    def vjp(self, e, node, gys):
        a, b = node.inputs[:2]
        g = gys[0]
        ta, tb, alpha = node.attrs["transA"], node.attrs["transB"], node.attrs["alpha"]
        # Y = α A'B' with A' = op(A), B' = op(B): Ā' = α Ȳ B'ᵀ and B̄' = α A'ᵀ Ȳ,
        # each written as one Gemm so that no explicit transpose is materialised.
        ga = e.Gemm(b, g, alpha=alpha, transA=tb, transB=1) if ta else e.Gemm(g, b, alpha=alpha, transB=1 - tb)
        gb = e.Gemm(g, a, alpha=alpha, transA=1, transB=ta) if tb else e.Gemm(a, g, alpha=alpha, transA=1 - ta)
        out = [ga, gb]
        if len(node.inputs) == 3:
            c = node.inputs[2]
            gc = g if node.attrs["beta"] == 1.0 else e.Mul(g, e.scalar_like(node.attrs["beta"], g))
            out.append(e.sum_to(gc, c.type))
        return out

    def flops(self, ins, outs, attrs, bindings=None):
        a = ins[0].shape
        k = a[0] if attrs["transA"] else a[1]
        k = (bindings or {}).get(k, k) if isinstance(k, str) else k  # W̄ = Z̄ᵀX sums over the batch N
        n = outs[0].numel(bindings)
        if n is None or not isinstance(k, int):
            return 0
        return n * k


@register
class Trilu(Op):
    """y = the upper (``upper=1``: entries with j − i ≥ k) or lower (j − i ≤ k) triangle of each
    matrix in x's last two axes, zeros elsewhere"""
    attrs = {"upper": 1, "k": 0}
    rule = "x̄ = Trilu(ȳ): the same triangle (the other entries do not reach y)"

    def infer(self, ins, attrs):
        if ins[0].rank < 2:
            raise IRTypeError(f"Trilu needs matrices (rank ≥ 2), got {ins[0]}")
        return [ins[0]]

    def kernel(self, attrs):
        k, fn = int(attrs["k"]), np.triu if attrs["upper"] else np.tril
        return lambda x: fn(x, k)

    def vjp(self, e, node, gys):
        return [e.Trilu(gys[0], **node.attrs)]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0
