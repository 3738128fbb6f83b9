"""The computational-cost rule: the forward pass is one multiply-add per weight, the backward pass two
(W̄ = z̄xᵀ and x̄ = Wᵀz̄), so backward ≈ 2 × forward; an MLP's cost is linear in the number of layers and
quadratic in the units per layer. Measured on the IR by chainrule's cost ledger."""
from chainrule.examples._common import check
from chainrule.frontends.inspect.cost import cost_ledger, format_ledger, mlp_gradient_graph, mlp_scaling


def main(out_dir=None):
    led = cost_ledger(mlp_gradient_graph([128, 128, 128, 10], input_grad=True), {"N": 32})
    print(format_ledger(led, per_node=False), end="")
    check(1.8 < led.backward_forward_ratio < 2.2,
          f"backward / forward = {led.backward_forward_ratio:.2f}: about two forward passes")
    plain = cost_ledger(mlp_gradient_graph([128, 128, 128, 10]), {"N": 32}).backward_forward_ratio
    print(f"  (without x̄ for the data, which needs no gradient, the ratio is {plain:.2f})")
    by_depth, by_width = mlp_scaling(depths=(1, 2, 4, 8), widths=(32, 64, 128), batch=32)
    print("  layers -> mult-adds:", by_depth)
    print("  units  -> mult-adds:", by_width)
    steps = [(c2 - c1) / (d2 - d1) for (d1, c1), (d2, c2) in zip(by_depth, by_depth[1:])]
    check(max(steps) / min(steps) < 1.02, "cost grows by the same amount per added layer (linear)")
    check(all(3.7 < c2 / c1 < 4.1 for (_, c1), (_, c2) in zip(by_width, by_width[1:])),
          "doubling the units per layer multiplies the cost by about 4 (quadratic)")


if __name__ == "__main__":
    main()
