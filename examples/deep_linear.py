"""Deep linear networks collapse: y = W⁽³⁾W⁽²⁾W⁽¹⁾x = W′x, one linear layer (no more expressive
than linear regression). Shown by multiplying the matrices of the three Gemm nodes (a folding
pass in the fusion pipeline would do the same rewrite on the IR)."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check


def main(out_dir=None):
    cr.nn.manual_seed(0)
    deep = cr.nn.Sequential(cr.nn.Linear(5, 8, bias=False), cr.nn.Identity(), cr.nn.Linear(8, 6, bias=False),
                            cr.nn.Identity(), cr.nn.Linear(6, 3, bias=False))
    g = deep.to_graph()
    gemms = [n for n in g.nodes if n.op.name == "Gemm"]
    Ws = [g.initializers[n.inputs[1].name] for n in gemms]
    W_prime = Ws[2].astype(np.float64) @ Ws[1] @ Ws[0]
    one = cr.GraphBuilder("collapsed")
    x = one.input("x", ("N", 5))
    shallow = one.build(one.op("Gemm", x, one.param("W", W_prime.astype(np.float32)), transB=1, name="y"))
    X = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    y_deep, y_one = cr.compile(deep)(X), cr.compile(shallow)(X)
    print(f"deep: {len(gemms)} Gemm nodes, {sum(w.size for w in Ws)} weights; collapsed: 1 Gemm, {W_prime.size} weights")
    check(np.allclose(y_deep, y_one, atol=1e-5), "W⁽³⁾W⁽²⁾W⁽¹⁾x = W′x: three linear layers equal one")
    check(np.linalg.matrix_rank(W_prime) <= 3, "W′ is a single 3×5 linear map")


if __name__ == "__main__":
    main()
