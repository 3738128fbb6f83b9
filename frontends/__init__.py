"""The frontends layer: from a user's model to IR and back out, in rooms that import only downwards.

- ``version``: the version string (a leaf);
- ``python/``: the tracer, ``cr.relu`` and friends, ``cr.nn`` modules, and ``lower.to_graph``;
- ``onnx/``: ONNX import and export, one op table per family, onnxruntime as a backend;
- ``compile``: ``cr.compile``, a pipeline and an executor;
- ``train/``: ``cr.compile_train``, training objectives, optimizers, data, checkpoints, the loop;
- ``inspect/``: the teaching tools (dump, IR diffs, pictures, the report, explain, cost, gradcheck);
- ``cli/``: the ``chainrule`` command, one module per subcommand.
"""
