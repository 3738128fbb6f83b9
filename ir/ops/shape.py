"""Shape ops: transpose, reshape, flatten, (un)squeeze, broadcasting, tiling, one-hot, constants
(the other ops that make arrays from attributes alone are in ``creation``)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import IRTypeError
from ..types import DType, TensorType, axis_list, broadcast_shapes, normalize_axis
from . import register
from .base import HOLE, REQUIRED, Op, Term


@register
class Transpose(Op):
    """y = x with axes permuted by ``perm`` (default: reversed)"""
    view = True
    attrs = {"perm": None}
    rule = "x̄ = ȳ transposed by the inverse permutation"

    def lecture(self, node, i, n):
        return Term(1.0, f"{HOLE}ᵀ")

    def _perm(self, rank, attrs):
        perm = attrs["perm"]
        perm = tuple(range(rank))[::-1] if perm is None else axis_list(perm, "Transpose perm")
        if sorted(perm) != list(range(rank)):
            raise IRTypeError(f"Transpose perm {perm} is not a permutation of {rank} axes")
        return perm

    def infer(self, ins, attrs):
        perm = self._perm(ins[0].rank, attrs)
        return [ins[0].with_shape(ins[0].shape[p] for p in perm)]

    def kernel(self, attrs):
        perm = attrs["perm"]
        return lambda x: np.transpose(x, perm)

    def vjp(self, e, node, gys):
        perm = self._perm(node.inputs[0].type.rank, node.attrs)
        inv = tuple(int(i) for i in np.argsort(perm))
        return [e.Transpose(gys[0], perm=inv)]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


def reshape_target(src, target):
    """Output shape of Reshape: 0 copies the input dimension, -1 is inferred."""
    out = [src[i] if d == 0 and i < len(src) else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise IRTypeError(f"Reshape target {tuple(target)} has more than one -1")
    sym_in = [d for d in src if isinstance(d, str)]
    static_in = math.prod(d for d in src if isinstance(d, int))
    sym_out = [d for d in out if isinstance(d, str)]
    static_out = math.prod(d for d in out if isinstance(d, int) and d != -1)
    if -1 in out:
        rest = list(sym_in)
        for s in sym_out:
            if s in rest:
                rest.remove(s)
            else:
                raise IRTypeError(f"cannot reshape {list(src)} to {list(target)}: symbol {s} is not an input dimension")
        if static_out == 0 or static_in % static_out:
            raise IRTypeError(f"cannot reshape {list(src)} to {list(target)}: sizes do not divide")
        ratio = static_in // static_out
        if not rest:
            fill = ratio
        elif len(rest) == 1 and ratio == 1:
            fill = rest[0]
        else:
            raise IRTypeError(f"cannot infer -1 when reshaping {list(src)} to {list(target)} with symbolic dimensions")
        out[out.index(-1)] = fill
    elif sorted(sym_in) != sorted(sym_out) or static_in != static_out:
        raise IRTypeError(f"cannot reshape {list(src)} to {list(target)}: element counts differ")
    return tuple(out)


@register
class Reshape(Op):
    """y = x viewed with ``shape`` (0 copies a dimension, -1 is inferred)"""
    view = True
    attrs = {"shape": ()}
    rule = "x̄ = ȳ reshaped to x's shape"

    def infer(self, ins, attrs):
        for d in axis_list(attrs["shape"], "Reshape shape"):
            if d < -1:
                raise IRTypeError(f"Reshape shape entries must be ints ≥ -1, got {attrs['shape']}")
        return [ins[0].with_shape(reshape_target(ins[0].shape, attrs["shape"]))]

    def kernel(self, attrs):
        shape = tuple(attrs["shape"])
        if 0 in shape:
            return lambda x: x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(shape)])
        return lambda x: x.reshape(shape)

    def vjp(self, e, node, gys):
        where = f"gradient of %{node.name} ({self.name}): "
        return [e.Reshape(gys[0], shape=like_shape(node.inputs[0].type, where))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


def like_shape(t: TensorType, where: str = ""):
    """A Reshape target for type ``t``: its one symbolic dimension becomes -1."""
    syms = [d for d in t.shape if isinstance(d, str)]
    if len(syms) > 1:
        raise IRTypeError(f"{where}cannot reshape back to {t}: more than one symbolic dimension")
    return tuple(-1 if isinstance(d, str) else d for d in t.shape)


@register
class Flatten(Op):
    """y = x as a matrix: dimensions before ``axis`` are rows, the rest columns"""
    view = True
    attrs = {"axis": 1}
    rule = "x̄ = ȳ reshaped to x's shape"

    def infer(self, ins, attrs):
        shape = ins[0].shape
        axis = attrs["axis"]
        if not -len(shape) <= axis <= len(shape):
            raise IRTypeError(f"Flatten axis {axis} out of range for {ins[0]}")
        axis = axis % len(shape) if axis < 0 else axis

        def prod(ds):
            syms = [d for d in ds if isinstance(d, str)]
            n = math.prod(d for d in ds if isinstance(d, int))
            if not syms:
                return n
            if len(syms) == 1 and n == 1:
                return syms[0]
            raise IRTypeError(f"Flatten cannot merge symbolic dimensions of {ins[0]}")
        return [ins[0].with_shape((prod(shape[:axis]), prod(shape[axis:])))]

    def kernel(self, attrs):
        axis = attrs["axis"]

        def flatten(x):
            a = axis % x.ndim if axis < 0 else axis
            return x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))
        return flatten

    def vjp(self, e, node, gys):
        where = f"gradient of %{node.name} ({self.name}): "
        return [e.Reshape(gys[0], shape=like_shape(node.inputs[0].type, where))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class Unsqueeze(Op):
    """y = x with size-1 axes inserted at ``axes`` (positions in the output)"""
    view = True
    attrs = {"axes": ()}
    rule = "x̄ = ȳ with those axes squeezed"

    def infer(self, ins, attrs):
        given = axis_list(attrs["axes"], "Unsqueeze axes")
        rank = ins[0].rank + len(given)
        axes = sorted(normalize_axis(a, rank, "Unsqueeze axis") for a in given)
        if len(set(axes)) != len(axes):
            raise IRTypeError(f"Unsqueeze axes {attrs['axes']} repeat an axis")
        shape = list(ins[0].shape)
        for a in axes:
            shape.insert(a, 1)
        return [ins[0].with_shape(shape)]

    def kernel(self, attrs):
        axes = tuple(attrs["axes"])
        return lambda x: np.expand_dims(x, axes)

    def vjp(self, e, node, gys):
        return [e.Squeeze(gys[0], axes=tuple(node.attrs["axes"]))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class Squeeze(Op):
    """y = x with the size-1 axes ``axes`` removed (all size-1 axes if None)"""
    view = True
    attrs = {"axes": None}
    rule = "x̄ = ȳ with those axes re-inserted"

    def _axes(self, t, attrs):
        if attrs["axes"] is None:
            if not t.is_static:  # the kernel squeezes every size-1 axis, so N = 1 would vanish too
                raise IRTypeError(f"Squeeze without axes of {t}: a symbolic dimension may be 1 at run time; "
                                  f"give the axes to squeeze")
            return tuple(i for i, d in enumerate(t.shape) if d == 1)
        axes = tuple(sorted(normalize_axis(a, t.rank, "Squeeze axis") for a in axis_list(attrs["axes"], "Squeeze axes")))
        for a in axes:
            if t.shape[a] != 1:
                raise IRTypeError(f"Squeeze axis {a} of {t} has size {t.shape[a]}, not 1")
        return axes

    def infer(self, ins, attrs):
        axes = self._axes(ins[0], attrs)
        return [ins[0].with_shape(d for i, d in enumerate(ins[0].shape) if i not in axes)]

    def kernel(self, attrs):
        axes = attrs["axes"]
        return lambda x: np.squeeze(x, axis=None if axes is None else tuple(axes))

    def vjp(self, e, node, gys):
        return [e.Unsqueeze(gys[0], axes=self._axes(node.inputs[0].type, node.attrs))]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class ExpandLike(Op):
    """y = x broadcast to the shape of ``like`` (only like's shape is read)"""
    view = True
    arity = (2, 2)
    nondiff_inputs = (1,)
    rule = "x̄ = ȳ summed back to x's shape"

    def infer(self, ins, attrs):
        x, like = ins
        out = broadcast_shapes(x.shape, like.shape, "ExpandLike operands")
        if out != like.shape:
            raise IRTypeError(f"ExpandLike cannot broadcast {x} to the shape of {like}")
        return [TensorType(like.shape, x.dtype)]

    def kernel(self, attrs):
        return lambda x, like: np.broadcast_to(x, like.shape)

    def vjp(self, e, node, gys):
        return [e.sum_to(gys[0], node.inputs[0].type), None]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class Tile(Op):
    """y = x repeated ``repeats[i]`` times along each axis i (the copies side by side)"""
    attrs = {"repeats": REQUIRED}
    rule = "x̄ = ȳ reshaped to [r₀, d₀, r₁, d₁, …] and summed over the copies rᵢ"

    def infer(self, ins, attrs):
        x = ins[0]
        reps = axis_list(attrs["repeats"], "Tile repeats")
        if len(reps) != x.rank or any(r < 0 for r in reps):
            raise IRTypeError(f"Tile needs one repeat count ≥ 0 per axis of {x}, got {attrs['repeats']}")
        for d, r in zip(x.shape, reps):
            if isinstance(d, str) and r != 1:
                raise IRTypeError(f"Tile cannot repeat the symbolic axis {d} of {x} ({r} times)")
        return [x.with_shape(d if isinstance(d, str) else d * r for d, r in zip(x.shape, reps))]

    def kernel(self, attrs):
        reps = tuple(attrs["repeats"])
        return lambda x: np.tile(x, reps)

    def vjp(self, e, node, gys):
        x = node.inputs[0].type
        reps = tuple(node.attrs["repeats"])
        if all(r == 1 for r in reps):
            return [gys[0]]
        split, copies = [], []
        for d, r in zip(x.shape, reps):
            if r != 1:
                copies.append(len(split))
                split.append(r)
            split.append(-1 if isinstance(d, str) else d)  # a symbolic axis (repeated once): -1
        if split.count(-1) > 1:
            raise IRTypeError(f"gradient of %{node.name} (Tile): cannot reshape {gys[0].type} with more than one "
                              f"symbolic dimension")
        return [e.ReduceSum(e.Reshape(gys[0], shape=tuple(split)), axes=tuple(copies), keepdims=0)]

    def flops(self, ins, outs, attrs, bindings=None):
        return 0


@register
class OneHot(Op):
    """y[..., k] = 1 if x[...] == k else 0, for k < ``depth`` (one-of-K encoding)"""
    attrs = {"depth": 2, "dtype": DType.f32}
    differentiable = False

    def infer(self, ins, attrs):
        if ins[0].dtype.is_float or ins[0].dtype == DType.bool:  # a bool array would index eye() as a mask
            raise IRTypeError(f"OneHot needs integer class indices, got {ins[0]}")
        if not isinstance(attrs["depth"], int) or attrs["depth"] < 1:
            raise IRTypeError(f"OneHot depth must be a positive int, got {attrs['depth']!r}")
        return [TensorType(ins[0].shape + (attrs["depth"],), attrs["dtype"])]

    def kernel(self, attrs):
        depth, dt = attrs["depth"], DType.of(attrs["dtype"]).numpy

        def one_hot(x):
            bad = (x < 0) | (x >= depth)
            if np.any(bad):
                raise ValueError(f"class index {x[bad].flat[0]} is outside 0..{depth - 1}")
            # one 1 per row into zeros: memory of the result only (indexing np.eye(depth) took depth²)
            y = np.zeros(np.shape(x) + (depth,), dt)
            np.put_along_axis(y, np.expand_dims(x, -1), 1, axis=-1)
            return y
        return one_hot


@register
class Constant(Op):
    """y = the array ``value``"""
    view = True
    arity = (0, 0)
    attrs = {"value": None}
    differentiable = False
    foldable = True  # no inputs: the executors bind the array once

    def infer(self, ins, attrs):
        v = attrs["value"]
        if not isinstance(v, np.ndarray):
            raise IRTypeError(f"Constant value must be a NumPy array, got {type(v).__name__}")
        return [TensorType(v.shape, DType.of(v.dtype))]

    def kernel(self, attrs):
        v = attrs["value"]
        v.setflags(write=False)
        return lambda: v

    def flops(self, ins, outs, attrs, bindings=None):
        return 0
