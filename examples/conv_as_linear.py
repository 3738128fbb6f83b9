"""A convolution is a linear layer with sparse, tied weights.

Unrolled, Conv(x, W) is y = M x for a dense matrix M (one row per output position, one
column per input pixel): row (o, p, q) holds the kernel W[o] placed at window (p, q), and
zeros elsewhere. So M is *sparse* (each row has only kh·kw non-zeros) and its entries are
*tied* (each W[o,c,i,j] appears once per output position). The dense layer's gradient is
M̄ = ȳ xᵀ; since one W entry is used at every position, the multivariate chain rule sums:

    W̄[o,c,i,j] = Σ_p,q M̄[(o,p,q), (c, p+i, q+j)]

which is exactly what the backward IR's ``ConvFilterGrad`` computes.
"""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check


def dense_matrix(w, h, wd):
    """M of Conv(·, w) on a C×h×wd image (stride 1, no padding): Ho·Wo·O rows, C·h·wd columns."""
    o, c, kh, kw = w.shape
    ho, wo = h - kh + 1, wd - kw + 1
    m = np.zeros((o, ho, wo, c, h, wd))
    for p in range(ho):
        for q in range(wo):
            m[:, p, q, :, p:p + kh, q:q + kw] = w  # the same kernel at every position: tied
    return m.reshape(o * ho * wo, c * h * wd)


def main(out_dir=None):
    rng = np.random.default_rng(0)
    conv = cr.nn.Conv2d(1, 2, 3, bias=False, name="conv1", seed=0, dtype=cr.DType.f64)
    model = cr.nn.Sequential(conv)
    x = rng.standard_normal((1, 1, 5, 5))
    exe = cr.compile(model, input_shape=(1, 1, 5, 5))
    y = exe(x)
    M = dense_matrix(conv.weight, 5, 5)
    print(f"  Conv2d(1, 2, 3) on a 5×5 image is y = M x with M of shape {M.shape}")
    check(np.allclose(M @ x.reshape(-1), y.reshape(-1)), "the dense matrix M gives the conv's output")
    nonzero = int((M != 0).sum(axis=1).max())
    print(f"  sparse: each row of M has {nonzero} non-zeros out of {M.shape[1]}")
    check(nonzero == 9, "each output reads only a 3×3 window: M is sparse")
    uses = int(np.isclose(M, conv.weight[0, 0, 0, 0]).sum())
    print(f"  tied: the weight W[0,0,0,0] appears {uses} times in M (once per output position)")
    check(uses == 9, "one kernel weight is shared by all 3×3 output positions")

    # W̄ from the compiled gradient graph, for L = Σ c ∘ y with a random cotangent c
    b = cr.GraphBuilder("conv_grad", dtype="f64")
    xin, cin = b.input("x", (1, 1, 5, 5)), b.input("c", (1, 2, 3, 3))
    graph = b.build((model(xin) * cin).sum())
    step = cr.compile(graph, "gradient")
    c = rng.standard_normal((1, 2, 3, 3))
    gw = step.run({"x": x, "c": c})["grad_conv1.weight"]
    Mbar = np.outer(c.reshape(-1), x.reshape(-1)).reshape(2, 3, 3, 1, 5, 5)  # the dense layer's M̄ = ȳ xᵀ
    summed = np.zeros_like(conv.weight)
    for p in range(3):
        for q in range(3):  # Σ over every position where the tied weight is used
            summed += Mbar[:, p, q, :, p:p + 3, q:q + 3]
    check(np.allclose(gw, summed), "W̄ = Σ over positions of the dense layer's gradient ȳ xᵀ")
    line = [ln for ln in cr.print_graph(step.graph).splitlines() if ln.lstrip().startswith("%grad_conv1.weight")][0]
    print("  in the backward IR:", line.strip().split(" #[")[0])
    check("ConvFilterGrad(%x, " in line, "the backward IR computes W̄ as one ConvFilterGrad of x with ȳ")
    print("  try: chainrule explain --grad conv1.weight cnn")


if __name__ == "__main__":
    main()
