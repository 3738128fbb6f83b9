"""Training: ``cr.compile_train`` (``step``), the objectives (losses as IR), optimizers, data sets,
checkpoints, signal handling and plots."""
