"""Targets {1..K} as one-hot vectors t = (0, …, 0, 1, 0, …, 0): entry k is 1 (one-of-K encoding)."""
import numpy as np

import chainrule as cr
from chainrule.examples._common import check, forward


def main(out_dir=None):
    labels = np.array([2, 0, 3, 1], np.int64)
    g = cr.GraphBuilder("one_hot")
    k = g.input("k", ("N",), dtype="i64")
    graph = g.build(cr.one_hot(k, 4))
    t = forward(graph, {"k": labels})[graph.outputs[0].name]
    print("labels", labels.tolist(), "->\n", t)
    check(t.shape == (4, 4), "K = 4 classes give vectors in R^K")
    check(np.all(t.sum(axis=1) == 1) and set(np.unique(t)) <= {0.0, 1.0}, "each t has one entry 1, the rest 0")
    check(np.all(t.argmax(axis=1) == labels), "entry k is 1 for target k")


if __name__ == "__main__":
    main()
