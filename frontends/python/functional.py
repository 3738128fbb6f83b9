"""Functions on traced tensors: ``cr.relu(x)``, ``cr.softmax(z)``, ``cr.cross_entropy(y, t)``...

Each function emits one node of the op with the same name (or a few, as
documented), so the IR reads like the Python that made it.
"""
from __future__ import annotations

from ...ir import DType, IRTypeError
from .tracer import Tensor, lift, user_source


def _t(x, what="x") -> Tensor:
    if not isinstance(x, Tensor):
        raise IRTypeError(f"{what} must be a traced Tensor, got {type(x).__name__}")
    return x


def _unary(opname):
    def f(x, **attrs):
        x = _t(x)
        return x.builder.op(opname, x, **attrs)
    f.__name__ = opname.lower()
    f.__doc__ = f"Emit a ``{opname}`` node."
    return f


relu = _unary("Relu")
sigmoid = _unary("Sigmoid")
tanh = _unary("Tanh")
softplus = _unary("Softplus")
hard_threshold = _unary("HardThreshold")
exp = _unary("Exp")
log = _unary("Log")
sin = _unary("Sin")
cos = _unary("Cos")
sqrt = _unary("Sqrt")
square = _unary("Square")
identity = _unary("Identity")


def leaky_relu(x, alpha=0.01):
    return _t(x).builder.op("LeakyRelu", x, alpha=float(alpha))


def softmax(z, axis=-1):
    return _t(z).builder.op("Softmax", z, axis=int(axis))


def log_softmax(z, axis=-1):
    return _t(z).builder.op("LogSoftmax", z, axis=int(axis))


def matmul(a, b):
    return _t(a) @ b


def linear(x, weight, bias=None):
    """z = x Wᵀ + b as one ``Gemm {transB=1}`` (the lecture's z = Wx + b, examples as rows)."""
    x = _t(x)
    ins = [x, lift(weight, x)] + ([lift(bias, x)] if bias is not None else [])
    return x.builder.op("Gemm", *ins, transB=1)


def transpose(x, perm=None):
    return _t(x).builder.op("Transpose", x, perm=None if perm is None else tuple(perm))


def reshape(x, shape):
    return _t(x).reshape(shape)


def flatten(x, axis=1):
    return _t(x).builder.op("Flatten", x, axis=int(axis))


def reduce_sum(x, axis=None, keepdims=False):
    return _t(x).sum(axis, keepdims)


def reduce_mean(x, axis=None, keepdims=False):
    return _t(x).mean(axis, keepdims)


def reduce_max(x, axis=None, keepdims=False):
    return _t(x).max(axis, keepdims)


def argmax(x, axis=-1, keepdims=False):
    return _t(x).builder.op("ArgMax", x, axis=int(axis), keepdims=int(keepdims))


def one_hot(indices, depth, dtype=DType.f32):
    return _t(indices).builder.op("OneHot", indices, depth=int(depth), dtype=DType.of(dtype))


def cast(x, dtype):
    return _t(x).builder.op("Cast", x, to=DType.of(dtype))


def greater(a, b):
    a = _t(a)
    return a.builder.op("Greater", a, lift(b, a))


def where(cond, a, b):
    cond = _t(cond, "cond")
    like = a if isinstance(a, Tensor) else _t(b)
    return cond.builder.op("Where", cond, lift(a, like), lift(b, like))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, name=None):
    """PyTorch's ``F.layer_norm``: one ``LayerNormalization`` node over x's last
    ``len(normalized_shape)`` axes (a weight of ones when none is given)."""
    x = _t(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[len(x.shape) - len(shape):]) != shape or len(shape) > len(x.shape):
        src = user_source()
        raise IRTypeError(f"{src + ': ' if src else ''}layer_norm over {list(shape)} needs a tensor whose last "
                          f"axes are {list(shape)}, got [{','.join(map(str, x.shape))}]")
    w = lift(weight, x) if weight is not None else \
        x.builder.op("ConstantOfShape", shape=shape, value=1.0, dtype=x.dtype, name="ones")
    ins = [x, w] + ([lift(bias, x)] if bias is not None else [])
    y, mean, inv = x.builder.op("LayerNormalization", *ins, axis=-len(shape), epsilon=float(eps), name=name)
    g, base = x.builder.graph, name or "layernorm"
    for v, n in ((y, base), (mean, f"{base}.mean"), (inv, f"{base}.inv_std")):
        g.rename(v.value, n)  # %ln1 rather than %ln1.0 for the result
    return y


def _loss(opname):
    def f(prediction, target, reduction="mean"):
        y = _t(prediction, "prediction")
        return y.builder.op(opname, y, lift(target, y), reduction=reduction)
    f.__name__ = opname
    return f


cross_entropy = _loss("CrossEntropy")
cross_entropy.__doc__ = "ℒ = −Σₖ tₖ log yₖ on probabilities y and one-hot targets t."
squared_error = _loss("SquaredError")
squared_error.__doc__ = "ℒ = ½‖y − t‖²."
binary_cross_entropy = _loss("BinaryCrossEntropy")
binary_cross_entropy.__doc__ = "ℒ = −t log y − (1 − t) log(1 − y) on a logistic output y."
softmax_cross_entropy = _loss("SoftmaxCrossEntropy")
softmax_cross_entropy.__doc__ = "Fused, stable ℒ = −Σₖ tₖ log softmax(z)ₖ from logits z."

__all__ = [
    "argmax", "binary_cross_entropy", "cast", "cos", "cross_entropy", "exp", "flatten", "greater",
    "hard_threshold", "identity", "layer_norm", "leaky_relu", "linear", "log", "log_softmax", "matmul", "one_hot",
    "reduce_max", "reduce_mean", "reduce_sum", "relu", "reshape", "sigmoid", "sin", "softmax",
    "softmax_cross_entropy", "softplus", "sqrt", "square", "squared_error", "tanh", "transpose", "where",
]
