"""Python as a frontend: trace operators on ``Tensor``s into IR (``tracer``), the functional ops
(``functional``), PyTorch-style modules (``nn``), and the one model -> graph function (``lower``)."""
