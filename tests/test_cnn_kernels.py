"""The CNN kernels (conv, pools, batch norm, dropout mask) against naive loop references.

Each reference below is written from the op's definition, one output element (or one
input contribution) at a time, with no im2col, so it shares no code or trick with the
kernel it checks. Sizes are small and odd so that strides, pads, dilations, groups and
ceil_mode all leave partial windows somewhere.
"""
import itertools

import numpy as np
import pytest

from chainrule.ir import DType, Emitter, Graph, TensorType
from chainrule.ir.ops.norm import counter_uniform
from chainrule.runtime import Interpreter

R = np.random.default_rng(7)


def n(*s):
    return R.standard_normal(s)


def _run(opname, arrays, attrs):
    g = Graph(f"k_{opname}")
    xs = [g.add_input(f"x{i}", TensorType(a.shape, DType.of(a.dtype))) for i, a in enumerate(arrays)]
    outs = Emitter(g).emit(opname, xs, attrs).outputs
    g.set_outputs(list(outs))
    got = Interpreter(g).run_list(list(arrays))
    for v, a in zip(outs, got):
        assert a.shape == v.type.shape and a.dtype == v.type.dtype.numpy, f"{opname}: {a.shape} {a.dtype} vs {v.type}"
    return got


def _geom(attrs, k):
    s = attrs.get("strides") or (1, 1)
    d = attrs.get("dilations") or (1, 1)
    p = attrs.get("pads") or (0, 0, 0, 0)
    return s, d, p


# -- references ---------------------------------------------------------------
def conv_ref(x, w, b=None, **attrs):
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    g = attrs.get("group", 1)
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = _geom(attrs, (kh, kw))
    Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + pl + pr - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((N, O, Ho, Wo))
    for nn, o, p, q in itertools.product(range(N), range(O), range(Ho), range(Wo)):
        grp = o // (O // g)
        acc = 0.0 if b is None else b[o]
        for c, i, j in itertools.product(range(Cg), range(kh), range(kw)):
            r, s = p * sh + i * dh - pt, q * sw + j * dw - pl
            if 0 <= r < H and 0 <= s < W:
                acc += w[o, c, i, j] * x[nn, grp * Cg + c, r, s]
        y[nn, o, p, q] = acc
    return y


def conv_transpose_ref(u, w, b=None, **attrs):
    N, Cin, H, W = u.shape
    _, Cog, kh, kw = w.shape
    g = attrs.get("group", 1)
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = _geom(attrs, (kh, kw))
    oph, opw = attrs.get("output_padding") or (0, 0)
    Ho = sh * (H - 1) + dh * (kh - 1) + 1 + oph - pt - pb
    Wo = sw * (W - 1) + dw * (kw - 1) + 1 + opw - pl - pr
    y = np.zeros((N, Cog * g, Ho, Wo))
    for nn, c, h, ww in itertools.product(range(N), range(Cin), range(H), range(W)):
        grp = c // (Cin // g)
        for co, i, j in itertools.product(range(Cog), range(kh), range(kw)):
            r, s = h * sh + i * dh - pt, ww * sw + j * dw - pl
            if 0 <= r < Ho and 0 <= s < Wo:
                y[nn, grp * Cog + co, r, s] += u[nn, c, h, ww] * w[c, co, i, j]
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def filter_grad_ref(x, gy, **attrs):
    N, C, H, W = x.shape
    _, O, Ho, Wo = gy.shape
    g = attrs.get("group", 1)
    kh, kw = attrs["kernel_shape"]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = _geom(attrs, (kh, kw))
    Cg = C // g
    gw = np.zeros((O, Cg, kh, kw))
    for o, c, i, j in itertools.product(range(O), range(Cg), range(kh), range(kw)):
        grp = o // (O // g)
        for nn, p, q in itertools.product(range(N), range(Ho), range(Wo)):
            r, s = p * sh + i * dh - pt, q * sw + j * dw - pl
            if 0 <= r < H and 0 <= s < W:
                gw[o, c, i, j] += gy[nn, o, p, q] * x[nn, grp * Cg + c, r, s]
    return gw


def _pool_out(H, k, s, d, pb, pe, ceil):
    span = H + pb + pe - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= H + pb:  # the last window must start inside the input or left pad
        out -= 1
    return out


def _pool_windows(x, attrs):
    """Yield (n, c, p, q, [(r, s) taps inside the input], taps inside the padded input)."""
    N, C, H, W = x.shape
    kh, kw = attrs["kernel_shape"]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = _geom(attrs, (kh, kw))
    ceil = attrs.get("ceil_mode", 0)
    Ho, Wo = _pool_out(H, kh, sh, dh, pt, pb, ceil), _pool_out(W, kw, sw, dw, pl, pr, ceil)
    for nn, c, p, q in itertools.product(range(N), range(C), range(Ho), range(Wo)):
        inside, padded = [], 0
        for i, j in itertools.product(range(kh), range(kw)):  # row-major: the tie rule's order
            r, s = p * sh + i * dh - pt, q * sw + j * dw - pl
            if -pt <= r < H + pb and -pl <= s < W + pr:
                padded += 1
            if 0 <= r < H and 0 <= s < W:
                inside.append((r, s))
        yield nn, c, p, q, inside, padded, (Ho, Wo)


def maxpool_ref(x, **attrs):
    out = None
    for nn, c, p, q, inside, _, shape in _pool_windows(x, attrs):
        out = np.zeros(x.shape[:2] + shape) if out is None else out
        out[nn, c, p, q] = max(x[nn, c, r, s] for r, s in inside)
    return out


def maxpool_grad_ref(x, gy, **attrs):
    gx = np.zeros_like(x)
    for nn, c, p, q, inside, _, _ in _pool_windows(x, attrs):
        vals = [x[nn, c, r, s] for r, s in inside]
        r, s = inside[vals.index(max(vals))]  # the first maximum wins
        gx[nn, c, r, s] += gy[nn, c, p, q]
    return gx


def maxpool_indices_ref(x, storage_order=0, **attrs):
    """ONNX's Indices: the flat index in x of each window's first maximum (row-major over the
    window), with the spatial axes row-major or, storage_order=1, column-major."""
    out = None
    N, C, H, W = x.shape
    for nn, c, p, q, inside, _, shape in _pool_windows(x, attrs):
        out = np.zeros(x.shape[:2] + shape, np.int64) if out is None else out
        vals = [x[nn, c, r, s] for r, s in inside]
        r, s = inside[vals.index(max(vals))]
        out[nn, c, p, q] = (nn * C + c) * H * W + (s * H + r if storage_order else r * W + s)
    return out


def avgpool_ref(x, **attrs):
    out = None
    for nn, c, p, q, inside, padded, shape in _pool_windows(x, attrs):
        out = np.zeros(x.shape[:2] + shape) if out is None else out
        count = padded if attrs.get("count_include_pad") else len(inside)
        out[nn, c, p, q] = sum(x[nn, c, r, s] for r, s in inside) / count
    return out


def avgpool_grad_ref(gy, x, **attrs):
    gx = np.zeros_like(x)
    for nn, c, p, q, inside, padded, _ in _pool_windows(x, attrs):
        count = padded if attrs.get("count_include_pad") else len(inside)
        for r, s in inside:
            gx[nn, c, r, s] += gy[nn, c, p, q] / count
    return gx


def bn_ref(x, scale, bias, mean, var, epsilon=1e-5):
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        y[:, c] = (x[:, c] - mean[c]) / np.sqrt(var[c] + epsilon) * scale[c] + bias[c]
    return y


def bn_train_ref(x, scale, bias, epsilon=1e-5):
    C = x.shape[1]
    mean = np.array([x[:, c].mean() for c in range(C)])
    var = np.array([((x[:, c] - mean[c]) ** 2).mean() for c in range(C)])  # biased, as ONNX
    return bn_ref(x, scale, bias, mean, var, epsilon), mean, var


# -- cases ------------------------------------------------------------------------
CONV = [
    ((n(2, 3, 5, 5), n(4, 3, 3, 3), n(4)), {}),
    ((n(1, 2, 7, 6), n(3, 2, 3, 2)), {"strides": (2, 3)}),
    ((n(1, 2, 5, 5), n(2, 2, 3, 3), n(2)), {"pads": (1, 0, 2, 1)}),
    ((n(1, 2, 7, 7), n(2, 2, 2, 3)), {"dilations": (2, 2), "pads": (1, 1, 1, 1)}),
    ((n(2, 4, 6, 5), n(6, 2, 3, 3), n(6)), {"group": 2, "strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ((n(1, 4, 5, 5), n(4, 1, 3, 3)), {"group": 4}),  # depthwise
]
CONV_T = [
    ((n(2, 4, 3, 3), n(4, 3, 3, 3), n(3)), {}),
    ((n(1, 2, 3, 4), n(2, 3, 2, 2)), {"strides": (2, 2), "pads": (1, 0, 0, 1)}),
    ((n(1, 4, 3, 3), n(4, 1, 3, 3)), {"group": 2, "strides": (2, 2), "output_padding": (1, 0), "dilations": (1, 2)}),
]
FILTER = [
    ((n(2, 3, 5, 5), n(2, 4, 3, 3)), {"kernel_shape": (3, 3)}),
    ((n(1, 4, 6, 5), n(1, 2, 3, 2)), {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (0, 0, 1, 0), "group": 2}),
    ((n(1, 2, 7, 7), n(1, 3, 5, 2)), {"kernel_shape": (2, 3), "dilations": (2, 2), "strides": (1, 2)}),
]
POOL = [
    {"kernel_shape": (2, 2), "strides": (2, 2)},
    {"kernel_shape": (3, 3)},
    {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)},
    {"kernel_shape": (2, 3), "strides": (2, 2), "pads": (1, 1, 0, 1), "ceil_mode": 1},
    {"kernel_shape": (3, 2), "strides": (2, 3), "ceil_mode": 1},
    {"kernel_shape": (2, 2), "dilations": (2, 2), "strides": (2, 1)},
]
X_POOL = n(2, 2, 7, 8)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", range(len(CONV)))
def test_conv_matches_loops(k):
    arrays, attrs = CONV[k]
    _close(_run("Conv", arrays, attrs)[0], conv_ref(*arrays, **attrs))


@pytest.mark.parametrize("k", range(len(CONV_T)))
def test_conv_transpose_matches_loops(k):
    arrays, attrs = CONV_T[k]
    _close(_run("ConvTranspose", arrays, attrs)[0], conv_transpose_ref(*arrays, **attrs))


@pytest.mark.parametrize("k", range(len(FILTER)))
def test_conv_filter_grad_matches_loops(k):
    arrays, attrs = FILTER[k]
    _close(_run("ConvFilterGrad", arrays, attrs)[0], filter_grad_ref(*arrays, **attrs))


def test_conv_f32_matches_f64():
    (x, w, b), attrs = CONV[4]
    got = _run("Conv", (x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)), attrs)[0]
    np.testing.assert_allclose(got, conv_ref(x, w, b, **attrs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", range(len(POOL)))
def test_maxpool_and_its_gradient_match_loops(k):
    attrs = POOL[k]
    y = _run("MaxPool", (X_POOL,), attrs)[0]
    _close(y, maxpool_ref(X_POOL, **attrs))
    gy = n(*y.shape)
    _close(_run("MaxPoolGrad", (X_POOL, gy), attrs)[0], maxpool_grad_ref(X_POOL, gy, **attrs))


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("k", range(len(POOL)))
def test_maxpool_indices_match_loops(k, order):
    x = np.round(X_POOL * 2) / 2  # ties, which the first maximum breaks
    _run_i = _run("MaxPoolIndices", (x,), {**POOL[k], "storage_order": order})[0]
    np.testing.assert_array_equal(_run_i, maxpool_indices_ref(x, order, **POOL[k]))


@pytest.mark.parametrize("dt", [np.uint8, np.int8, np.int32])
def test_maxpool_of_integers_pads_with_the_type_minimum(dt):
    x = (np.arange(2 * 2 * 7 * 8) % 97 + (0 if dt == np.uint8 else -40)).astype(dt).reshape(2, 2, 7, 8)
    attrs = POOL[2]  # padded: the padding must never win
    y = _run("MaxPool", (x,), attrs)[0]
    assert y.dtype == dt
    np.testing.assert_array_equal(y, maxpool_ref(x.astype(np.float64), **attrs))


@pytest.mark.parametrize("include", [0, 1])
@pytest.mark.parametrize("k", range(len(POOL)))
def test_avgpool_and_its_gradient_match_loops(k, include):
    attrs = {**POOL[k], "count_include_pad": include}
    y = _run("AveragePool", (X_POOL,), attrs)[0]
    _close(y, avgpool_ref(X_POOL, **attrs))
    gy = n(*y.shape)
    _close(_run("AveragePoolGrad", (gy, X_POOL), attrs)[0], avgpool_grad_ref(gy, X_POOL, **attrs))


def test_maxpool_tie_rule_first_maximum_in_row_major_order_gets_all_of_y_bar():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    gx = _run("MaxPoolGrad", (x, np.array([[[[5.0]]]])), {"kernel_shape": (2, 2)})[0]
    _close(gx, [[[[0.0, 5.0], [0.0, 0.0]]]])


def test_global_average_pool():
    x = n(2, 3, 4, 5)
    want = np.array([[[[x[a, c].mean()]] for c in range(3)] for a in range(2)])
    _close(_run("GlobalAveragePool", (x,), {})[0], want)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 3)])
def test_batch_norm_both_modes_match_loops(shape):
    x, scale, bias, mean, var = n(*shape), n(3), n(3), n(3), R.uniform(0.5, 2, 3)
    _close(_run("BatchNormalization", (x, scale, bias, mean, var), {"epsilon": 1e-3})[0],
           bn_ref(x, scale, bias, mean, var, 1e-3))
    got = _run("BatchNormTraining", (x, scale, bias), {})
    for a, b in zip(got, bn_train_ref(x, scale, bias)):
        _close(a, b)


def test_dropout_mask_is_a_pure_function_of_seed_and_step():
    x = np.zeros((64, 50), np.float32)
    mask = lambda step, seed=0: _run("DropoutMask", (x, np.array(step, np.int64)), {"ratio": 0.25, "seed": seed})[0]
    m = mask(3)
    assert set(np.unique(m)) == {0.0, np.float32(1 / 0.75)}
    assert abs((m == 0).mean() - 0.25) < 0.02, "about ratio of the units are dropped"
    np.testing.assert_array_equal(m, mask(3))                     # same (seed, step): same mask
    assert (m != mask(4)).mean() > 0.2 and (m != mask(3, seed=1)).mean() > 0.2
    u = counter_uniform(0, 3, 10_000)
    assert 0.0 <= u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
