"""Every op's NumPy kernel against a straightforward NumPy formula, and the numerically
stable kernels at logits of ±1000.

Each case runs a one-node graph through the interpreter, so the kernel's result is also
checked against the op's type rule (dtype and shape). Adding an op: add an entry to ``REF``
(op name -> list of ``(inputs, attrs, reference)``); ``test_every_op_has_a_kernel_check``
fails otherwise. An op whose kernel is checked in another file is listed in ``ELSEWHERE``.
"""
import math

import numpy as np
import pytest

from chainrule.ir import OPS, DType, Emitter, Graph, TensorType
from chainrule.runtime import Interpreter

R = np.random.default_rng(0)


def n(*s, dt=np.float32):
    return R.standard_normal(s).astype(dt)


def p(*s, dt=np.float32):
    return R.uniform(0.5, 2.0, s).astype(dt)


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _ce_rows(per_elem, reduction):
    per_ex = per_elem.reshape(len(per_elem), -1).sum(axis=1)
    return {"mean": per_ex.mean(), "sum": per_ex.sum(), "none": per_ex}[reduction]


_A34, _B34, _B4, _P34 = n(3, 4), n(3, 4), n(4), p(3, 4)
_Y = _softmax(n(5, 3))
_T = np.eye(3, dtype=np.float32)[[0, 2, 1, 1, 0]]
_U = R.uniform(0.1, 0.9, (5, 1)).astype(np.float32)
_I = np.array([[0, 2], [1, 1]], np.int64)
_INTS = np.array([-7, 7, -3, 3, 0], np.int64)
_HALVES = np.array([-2.5, -1.5, -0.7, -0.5, 0.0, 0.5, 1.5, 2.5], np.float32)
_SELU_A, _SELU_G = 1.67326319217681884765625, 1.05070102214813232421875

REF = {
    "Add": [((_A34, _B4), {}, lambda a, b: a + b)],
    "Sub": [((_A34, _B34), {}, lambda a, b: a - b)],
    "Mul": [((_A34, n(3, 1)), {}, lambda a, b: a * b)],
    "Div": [((_A34, _P34), {}, lambda a, b: a / b),
            ((np.array([-7, 7, 6], np.int64), np.array([2, 2, -4], np.int64)), {},
             lambda a, b: np.array([-3, 3, -1]))],  # integer division truncates toward zero (ONNX)
    "Pow": [((_P34, _B4), {}, lambda a, b: np.exp(b * np.log(a)))],
    "Neg": [((_A34,), {}, lambda x: 0 - x), ((np.array([1, -2], np.int64),), {}, lambda x: 0 - x)],
    "Identity": [((_A34,), {}, lambda x: x)],
    "Exp": [((_A34,), {}, lambda x: np.e ** x.astype(np.float64))],
    "Log": [((_P34,), {}, lambda x: np.log(x.astype(np.float64)))],
    "Sqrt": [((_P34,), {}, lambda x: x.astype(np.float64) ** 0.5)],
    "Square": [((_A34,), {}, lambda x: x * x)],
    "Sin": [((_A34,), {}, lambda x: np.sin(x.astype(np.float64)))],
    "Cos": [((_A34,), {}, lambda x: np.cos(x.astype(np.float64)))],
    "Sum": [((_A34,), {}, lambda a: a), ((_A34, _B4, n(3, 1)), {}, lambda a, b, c: a + b + c),
            ((n(), n()), {}, lambda a, b: a + b),
            ((n(3), n(3), n(2, 3)), {}, lambda a, b, c: a + b + c)],  # a later term broadcasts the total
    "Greater": [((_A34, _B34), {}, lambda a, b: a > b)],
    "Equal": [((np.array([1, 2, 3], np.int64), np.array([1, 0, 3], np.int64)), {}, lambda a, b: a == b)],
    "Where": [((_A34 > 0, _A34, _B4), {}, lambda c, a, b: np.array([[a[i, j] if c[i, j] else b[j]
                                                                     for j in range(4)] for i in range(3)]))],
    "Cast": [((np.array([1.7, -1.7, 0.2], np.float32),), {"to": DType.i32}, lambda x: np.array([1, -1, 0])),
             ((np.array([1, 0, 3], np.int64),), {"to": DType.bool}, lambda x: np.array([True, False, True])),
             ((_A34,), {"to": DType.f64}, lambda x: x)],
    "Relu": [((_A34,), {}, lambda z: z * (z > 0))],
    "LeakyRelu": [((_A34,), {"alpha": 0.1}, lambda z: np.where(z > 0, z, 0.1 * z))],
    "Softplus": [((_A34,), {}, lambda z: np.log(1 + np.exp(z.astype(np.float64))))],
    "HardThreshold": [((_A34,), {}, lambda z: (z > 0) * 1.0)],
    "Sigmoid": [((_A34,), {}, lambda z: 1 / (1 + np.exp(-z.astype(np.float64))))],
    "Tanh": [((_A34,), {}, lambda z: (np.exp(2.0 * z) - 1) / (np.exp(2.0 * z) + 1))],
    "Softmax": [((_A34,), {}, lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)),
                ((_A34,), {"axis": 0}, lambda z: np.exp(z) / np.exp(z).sum(axis=0, keepdims=True))],
    "LogSoftmax": [((_A34,), {}, lambda z: z - np.log(np.exp(z).sum(axis=1, keepdims=True)))],
    "ReduceSum": [((_A34,), {}, lambda x: np.array([[x.sum()]])),
                  ((_A34,), {"axes": (1,), "keepdims": 0}, lambda x: np.array([r.sum() for r in x])),
                  ((np.array([[1, 2], [3, -4]], np.int32),), {"axes": (1,), "keepdims": 0},
                   lambda x: np.array([3, -1]))],  # stays i32 (np.sum would give the platform int)
    "ReduceMean": [((_A34,), {"axes": (0,)}, lambda x: (x[0] + x[1] + x[2])[None] / 3),
                   ((_A34,), {"axes": None, "keepdims": 0}, lambda x: np.array(x.sum() / 12))],
    "ReduceMax": [((_A34,), {"axes": (1,), "keepdims": 0}, lambda x: np.array([max(r) for r in x])),
                  ((n(2, 3, 4),), {"axes": (0, 2)}, lambda x: x.max(axis=(0, 2), keepdims=True))],
    "ArgMax": [((_A34,), {"axis": 1, "keepdims": 0}, lambda x: np.array([list(r).index(max(r)) for r in x])),
               ((_A34,), {}, lambda x: np.array([[list(c).index(max(c)) for c in x.T]]))],
    "Count": [((n(2, 3, 4),), {"axes": (0, 2)}, lambda x: np.array(8.0)), ((_A34,), {}, lambda x: np.array(12.0))],
    "MatMul": [((_A34, n(4, 5)), {}, lambda a, b: np.einsum("ik,kj->ij", a, b)),
               ((n(2, 3, 4), n(4, 2)), {}, lambda a, b: np.einsum("bik,kj->bij", a, b)),
               ((_B4, n(4, 2)), {}, lambda a, b: np.einsum("k,kj->j", a, b))],
    "Gemm": [((_A34, n(5, 4), n(5)), {"transB": 1}, lambda a, b, c: np.einsum("ik,jk->ij", a, b) + c),
             ((n(4, 3), n(4, 5), n(3, 1)), {"transA": 1, "alpha": 2.0, "beta": 0.5},
              lambda a, b, c: 2 * np.einsum("ki,kj->ij", a, b) + 0.5 * c),
             ((_A34, n(4, 5)), {}, lambda a, b: np.einsum("ik,kj->ij", a, b))],
    "Transpose": [((_A34,), {}, lambda x: np.array([[x[i, j] for i in range(3)] for j in range(4)])),
                  ((n(2, 3, 4),), {"perm": (1, 2, 0)}, lambda x: np.einsum("abc->bca", x))],
    "Reshape": [((n(2, 3, 4),), {"shape": (6, -1)}, lambda x: x.reshape(6, 4)),
                ((n(2, 3, 4),), {"shape": (0, 12)}, lambda x: x.reshape(2, 12))],
    "Flatten": [((n(2, 3, 4),), {}, lambda x: x.reshape(2, 12)), ((n(2, 3, 4),), {"axis": 0}, lambda x: x.reshape(1, 24))],
    "Unsqueeze": [((_A34,), {"axes": (0, 3)}, lambda x: x.reshape(1, 3, 4, 1))],
    "Squeeze": [((n(3, 1, 4, 1),), {}, lambda x: x.reshape(3, 4)), ((n(3, 1, 4, 1),), {"axes": (1,)}, lambda x: x.reshape(3, 4, 1))],
    "ExpandLike": [((n(3, 1), n(2, 3, 4)), {}, lambda x, like: x + np.zeros((2, 3, 4), x.dtype))],
    "OneHot": [((_I,), {"depth": 3}, lambda x: np.array([[[float(k == v) for k in range(3)] for v in r] for r in x])),
               ((np.array([1, 0], np.int32),), {"depth": 2, "dtype": DType.f64}, lambda x: np.array([[0, 1], [1, 0]]))],
    "Constant": [((), {"value": np.array([[1.5, 2.5]], np.float32)}, lambda: np.array([[1.5, 2.5]]))],
    "CrossEntropy": [((_Y, _T), {}, lambda y, t: _ce_rows(-t * np.log(y), "mean")),
                     ((_Y, _T), {"reduction": "none"}, lambda y, t: _ce_rows(-t * np.log(y), "none"))],
    "SquaredError": [((_Y, _T), {}, lambda y, t: _ce_rows(0.5 * (y - t) ** 2, "mean")),
                     ((_Y, _T), {"reduction": "sum"}, lambda y, t: 0.5 * ((y - t) ** 2).sum())],
    "BinaryCrossEntropy": [((_U, (_U > 0.5).astype(np.float32)), {},
                            lambda y, t: _ce_rows(-t * np.log(y) - (1 - t) * np.log(1 - y), "mean"))],
    "SoftmaxCrossEntropy": [((n(5, 3), _T), {"reduction": "sum"},
                             lambda z, t: _ce_rows(-t * np.log(_softmax(z.astype(np.float64))), "sum"))],
    "Gather": [((_A34, _I), {"axis": 1}, lambda x, i: np.array([[[x[r, k] for k in row] for row in i] for r in range(3)])),
               ((_A34, np.array([2, -1], np.int64)), {}, lambda x, i: np.stack([x[2], x[-1]]))],
    "ScatterAddLike": [((n(3, 2, 2), _I, _A34), {"axis": 1},
                        lambda g, i, like: np.stack([np.array([sum(g[r][a][b] for a in range(2) for b in range(2)
                                                                   if i[a][b] == k) for k in range(4)])
                                                     for r in range(3)])),
                       ((n(2, 4), np.array([0, -3], np.int64), _A34), {},  # -3 is row 0: both land there
                        lambda g, i, like: np.stack([g[0] + g[1], np.zeros(4), np.zeros(4)]))],
    "Pad": [((_A34,), {"pads": (1, 0, 0, 2), "value": -1.0},
             lambda x: np.block([[np.full((1, 4), -1.0), np.full((1, 2), -1.0)], [x, np.full((3, 2), -1.0)]])),
            ((_A34,), {"pads": (-1, 1, 0, -2)}, lambda x: np.hstack([np.zeros((2, 1)), x[1:, :2]]))],
    "Concat": [((n(2, 3), n(2, 1)), {"axis": 1}, lambda a, b: np.hstack([a, b])),
               ((n(2, 3), n(1, 3), n(2, 3)), {"axis": 0}, lambda a, b, c: np.vstack([a, b, c]))],
    # the elementwise ops and activations ONNX models use
    "Erf": [((_A34,), {}, lambda x: np.vectorize(math.erf)(x.astype(np.float64))),
            ((n(5, dt=np.float64) * 3,), {}, lambda x: np.vectorize(math.erf)(x))],
    "Abs": [((_A34,), {}, lambda x: np.where(x < 0, -x, x)), ((_INTS,), {}, lambda x: np.array([7, 7, 3, 3, 0]))],
    "Reciprocal": [((_P34,), {}, lambda x: 1 / x.astype(np.float64))],
    "Elu": [((_A34,), {"alpha": 0.5}, lambda z: np.where(z >= 0, z, 0.5 * (np.exp(z.astype(np.float64)) - 1)))],
    "Selu": [((_A34,), {}, lambda z: _SELU_G * np.where(z > 0, z, _SELU_A * (np.exp(z.astype(np.float64)) - 1)))],
    "Celu": [((_A34,), {"alpha": 2.0}, lambda z: np.maximum(0, z) + np.minimum(0, 2 * (np.exp(z / 2.0) - 1)))],
    "Gelu": [((_A34,), {}, lambda z: z * (1 + np.vectorize(math.erf)(z.astype(np.float64) / math.sqrt(2))) / 2),
             ((_A34,), {"approximate": "tanh"},
              lambda z: z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z.astype(np.float64) ** 3))) / 2)],
    "Mish": [((_A34,), {}, lambda z: z * np.tanh(np.log(1 + np.exp(z.astype(np.float64)))))],
    "HardSigmoid": [((_A34 * 4,), {}, lambda z: np.minimum(1, np.maximum(0, 0.2 * z + 0.5))),
                    ((_A34,), {"alpha": 0.5, "beta": 0.25}, lambda z: np.minimum(1, np.maximum(0, 0.5 * z + 0.25)))],
    "HardSwish": [((_A34 * 4,), {}, lambda z: z * np.minimum(1, np.maximum(0, z / 6 + 0.5)))],
    "Softsign": [((_A34,), {}, lambda z: z / (1 + np.abs(z)))],
    "PRelu": [((_A34, _B4), {}, lambda x, s: np.where(x > 0, x, x * s)),
              ((n(2, 3, 4), n(3, 1)), {}, lambda x, s: np.where(x > 0, x, x * s))],
    "Max": [((_A34, _B4, n(3, 1)), {}, lambda a, b, c: np.max(np.broadcast_arrays(a, b, c), axis=0)),
            ((_INTS, _INTS[::-1]), {}, lambda a, b: np.array([0, 7, -3, 7, 0])), ((_B4,), {}, lambda a: a)],
    "Min": [((_A34, _B4), {}, lambda a, b: np.min(np.broadcast_arrays(a, b), axis=0)),
            ((n(), n()), {}, lambda a, b: np.min([a, b]))],
    "Clip": [((_A34, np.array(-0.5, np.float32), np.array(0.5, np.float32)), {},
              lambda x, lo, hi: np.array([[sorted([-0.5, v, 0.5])[1] for v in r] for r in x])),
             ((_A34, np.array(1.0, np.float32), np.array(-1.0, np.float32)), {},  # lo > hi: hi (ONNX)
              lambda x, lo, hi: np.full((3, 4), -1.0)),
             ((_INTS, np.array(-3, np.int64), np.array(np.iinfo(np.int64).max)), {},
              lambda x, lo, hi: np.array([-3, 7, -3, 3, 0]))],
    "Less": [((_INTS, _INTS[::-1]), {}, lambda a, b: np.array([True, False, False, True, False]))],
    "LessOrEqual": [((_INTS, _INTS[::-1]), {}, lambda a, b: np.array([True, False, True, True, False]))],
    "GreaterOrEqual": [((_A34, _B4), {}, lambda a, b: ~(a < b))],
    "And": [((_A34 > 0, _B4 > 0), {}, lambda a, b: a * b > 0)],
    "Or": [((_A34 > 0, _B4 > 0), {}, lambda a, b: a + b > 0)],
    "Xor": [((_A34 > 0, _B4 > 0), {}, lambda a, b: a != b)],
    "Not": [((_A34 > 0,), {}, lambda a: a == 0)],
    "Floor": [((_HALVES,), {}, lambda x: np.array([-3, -2, -1, -1, 0, 0, 1, 2]))],
    "Ceil": [((_HALVES,), {}, lambda x: np.array([-2, -1, -0.0, -0.0, 0, 1, 2, 3]))],
    "Round": [((_HALVES,), {}, lambda x: np.array([-2, -2, -1, -0.0, 0, 0, 2, 2]))],  # half to even
    "Sign": [((_HALVES,), {}, lambda x: np.array([-1, -1, -1, -1, 0, 1, 1, 1])),
             ((_INTS,), {}, lambda x: np.array([-1, 1, -1, 1, 0]))],
    "Mod": [((_INTS, np.array([3, -3, -2, 2, 5], np.int64)), {}, lambda a, b: np.array([2, -2, -1, 1, 0])),
            ((_INTS, np.array([3, -3, -2, 2, 5], np.int64)), {"fmod": 1}, lambda a, b: np.array([-1, 1, -1, 1, 0])),
            ((np.array([-7.5, 7.5, 0.0], np.float32), np.array([2.0, -2.0, -2.0], np.float32)), {},
             lambda a, b: np.array([0.5, -0.5, -0.0])),  # a zero result takes b's sign
            ((np.array([-7.5, 7.5], np.float32), np.array([2.0, -2.0], np.float32)), {"fmod": 1},
             lambda a, b: np.array([-1.5, 1.5]))],
    # the shape, reduction and normalisation ops of ONNX breadth
    "ReduceMin": [((_A34,), {"axes": (1,), "keepdims": 0}, lambda x: np.array([min(r) for r in x])),
                  ((np.zeros((2, 0, 3), np.float32),), {"axes": (1,)}, lambda x: np.full((2, 1, 3), np.inf)),
                  ((np.array([[3, -2], [7, 5]], np.int32),), {"axes": None, "keepdims": 0}, lambda x: np.array(-2))],
    "ReduceProd": [((_A34,), {"axes": (0,), "keepdims": 0}, lambda x: x[0] * x[1] * x[2]),
                   ((np.zeros((0, 2), np.float32),), {"axes": (0,)}, lambda x: np.ones((1, 2)))],
    "ReduceL1": [((_A34,), {"axes": (1,)}, lambda x: np.array([[sum(abs(v) for v in r)] for r in x]))],
    "ReduceL2": [((_A34,), {"axes": (1,), "keepdims": 0}, lambda x: np.array([sum(v * v for v in r) ** 0.5 for r in x]))],
    "ReduceSumSquare": [((_A34,), {}, lambda x: np.array([[sum(v * v for v in x.ravel())]]))],
    "ReduceLogSumExp": [((_A34,), {"axes": (1,), "keepdims": 0},
                         lambda x: np.log(np.exp(x.astype(np.float64)).sum(axis=1))),
                        ((np.array([[1000.0, 0.0], [-np.inf, -np.inf]], np.float32),), {"axes": (1,), "keepdims": 0},
                         lambda x: np.array([1000.0, -np.inf]))],  # no overflow, and log Σ of nothing is −∞
    "LayerNormalization": [((n(2, 3, 4), n(3, 4), n(4)), {"axis": 1},
                            lambda x, w, b: _layer_norm_ref(x, (1, 2), w, b)),
                           ((n(3, 5), n(1)), {"epsilon": 0.5}, lambda x, w: _layer_norm_ref(x, (1,), w, 0, 0.5))],
    "Split": [((n(5, 2),), {"split": (2, 0, 3)}, lambda x: (x[:2], x[2:2], x[2:])),
              ((_A34,), {"axis": 1, "split": (4,)}, lambda x: x)],
    "Tile": [((n(2, 3),), {"repeats": (2, 3)}, lambda x: x[[0, 1, 0, 1]][:, [0, 1, 2] * 3]),
             ((n(2, 3),), {"repeats": (0, 1)}, lambda x: np.zeros((0, 3)))],
    "Trilu": [((n(3, 4),), {}, lambda x: np.array([[x[i, j] if j - i >= 0 else 0 for j in range(4)] for i in range(3)])),
              ((n(2, 3, 4),), {"upper": 0, "k": -1},
               lambda x: np.array([[[m[i, j] if j - i <= -1 else 0 for j in range(4)] for i in range(3)] for m in x]))],
    "PadGrad": [((n(7),), {"pads": (2, 1), "mode": mode}, lambda g, mode=mode: _pad_adjoint_ref(g, 2, 1, mode))
                for mode in ("edge", "reflect", "wrap")],
    "ConstantOfShape": [((), {"shape": (2, 3), "value": 7, "dtype": DType.i32}, lambda: np.array([[7, 7, 7]] * 2)),
                        ((), {"shape": (0,)}, lambda: np.zeros(0))],
    "Range": [((), {"start": 1, "limit": 10, "delta": 3}, lambda: np.array([1, 4, 7])),
              ((), {"start": 10, "limit": 4, "delta": -3, "dtype": DType.i32}, lambda: np.array([10, 7])),
              ((), {"start": 0.5, "limit": 2.0, "delta": 0.5, "dtype": DType.f32}, lambda: np.array([0.5, 1.0, 1.5])),
              ((), {"start": 5, "limit": 1}, lambda: np.zeros(0))],
}
REF["Pad"] += [((n(4),), {"pads": (2, 3), "mode": "reflect"}, lambda x: x[[2, 1, 0, 1, 2, 3, 2, 1, 0]]),
               ((n(4),), {"pads": (-1, 2), "mode": "edge"}, lambda x: x[[1, 2, 3, 3, 3]]),  # crop, then pad
               ((n(2, 3),), {"pads": (1, 2, 0, 1), "mode": "wrap"}, lambda x: x[[1, 0, 1]][:, [1, 2, 0, 1, 2, 0]])]


def _layer_norm_ref(x, axes, w, b, eps=1e-5):
    """(γ x̂ + β, μ, 1/σ) by the textbook formula, in float64."""
    x = x.astype(np.float64)
    mu = x.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    return (x - mu) * inv * w + b, mu, inv


def _pad_adjoint_ref(g, begin, end, mode):
    """x̄[i] = Σ of g[j] over the positions j that Pad copied from x[i], the source found by hand."""
    n = len(g) - begin - end
    out = np.zeros(n)
    for j in range(len(g)):
        t = j - begin
        src = {"edge": min(max(t, 0), n - 1), "wrap": t % n,
               "reflect": (t % (2 * n - 2)) if (t % (2 * n - 2)) < n else 2 * n - 2 - t % (2 * n - 2)}[mode]
        out[src] += g[j]
    return out

#: Ops whose kernels are checked in another test file.
ELSEWHERE = {"Fused": "test_fusion_elementwise.py (a Fused body runs the kernels checked here)",
             **{op: "test_cnn_kernels.py (naive loop references)" for op in (
                 "Conv", "ConvTranspose", "ConvFilterGrad", "MaxPool", "MaxPoolGrad", "AveragePool",
                 "AveragePoolGrad", "GlobalAveragePool", "BatchNormalization", "BatchNormTraining", "DropoutMask")}}


def test_every_op_has_a_kernel_check():
    missing = [name for name in OPS if name not in REF and name not in ELSEWHERE]
    assert not missing, f"add a NumPy reference for these ops to REF in tests/test_kernels.py: {missing}"
    assert not [name for name in REF if name not in OPS]


def _run(opname, arrays, attrs):
    """The result's type and value; for an op with several results, tuples of them."""
    g = Graph(f"k_{opname}")
    xs = [g.add_input(f"x{i}", TensorType(a.shape, DType.of(a.dtype))) for i, a in enumerate(arrays)]
    y = Emitter(g)(opname, *xs, **attrs)
    ys = y if isinstance(y, tuple) else (y,)
    g.set_outputs(list(ys))
    got = Interpreter(g).run_list(list(arrays))
    return (y.type, got[0]) if len(ys) == 1 else (tuple(v.type for v in ys), tuple(got))


CASE_IDS = [(name, k) for name in REF for k in range(len(REF[name]))]


@pytest.mark.parametrize("opname,k", CASE_IDS, ids=[f"{a}-{k}" for a, k in CASE_IDS])
def test_kernel_matches_numpy_formula(opname, k):
    arrays, attrs, ref = REF[opname][k]
    t, got = _run(opname, arrays, attrs)
    many = isinstance(t, tuple)  # an op with several results: the reference gives a tuple too
    wants = ref(*arrays)
    for t, got, want in zip(t if many else (t,), got if many else (got,), wants if many else (wants,)):
        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == t.dtype.numpy, f"{opname}: kernel gives {got.dtype}, type rule says {t}"
        assert got.shape == t.shape, f"{opname}: kernel gives shape {got.shape}, type rule says {t}"
        if got.dtype.kind == "f":
            tol = 1e-6 if got.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got, want, rtol=tol * 4, atol=tol)
        else:
            np.testing.assert_array_equal(got, want)


BIG = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, 1000.0]])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("opname,want", [
    ("Softmax", np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])),
    ("LogSoftmax", np.array([[0.0, -1000.0, -2000.0], [-2000.0, -2000.0, 0.0]])),
    ("Sigmoid", np.array([[1.0, 0.5, 0.0], [0.0, 0.0, 1.0]])),
    ("Softplus", np.array([[1000.0, np.log(2.0), 0.0], [0.0, 0.0, 1000.0]])),
])
def test_stable_at_logits_of_1000(opname, want, dt):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        _, got = _run(opname, (BIG.astype(dt),), {})
    assert np.all(np.isfinite(got)), f"{opname} overflowed: {got}"
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_softmax_cross_entropy_stable_at_logits_of_1000(dt):
    t = np.array([[0, 0, 1], [1, 0, 0]], dt)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        _, got = _run("SoftmaxCrossEntropy", (BIG.astype(dt), t), {"reduction": "none"})
    np.testing.assert_allclose(got, [2000.0, 2000.0], rtol=1e-6)


def test_one_hot_index_out_of_range_is_an_error():
    from chainrule.ir import ExecutionError
    with pytest.raises(ExecutionError, match=r"class index 3 is outside 0..2"):
        _run("OneHot", (np.array([0, 3], np.int64),), {"depth": 3})


HUGE = np.array([1e30, 1000.0, 0.0, -1000.0, -1e30])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("opname,attrs,want", [
    ("Elu", {}, [1e30, 1000.0, 0.0, -1.0, -1.0]),
    ("Selu", {}, [_SELU_G * 1e30, _SELU_G * 1000, 0.0, -_SELU_G * _SELU_A, -_SELU_G * _SELU_A]),
    ("Celu", {"alpha": 2.0}, [1e30, 1000.0, 0.0, -2.0, -2.0]),
    ("Gelu", {}, [1e30, 1000.0, 0.0, 0.0, 0.0]),
    ("Gelu", {"approximate": "tanh"}, [1e30, 1000.0, 0.0, 0.0, 0.0]),  # z³ would overflow: clipped first
    ("Mish", {}, [1e30, 1000.0, 0.0, 0.0, 0.0]),
    ("Softsign", {}, [1.0, 1000 / 1001, 0.0, -1000 / 1001, -1.0]),
    ("HardSwish", {}, [1e30, 1000.0, 0.0, 0.0, 0.0]),
    ("HardSigmoid", {}, [1.0, 1.0, 0.5, 0.0, 0.0]),
    ("Erf", {}, [1.0, 1.0, 0.0, -1.0, -1.0]),
])
def test_onnx_activations_are_stable_at_huge_inputs(opname, attrs, want, dt):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        _, got = _run(opname, (HUGE.astype(dt),), attrs)
    assert np.all(np.isfinite(got)), f"{opname} gave {got}"
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-30)
