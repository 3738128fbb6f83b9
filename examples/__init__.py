"""The lecture's worked examples, each a module with ``main()`` that prints what the
lecture states and checks it (raising ``AssertionError`` if it does not hold).

    chainrule examples                 # list them
    chainrule examples xor_mlp         # run one
    python -m chainrule.examples.xor_mlp
"""

#: example name -> what it shows (in the lecture's order)
EXAMPLES = {
    "one_hot": "targets as one-hot vectors (one-of-K encoding)",
    "softmax_regression": "softmax regression and its gradient (y_k − t_k) x",
    "softmax_k2": "softmax with K = 2 is the logistic function of z1 − z2",
    "xor_linear": "XOR is not linearly separable: logistic regression fails",
    "xor_feature_map": "XOR solved by the feature map ψ(x) = (x1, x2, x1·x2)",
    "xor_threshold": "XOR by the hand-set hard-threshold network (OR, AND)",
    "xor_mlp": "XOR learned by an MLP with gradient descent",
    "activations": "the six activation functions and their derivatives, plotted",
    "universality": "2^D hard-threshold hidden units reproduce any truth table",
    "sigmoid_steep": "σ(5x) approaches the hard threshold",
    "deep_linear": "deep linear networks collapse to one linear layer",
    "chain_rule_univariate": "the univariate chain rule on logistic least squares",
    "chain_rule_multivariate": "the multivariate chain rule: f(x(t), y(t)) = y + e^{xy}",
    "l2_backprop": "the L2-regularised logistic least squares backward pass, line by line",
    "mlp_backprop": "backprop on the two-layer MLP, scalar and vectorised",
    "feature_detectors": "first-layer feature detectors of a digit classifier, drawn as images",
    "computational_cost": "backward ≈ 2 × forward; cost linear in layers, quadratic in units",
    "conv_as_linear": "a convolution is a linear layer with sparse, tied weights; W̄ sums over positions",
}
