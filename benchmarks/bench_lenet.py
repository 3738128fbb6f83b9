"""LeNet-5 training step (1×28×28: conv5-pool-conv5-pool-120-84-10) for bench_step.py: chainrule's
compiled step against a hand-written NumPy im2col step and PyTorch eager (when installed).

All three start from the same parameters; before timing, one step of each must give the same
loss and the same updated weights.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import chainrule as cr
from chainrule.passes.optimizer import SGDUpdate
from chainrule.passes.pipeline import training_pipeline

LR = 0.1
CONVS = (("conv1", 1, 6), ("conv2", 6, 16))
FCS = (("fc1", 256, 120), ("fc2", 120, 84), ("fc3", 84, 10))


def lenet(seed=0):
    nn = cr.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5, seed=seed + 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(256, 120, seed=seed + 2), nn.ReLU(), nn.Linear(120, 84, seed=seed + 3), nn.ReLU(),
                         nn.Linear(84, 10, seed=seed + 4))


def lenet_flops(n):
    """Multiply-adds ×2 of forward + backward (≈ 3 × forward; conv1 has no x̄)."""
    conv = [24 * 24 * 6 * 25, 8 * 8 * 16 * 6 * 25]
    fc = [a * b for _, a, b in FCS]
    fwd = sum(conv) + sum(fc)
    bwd = conv[0] + 2 * conv[1] + 2 * sum(fc)
    return 2 * n * (fwd + bwd)


class NumpyLeNet:
    """The step written by hand: im2col through sliding_window_view and one GEMM per conv."""

    def __init__(self, params):
        self.p = params

    @staticmethod
    def cols(x, k):
        v = sliding_window_view(x, (k, k), axis=(2, 3))                # N,C,Ho,Wo,k,k
        n, c, ho, wo = v.shape[:4]
        return np.ascontiguousarray(v.transpose(0, 2, 3, 1, 4, 5)).reshape(n * ho * wo, c * k * k), (ho, wo)

    def conv(self, x, name):
        w, b = self.p[f"{name}.weight"], self.p[f"{name}.bias"]
        cols, (ho, wo) = self.cols(x, w.shape[2])
        y = cols @ w.reshape(w.shape[0], -1).T + b                       # (N·Ho·Wo, O)
        return y.reshape(x.shape[0], ho, wo, -1).transpose(0, 3, 1, 2), cols

    @staticmethod
    def pool(x):
        n, c, h, w = x.shape
        r = x.reshape(n, c, h // 2, 2, w // 2, 2)
        y = r.max(axis=(3, 5))
        first = (r == y[:, :, :, None, :, None])  # ties are measure-zero with random data
        return y, first

    @staticmethod
    def unpool(g, first):
        n, c, h, w = g.shape
        return (first * g[:, :, :, None, :, None]).reshape(n, c, 2 * h, 2 * w)

    def conv_back(self, g, cols, x_shape, name, need_x):
        w = self.p[f"{name}.weight"]
        o, c, k, _ = w.shape
        g2 = g.transpose(0, 2, 3, 1).reshape(-1, o)                      # (N·Ho·Wo, O)
        gw = (g2.T @ cols).reshape(w.shape)
        gb = g2.sum(0)
        gx = None
        if need_x:
            gc = (g2 @ w.reshape(o, -1)).reshape(x_shape[0], g.shape[2], g.shape[3], c, k, k)
            gx = np.zeros(x_shape, g.dtype)
            for i in range(k):
                for j in range(k):
                    gx[:, :, i:i + g.shape[2], j:j + g.shape[3]] += gc[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return gw, gb, gx

    def step(self, x, t):
        p = self.p
        z1, c1 = self.conv(x, "conv1")
        a1 = np.maximum(z1, 0)
        p1, f1 = self.pool(a1)
        z2, c2 = self.conv(p1, "conv2")
        a2 = np.maximum(z2, 0)
        p2, f2 = self.pool(a2)
        h = [p2.reshape(len(x), -1)]
        for k, (name, _, _) in enumerate(FCS):
            z = h[-1] @ p[f"{name}.weight"].T + p[f"{name}.bias"]
            h.append(np.maximum(z, 0) if k < 2 else z)
        z = h[-1]
        e = np.exp(z - z.max(1, keepdims=True))
        y = e / e.sum(1, keepdims=True)
        loss = -np.mean(np.log(y[np.arange(len(t)), t]))
        g = y
        g[np.arange(len(t)), t] -= 1
        g /= len(t)
        grads = {}
        for k in range(2, -1, -1):
            name = FCS[k][0]
            grads[f"{name}.weight"], grads[f"{name}.bias"] = g.T @ h[k], g.sum(0)
            g = g @ p[f"{name}.weight"]
            if k > 0:
                g = g * (h[k] > 0)
        g = self.unpool(g.reshape(p2.shape), f2) * (z2 > 0)
        grads["conv2.weight"], grads["conv2.bias"], g = self.conv_back(g, c2, p1.shape, "conv2", True)
        g = self.unpool(g, f1) * (z1 > 0)
        grads["conv1.weight"], grads["conv1.bias"], _ = self.conv_back(g, c1, x.shape, "conv1", False)
        for k, gv in grads.items():
            p[k] -= np.float32(LR) * gv.astype(np.float32)
        return loss


def torch_lenet_step(params, threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    F = torch.nn.functional
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}

    def step(x, t):
        h = torch.from_numpy(x)
        for name, _, _ in CONVS:
            h = F.max_pool2d(torch.relu(F.conv2d(h, P[f"{name}.weight"], P[f"{name}.bias"])), 2)
        h = h.flatten(1)
        for k, (name, _, _) in enumerate(FCS):
            h = F.linear(h, P[f"{name}.weight"], P[f"{name}.bias"])
            if k < 2:
                h = torch.relu(h)
        loss = F.cross_entropy(h, torch.from_numpy(t))
        loss.backward()
        with torch.no_grad():
            for v in P.values():
                v -= LR * v.grad
                v.grad = None
        return loss
    return step, P


def bench_lenet(n, reps, threads, median_times):
    """Median seconds per step of each contender at batch ``n`` (and the GEMM FLOPs of one step)."""
    model = lenet()
    step = cr.compile_train(model, input_shape=("N", 1, 28, 28), optimizer=cr.optim.SGD(lr=LR, momentum=0.0),
                            metrics=[])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, n)
    start = {k: v.copy() for k, v in step.params.items()}
    hand = NumpyLeNet({k: v.copy() for k, v in start.items()})
    tor = torch_lenet_step({k: v.copy() for k, v in start.items()}, threads)
    lc, lh = step(x, t), hand.step(x, t)  # one step each from the same weights: same loss, same weights
    assert np.isclose(lc, lh, rtol=1e-4), (lc, lh)
    for k in start:
        assert np.allclose(step.params[k], hand.p[k], rtol=1e-3, atol=1e-5), k
    fns = {"chainrule": lambda: step(x, t), "numpy": lambda: hand.step(x, t)}
    if tor is not None:
        ts, P = tor
        lt = float(ts(x, t).detach())
        assert np.isclose(lt, lc, rtol=1e-4), (lt, lc)
        fns["torch"] = lambda: ts(x, t)
    for f in fns.values():
        f()
    return median_times(fns, reps, max(1, 64 // n)), lenet_flops(n)


def lenet_section(batches, reps, threads, peak, median_times):
    print(f"{'LeNet-5 step':<15}{'batch':>6}{'step us':>9}{'numpy us':>9}{'ratio':>7}{'torch us':>9}{'ratio':>7}"
          f"{'%peak':>7}")
    for n in batches:
        m, flops = bench_lenet(n, reps, threads, median_times)
        c = m["chainrule"]
        tr = f"{m['torch'] * 1e6:>9.1f}{c / m['torch']:>6.2f}x" if "torch" in m else f"{'n/a':>9}{'':>7}"
        print(f"{'1x28x28':<15}{n:>6}{c * 1e6:>9.1f}{m['numpy'] * 1e6:>9.1f}{c / m['numpy']:>6.2f}x{tr}"
              f"{100 * flops / c / peak:>6.1f}%")
