"""Deep linear networks collapse: y = W⁽³⁾W⁽²⁾W⁽¹⁾x = W′x, one linear layer (no more expressive
than linear regression). Shown by the compiler itself: the inference-only ``fold-linear`` pass
rewrites the three Gemm nodes of the IR into one, whose matrix is the product W′."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check
from chainrule.passes import PassManager
from chainrule.passes.basic import dce
from chainrule.passes.fold_linear import fold_linear
from chainrule.passes.simplify import simplify


def main(out_dir=None):
    cr.nn.manual_seed(0)
    deep = cr.nn.Sequential(cr.nn.Linear(5, 8, bias=False), cr.nn.Identity(), cr.nn.Linear(8, 6, bias=False),
                            cr.nn.Identity(), cr.nn.Linear(6, 3, bias=False))
    g = deep.to_graph()
    gemms = [n for n in g.nodes if n.op.name == "Gemm"]
    Ws = [g.initializers[n.inputs[1].name] for n in gemms]
    W_prime = Ws[2].astype(np.float64) @ Ws[1] @ Ws[0]
    print("IR before folding:\n" + cr.print_graph(g))
    shallow = PassManager([simplify, fold_linear, dce]).run(g.clone())  # Identity(x) → x, then fold
    print("IR after simplify, fold-linear, dce:\n" + cr.print_graph(shallow))
    folded = [n for n in shallow.nodes if n.op.name == "Gemm"]
    X = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    y_deep, y_one = cr.Interpreter(g).run_list([X])[0], cr.Interpreter(shallow).run_list([X])[0]  # unfolded, folded
    W_folded = shallow.initializers[folded[0].inputs[1].name]
    print(f"deep: {len(gemms)} Gemm nodes, {sum(w.size for w in Ws)} weights; "
          f"collapsed: {len(folded)} Gemm, {W_folded.size} weights")
    check(len(folded) == 1 and len(shallow.nodes) == 1, "the fold-linear pass leaves one linear layer")
    check(np.allclose(W_folded, W_prime, atol=1e-6), "its matrix is the product W′ = W⁽³⁾W⁽²⁾W⁽¹⁾")
    check(np.allclose(y_deep, y_one, atol=1e-5), "W⁽³⁾W⁽²⁾W⁽¹⁾x = W′x: three linear layers equal one")
    check(np.linalg.matrix_rank(W_prime) <= 3, "W′ is a single 3×5 linear map")


if __name__ == "__main__":
    main()
