"""The ``ai.onnx.ml`` domain (what scikit-learn models exported by skl2onnx use), imported as
exact compositions of chainrule IR ops: LinearClassifier, LinearRegressor, Normalizer, Scaler,
ArrayFeatureExtractor, Binarizer and ZipMap. Nothing here is exported back as ``ai.onnx.ml``:
an imported model exports as the default-domain ops it became, which any ONNX runtime runs.

Where onnxruntime and the ONNX reference implementation disagree, this follows onnxruntime
(the runtime the producers test against), and what neither defines well is refused:

    LinearClassifier  s = X Wᵀ + b (W: K rows of coefficients, b: the intercepts)
                      label = labels[argmax s]; probabilities = post_transform(s)
                      one row (K = 1) and two labels: label = labels[s > 0], probabilities
                      [1 − s, s] (NONE) or [σ(−s), σ(s)] (LOGISTIC)
    LinearRegressor   y = post_transform(X Wᵀ + b)
    Normalizer        y = x / m per row, m = max x (MAX), Σ|x| (L1), √Σx² (L2); a row with m = 0 is kept
    Scaler            y = (x − offset) · scale
    Binarizer         y = 1 where x > threshold, else 0 (threshold defaults to 0.0, as in the spec)
    ArrayFeatureExtractor  y = x[..., indices] (a vector x gives one row)
    ZipMap            y = x: the (N, K) probability matrix under the output's name

post_transform: NONE, LOGISTIC (σ), SOFTMAX, SOFTMAX_ZERO (a softmax that leaves entries with
|s| ≤ 1e-7 out of the sum), PROBIT (√2·erf⁻¹(2p − 1), in onnxruntime's approximation).

A classifier's weights (``coefficients``, ``intercepts``) are attributes in ONNX; they become
trainable parameters named ``<node>.coefficients`` and ``<node>.intercepts``, so the model can be
fine-tuned. Constant offsets, scales and thresholds become IR constants.

chainrule has no string dtype. A tensor of class labels that are strings (``classlabels_strings``,
a string initializer read by ArrayFeatureExtractor) is carried as the class *indices* (i64); the
importer records the strings in the graph's metadata as ``labels.<output>`` when such a tensor is
a graph output, and only the ops of ``KEEP_LABELS`` may move it on the way there. ZipMap records
its labels (ints or strings) as ``classes.<output>``. ``chainrule run`` writes the strings back.
"""
from __future__ import annotations

import numpy as np

from ....ir import DType
from .table import onnx_op

ML = "ai.onnx.ml"
#: Default-domain ops that only move a tensor of class indices standing for string labels.
KEEP_LABELS = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze")
TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT")


# -- shared pieces ---------------------------------------------------------------------------------
def _c(ctx, value):
    """A float32 scalar constant."""
    return ctx.constant(np.float32(value))


def _as_float(ctx, X, what="X", max_rank=2):
    """Input ``X`` as f32 (ONNX casts float64 and integers to float for these ops), rank 1..max_rank."""
    x = ctx.v(X)
    if x.dtype not in (DType.f32, DType.f64, DType.i32, DType.i64):
        ctx.fail(f"input {what} must be float, double, int32 or int64, got {x.type}")
    if not 1 <= x.type.rank <= max_rank:
        ctx.unsupported(f"input {what} of rank {x.type.rank} ({x.type}); it must have rank 1 to {max_rank}")
    return x if x.dtype == DType.f32 else ctx.op("Cast", x, to=DType.f32)


def _features(ctx, x):
    c = x.type.shape[-1]
    if not isinstance(c, int):
        ctx.unsupported(f"a symbolic number of features ({x.type}); the weights fix it")
    return c


def _rows(ctx, x):
    """``x`` as a matrix: a vector is one row (as onnxruntime reads it)."""
    return ctx.op("Reshape", x, shape=(1, -1)) if x.type.rank == 1 else x


def _label_list(ctx, ints, strings, ints_name):
    """The class labels: exactly one of the attributes ``ints_name`` and ``classlabels_strings``."""
    if (ints is None) == (strings is None):
        ctx.fail(f"needs exactly one of {ints_name} and classlabels_strings")
    labels = [int(v) for v in ints] if ints is not None else [str(v) for v in strings]
    if not labels:
        ctx.fail(f"{ints_name if ints is not None else 'classlabels_strings'} is empty")
    return labels


def _pick_labels(ctx, labels, index, out):
    """The label output from the class ``index`` (i64): the int labels themselves, or for string
    labels the index, with the strings recorded for output ``out``."""
    if isinstance(labels[0], str):
        ctx.labels(out, labels)
        return index
    return ctx.op("Gather", ctx.constant(np.asarray(labels, np.int64)), index, axis=0)


def _linear(ctx, x, coefficients, intercepts, rows, what):
    """s = x Wᵀ + b with W (rows × features) and b trainable parameters."""
    c = _features(ctx, x)
    coef = np.asarray(coefficients if coefficients is not None else [], np.float32)
    if coef.size == 0 or coef.size % c or (rows is not None and coef.size != rows * c):
        want = f"{rows} × {c}" if rows is not None else f"a multiple of the {c} features"
        ctx.fail(f"coefficients has {coef.size} values; it needs {want}")
    k = coef.size // c
    w = ctx.param(f"{what}.coefficients", coef.reshape(k, c))
    if intercepts is None:
        return ctx.op("Gemm", x, w, transB=1), k
    b = np.asarray(intercepts, np.float32)
    if b.size != k:
        ctx.fail(f"intercepts has {b.size} values, one per row of coefficients ({k}) needed")
    return ctx.op("Gemm", x, w, ctx.param(f"{what}.intercepts", b), transB=1), k


def _softmax_zero(ctx, s):
    """Softmax whose sum leaves out the entries with |s| ≤ 1e-7 (they become s·e^(−max))."""
    m = ctx.op("ReduceMax", s, axes=(1,), keepdims=1)
    keep = ctx.op("Greater", ctx.op("Abs", s), _c(ctx, 1e-7))
    e = ctx.op("Where", keep, ctx.op("Exp", ctx.op("Sub", s, m)), ctx.op("Mul", s, ctx.op("Exp", ctx.op("Neg", m))))
    total = ctx.op("ReduceSum", ctx.op("Where", keep, e, _c(ctx, 0)), axes=(1,), keepdims=1)
    return ctx.op("Div", e, total)


def _probit(ctx, p):
    """√2·erf⁻¹(2p − 1) with onnxruntime's erf⁻¹ (Winitzki's approximation, a = 0.147):
    erf⁻¹(x) ≈ sgn(x)·√(√(v² − ln(1 − x²)/a) − v), v = 2/(πa) + ln(1 − x²)/2. Its gradient is
    NaN at exactly p = 0.5, where the outer √ is of 0."""
    x = ctx.op("Sub", ctx.op("Mul", _c(ctx, 2), p), _c(ctx, 1))
    sgn = ctx.op("Where", ctx.op("Greater", _c(ctx, 0), x), _c(ctx, -1), _c(ctx, 1))
    log = ctx.op("Log", ctx.op("Mul", ctx.op("Sub", _c(ctx, 1), x), ctx.op("Add", _c(ctx, 1), x)))
    a = np.float32(0.147)
    v = ctx.op("Add", _c(ctx, np.float32(2) / (np.float32(3.14159) * a)), ctx.op("Mul", _c(ctx, 0.5), log))
    root = ctx.op("Sqrt", ctx.op("Sub", ctx.op("Mul", v, v), ctx.op("Mul", _c(ctx, np.float32(1) / a), log)))
    return ctx.op("Mul", _c(ctx, 1.41421356), ctx.op("Mul", sgn, ctx.op("Sqrt", ctx.op("Sub", root, v))))


def _transform(ctx, s, post_transform):
    """post_transform applied to scores ``s`` (N × K, K ≥ 2, or any K for PROBIT)."""
    if post_transform == "NONE":
        return s
    if post_transform == "LOGISTIC":
        return ctx.op("Sigmoid", s)
    if post_transform == "SOFTMAX":
        return ctx.op("Softmax", s, axis=1)
    if post_transform == "SOFTMAX_ZERO":
        return _softmax_zero(ctx, s)
    return _probit(ctx, s)


def _check_transform(ctx, post_transform):
    if post_transform not in TRANSFORMS:
        ctx.fail(f"post_transform {post_transform!r} is not one of {', '.join(TRANSFORMS)}")


# -- the ops -----------------------------------------------------------------------------------------
@onnx_op(domain=ML)
def LinearClassifier(ctx, X, *, coefficients=None, intercepts=None, classlabels_ints=None,
                     classlabels_strings=None, multi_class=0, post_transform="NONE"):
    _check_transform(ctx, post_transform)
    labels = _label_list(ctx, classlabels_ints, classlabels_strings, "classlabels_ints")
    x = _rows(ctx, _as_float(ctx, X))
    rows = None if intercepts is None else len(intercepts)
    s, k = _linear(ctx, x, coefficients, intercepts, rows, ctx.node.name or "LinearClassifier")
    out = ctx.node.output[0]
    if k == 1:  # one score: the second class is its opposite (multi_class plays no part, as in onnxruntime)
        if len(labels) != 2:
            ctx.fail(f"one row of coefficients is a binary classifier and needs 2 class labels, got {len(labels)}")
        if post_transform not in ("NONE", "LOGISTIC"):
            ctx.unsupported(f"post_transform {post_transform} of a one-row binary classifier (onnxruntime leaves "
                            f"its scores untransformed)")
        positive = ctx.op("Cast", ctx.op("Reshape", ctx.op("Greater", s, _c(ctx, 0)), shape=(-1,)), to=DType.i64)
        if post_transform == "NONE":
            pair = [ctx.op("Sub", _c(ctx, 1), s), s]
        else:
            pair = [ctx.op("Sigmoid", ctx.op("Neg", s)), ctx.op("Sigmoid", s)]
        return _pick_labels(ctx, labels, positive, out), ctx.op("Concat", *pair, axis=1)
    if len(labels) != k:
        ctx.fail(f"{k} rows of coefficients (classes) but {len(labels)} class labels")
    best = ctx.op("ArgMax", s, axis=1, keepdims=0)  # the label is read from the raw scores
    return _pick_labels(ctx, labels, best, out), _transform(ctx, s, post_transform)


@onnx_op(domain=ML)
def LinearRegressor(ctx, X, *, coefficients=None, intercepts=None, targets=1, post_transform="NONE"):
    _check_transform(ctx, post_transform)
    if targets < 1:
        ctx.fail(f"targets must be at least 1, got {targets}")
    if targets == 1 and post_transform not in ("NONE", "PROBIT"):
        ctx.unsupported(f"post_transform {post_transform} with one target (onnxruntime leaves it untransformed)")
    x = _rows(ctx, _as_float(ctx, X))
    s, _ = _linear(ctx, x, coefficients, intercepts, int(targets), ctx.node.name or "LinearRegressor")
    return _transform(ctx, s, post_transform)


@onnx_op(domain=ML)
def Normalizer(ctx, X, *, norm="MAX"):
    if norm not in ("MAX", "L1", "L2"):
        ctx.fail(f"norm {norm!r} is not one of MAX, L1, L2")
    x = _as_float(ctx, X)
    last = x.type.rank - 1
    if norm == "MAX":
        m = ctx.op("ReduceMax", x, axes=(last,), keepdims=1)
    elif norm == "L1":
        m = ctx.op("ReduceSum", ctx.op("Abs", x), axes=(last,), keepdims=1)
    else:
        m = ctx.op("ReduceSum", ctx.op("Square", x), axes=(last,), keepdims=1)
    one = _c(ctx, 1)
    d = ctx.op("Where", ctx.op("Equal", m, _c(ctx, 0)), one, m)  # a row with m = 0 is divided by 1
    return ctx.op("Div", x, ctx.op("Sqrt", d) if norm == "L2" else d)


@onnx_op(domain=ML)
def Scaler(ctx, X, *, offset=None, scale=None):
    x = _as_float(ctx, X)
    c = _features(ctx, x)
    for name, vals in (("offset", offset), ("scale", scale)):
        if vals is not None and len(vals) not in (1, c):
            ctx.fail(f"{name} has {len(vals)} values; it needs 1 or one per feature ({c})")
    if offset is not None:
        x = ctx.op("Sub", x, ctx.constant(np.asarray(offset, np.float32)))
    if scale is not None:
        x = ctx.op("Mul", x, ctx.constant(np.asarray(scale, np.float32)))
    return x


@onnx_op(domain=ML)
def Binarizer(ctx, X, *, threshold=0.0):
    x = ctx.v(X)
    if x.dtype not in (DType.f32, DType.f64, DType.i32, DType.i64):
        ctx.fail(f"input X must be float, double, int32 or int64, got {x.type}")
    t = ctx.constant(np.asarray(threshold, x.dtype.numpy))
    return ctx.op("Cast", ctx.op("Greater", x, t), to=x.dtype)


@onnx_op(domain=ML)
def ArrayFeatureExtractor(ctx, X, Y):
    idx = ctx.v(Y)
    if idx.dtype != DType.i64:
        ctx.fail(f"the indices Y must be int64, got {idx.type}")
    flat = ctx.op("Reshape", idx, shape=(-1,))
    strings = ctx.strings(X)
    if strings is not None:  # class labels: the result is the indices, the strings go to the metadata
        if strings.ndim != 1:
            ctx.unsupported(f"ArrayFeatureExtractor of a string tensor of shape {list(strings.shape)} (only a "
                            f"vector of class labels)")
        ctx.labels(ctx.node.output[0], [str(s) for s in strings])
        return ctx.op("Reshape", flat, shape=(1, -1))
    x = ctx.v(X)
    if x.type.rank == 0:
        ctx.fail(f"input X must have rank at least 1, got {x.type}")
    if x.type.rank == 1:
        return ctx.op("Reshape", ctx.op("Gather", x, flat, axis=0), shape=(1, -1))
    return ctx.op("Gather", x, flat, axis=x.type.rank - 1)


@onnx_op(domain=ML)
def ZipMap(ctx, X, *, classlabels_int64s=None, classlabels_strings=None):
    labels = _label_list(ctx, classlabels_int64s, classlabels_strings, "classlabels_int64s")
    x = ctx.v(X)
    if x.type.rank != 2 or x.dtype != DType.f32:
        ctx.fail(f"input X must be a float matrix (N × classes), got {x.type}")
    if isinstance(x.type.shape[1], int) and x.type.shape[1] != len(labels):
        ctx.fail(f"input X has {x.type.shape[1]} columns but there are {len(labels)} class labels")
    ctx.columns(ctx.node.output[0], labels)
    return x


# -- reading the labels back -------------------------------------------------------------------------
def decode_labels(graph, outputs):
    """``outputs`` ({name: array}) with each output that holds class indices standing for string
    labels (``labels.<name>`` in ``graph.meta``) replaced by those strings."""
    out = dict(outputs)
    for name, a in outputs.items():
        labels = graph.meta.get(f"labels.{name}")
        if labels is not None:
            out[name] = np.asarray(labels, dtype=str)[np.asarray(a, np.int64)]
    return out


def describe_output(graph, name):
    """What the metadata says about output ``name``: its columns' classes, or the labels it stands for."""
    for key, words in (("classes", "columns"), ("labels", "labels")):
        labels = graph.meta.get(f"{key}.{name}")
        if labels is not None:
            return f"{words}: {', '.join(map(str, labels))}"
    return None
