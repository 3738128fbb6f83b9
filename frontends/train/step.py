"""``cr.compile_train``: one compiled graph per training step.

    step = cr.compile_train(model, loss="cross_entropy", optimizer=cr.optim.SGD(lr=0.1))
    L = step(x_batch, t_batch)        # forward, loss, backward, update: the loss before the update
    step.params["fc1.weight"]         # live arrays, updated in place by each call
    step.lr                           # the %lr state: the learning rate of the next step
    step.model_graph                  # the inference model (what predict runs) before any pass
    step.predict(x); step.evaluate(x, t)

The model's output ``%z`` gets a target input ``%t`` and the loss (and, if
asked, the accuracy) as IR; the ``training`` pipeline then appends the
backward graph (autodiff) and the optimizer's update nodes. Parameters stay
the model's own arrays, so training updates the model in place; optimizer
state lives in ``kind=state`` parameters of the step's graph.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ...ir import ArgumentError, Emitter, Graph, InputError, IRTypeError
from ...ir.errors import ChainruleError
from ...passes import PassManager, inference_pipeline, training_pipeline
from ...runtime import Interpreter, NumericsError
from ..compile import check_backend, make_runner, profile_call
from ..python.lower import to_graph
from .objectives import Objective, add_l2, decayed_params, get_loss
from ..python.nn import Module
from .optim import SGD, Optimizer

METRICS = ("accuracy",)


class NonFiniteLossError(ChainruleError):
    """The loss became NaN or Inf; the message names the step."""


def build_objective(model_graph: Graph, loss: Objective, metrics: Sequence[str], weight_decay: float = 0.0):
    """Clone the model graph and append ``%t``, the loss, metrics and (if λ > 0) ℒ_reg.

    Returns ``(graph, objective name)``; outputs are ``[loss, *metrics]``.
    """
    if len(model_graph.outputs) != 1:
        raise IRTypeError(f"compile_train needs a model with one output, {model_graph.name} has "
                          f"{len(model_graph.outputs)}")
    g = model_graph.clone()
    z = g.outputs[0]
    if "t" in [v.name for v in g.all_values()]:
        raise IRTypeError(f"graph {g.name} already has a value named %t (the target input)")
    t = g.add_input("t", loss.target_type(z.type))
    e = Emitter(g, created_by="loss")
    L = loss.emit(e, z, t)
    outs = [L]
    for m in metrics:
        if m not in METRICS:
            raise ArgumentError(f"unknown metric {m!r}; choose from {', '.join(METRICS)}")
        ok = loss.correct(e, z, t)
        if ok is None:
            raise IRTypeError(f"metric {m!r} needs a classification loss, not {loss.name!r}")
        outs.append(e.ReduceMean(e.Cast(ok, to=z.dtype), axes=None, keepdims=0, name=m))
    objective = L
    if weight_decay:
        objective = add_l2(e, L, decayed_params(g.params), weight_decay)
    g.set_outputs(outs)
    return g, objective.name


def select_output(g: Graph, name: Optional[str]) -> Graph:
    """``g`` with only its output ``name`` (``g`` itself for None)."""
    if name is None:
        return g
    found = [v for v in g.outputs if v.name == name]
    if not found:
        raise IRTypeError(f"compile_train output {name!r}: graph {g.name} has no such output (its outputs: "
                          f"{', '.join(v.name for v in g.outputs) or 'none'})")
    g.set_outputs(found[:1])
    return g


def _require_rows(x, what: str) -> None:
    """A batch of no examples has no mean loss (it would be 0/0 = nan): say so."""
    if len(x) == 0:
        raise InputError(f"{what}: the batch is empty (0 examples)" if what.startswith("training") else
                         f"{what}: no examples (x has shape {list(np.shape(x))})")


def _require_finite(a, what: str) -> None:
    """NaN rows would be scored as class 0 (argmax of NaN): refuse them, naming the first."""
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            row = int(np.argwhere(bad)[0][0]) if a.ndim else 0
            n = int(bad.sum())
            raise InputError(f"{what} has {n} non-finite value{'s' if n > 1 else ''} (NaN or Inf), the first in "
                             f"row {row}; clean or drop those rows first")


class TrainStep:
    """A compiled training step plus the matching evaluation and prediction graphs."""

    def __init__(self, graph: Graph, eval_graph: Graph, predict_graph: Graph, loss: Objective,
                 optimizer: Optimizer, check_numerics: bool = False, history=(), executor: str = "sequential",
                 threads: Optional[int] = None, backend: str = "numpy"):
        self.graph, self.eval_graph, self.predict_graph = graph, eval_graph, predict_graph
        self.model_graph = predict_graph  # compile_train sets the inference model as written (before passes)
        self.loss, self.optimizer = loss, optimizer
        self.history = list(history)
        self.steps = 0  # training steps taken (checkpointed)
        self.epochs_run = 0  # fit_epoch calls: the default epoch of the next one
        self.check_numerics = check_numerics
        live = graph.initializers
        # ``executor`` (sequential by default: buffers planned once, generated code); the interpreter
        # when checking numerics, since it inspects every node's result
        self._train = Interpreter(graph, check_numerics=True) if check_numerics else \
            make_runner(executor, graph, live, threads, backend)
        self._eval = make_runner(executor, eval_graph, live, threads, backend)
        self._predict = make_runner(executor, predict_graph, live, threads, backend)
        self.output_names = [v.name for v in graph.outputs]
        self.last: Dict[str, float] = {}

    @property
    def compile_times(self) -> Dict[str, object]:
        """What building the training step took (``Executable.compile_times``); empty for NumPy."""
        return dict(getattr(self._train, "compile_times", {}))

    @property
    def params(self) -> Dict[str, np.ndarray]:
        """Trainable parameters by name: the live arrays, updated in place by every step."""
        return {p.name: self.graph.initializers[p.name] for p in self.graph.params if p.kind == "param"}

    @property
    def state(self) -> Dict[str, np.ndarray]:
        """Optimizer state (momentum, Adam moments and step counter) by name, live."""
        return {p.name: self.graph.initializers[p.name] for p in self.graph.params if p.kind == "state"}

    @property
    def lr(self) -> float:
        """The learning rate of the next step: the ``%lr`` state (a schedule updates it after each step)."""
        # the shortest decimal that is this float32 (0.1, not 0.10000000149011612)
        return float(np.format_float_positional(self.graph.initializers["lr"][()], unique=True))

    @lr.setter
    def lr(self, value: float) -> None:
        from .optim import _check
        if self.optimizer.schedule.changes:
            raise IRTypeError(f"the learning rate follows the {self.optimizer.schedule.name} schedule, which sets "
                              f"%lr after every step; compile again with another optimizer to change it")
        np.copyto(self.graph.initializers["lr"], _check("lr", value, 0.0))

    def _x(self, x, graph):
        want = graph.inputs[0].type.dtype.numpy
        x = np.asarray(x)
        return x.astype(want, copy=False) if x.dtype.kind == "f" else x

    def __call__(self, x, t) -> float:
        """One step on a batch: returns the loss before the update (metrics in ``self.last``)."""
        n = self.steps + 1
        _require_rows(x, f"training step {n}")
        tt = self.loss.prepare_target(t, self.graph.inputs[1].type)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the guard below reports it
                outs = self._train.run_list([self._x(x, self.graph), tt])
        except NumericsError as err:
            raise NonFiniteLossError(f"training step {n}: {err}") from err
        self.steps = n
        self.last = {k: float(v) for k, v in zip(self.output_names, outs)}
        L = self.last[self.output_names[0]]
        if not np.isfinite(L):
            raise NonFiniteLossError(
                f"training step {n}: the loss is {L}; the parameters are now invalid. Lower the learning "
                f"rate, or rerun with check_numerics=True (--check-numerics) to find the first node making NaN/Inf")
        return L

    def profile(self, x, t, path: Optional[str] = None, gantt: Optional[str] = None):
        """One training step on a batch, timed node by node (``Executable.profile``): it updates the
        parameters and counts as a step, as any step does. Returns the events; writes Chrome trace
        JSON to ``path`` and a Gantt chart PNG to ``gantt`` if given."""
        _require_rows(x, f"training step {self.steps + 1}")
        arrays = [self._x(x, self.graph), self.loss.prepare_target(t, self.graph.inputs[1].type)]
        events = profile_call(self._train, self.graph, arrays, path, gantt)
        self.steps += 1
        return events

    def predict(self, x, batch_size: Optional[int] = None) -> np.ndarray:
        """The model's prediction (class probabilities for cross-entropy), no update."""
        x = self._x(x, self.predict_graph)
        if batch_size is None or len(x) <= batch_size:
            return self._predict.run_list([x])[0]
        return np.concatenate([self._predict.run_list([x[i:i + batch_size]])[0]
                               for i in range(0, len(x), batch_size)])

    def evaluate(self, x, t, batch_size: Optional[int] = None) -> Dict[str, float]:
        """Mean loss (and metrics) over ``(x, t)``, no update."""
        x = self._x(x, self.eval_graph)
        t = self.loss.prepare_target(t, self.eval_graph.inputs[1].type)
        if len(x) != len(t):
            raise InputError(f"evaluate: x has {len(x)} examples but t has {len(t)}")
        _require_rows(x, "evaluate")
        _require_finite(x, "evaluate: x")
        _require_finite(t, "evaluate: t")
        bs = batch_size or max(len(x), 1)
        totals = np.zeros(len(self.eval_graph.outputs))
        for i in range(0, len(x), bs):
            outs = self._eval.run_list([x[i:i + bs], t[i:i + bs]])
            totals += np.array([float(o) for o in outs]) * len(x[i:i + bs])
        return {v.name: float(s / len(x)) for v, s in zip(self.eval_graph.outputs, totals)}

    def fit_epoch(self, x, t, batch_size: int = 32, seed: int = 0, epoch: Optional[int] = None, on_batch=None,
                  start_batch: int = 0) -> Dict[str, float]:
        """One shuffled pass over ``(x, t)``; returns the example-weighted mean of each output.

        The batch order depends on ``(seed, epoch)``; without ``epoch`` it is the number of epochs this
        step has run, so successive calls see new orders. ``start_batch`` skips the epoch's first
        batches (resuming a run interrupted mid-epoch)."""
        from .datasets import batches
        epoch = self.epochs_run if epoch is None else epoch
        self.epochs_run = epoch + 1
        totals, n = np.zeros(len(self.output_names)), 0
        for k, (xb, tb) in enumerate(batches(x, t, batch_size, seed=seed, epoch=epoch)):
            if k < start_batch:
                continue
            self(xb, tb)
            totals += np.array([self.last[m] for m in self.output_names]) * len(xb)
            n += len(xb)
            if on_batch:
                on_batch(k, self.last)
        return {m: float(s / max(n, 1)) for m, s in zip(self.output_names, totals)}

    def __repr__(self):
        return f"<TrainStep {self.graph.name}: {len(self.graph.nodes)} nodes, {len(self.graph.updates)} updates>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """A notebook shows the whole training step: forward, backward and update nodes (``ir/display.py``)."""
        from ...ir.display import graph_bundle
        return graph_bundle(self.graph, repr(self))


def compile_train(model: Union[Module, Graph], loss: Union[str, Objective] = "cross_entropy",
                  optimizer: Optional[Optimizer] = None, metrics: Optional[Sequence[str]] = None,
                  targets: Optional[str] = None, input_shape=None, check_numerics: bool = False,
                  executor: str = "sequential", threads: Optional[int] = None, output: Optional[str] = None,
                  backend: str = "numpy", **options) -> TrainStep:
    """Compile ``model`` (a cr.nn module or a Graph with one output) into a ``TrainStep``.

    ``loss``: a name (``cross_entropy``, ``squared_error``, ``binary_cross_entropy``)
    or an ``Objective``; ``targets``: ``"indices"`` or ``"one_hot"`` for cross-entropy.
    ``metrics``: default ``["accuracy"]`` for classification losses.
    ``executor``, ``threads`` and ``backend`` (``"numba"``: the step, evaluation and prediction each
    compiled into one numba function) as for ``cr.compile``.
    ``output``: the name of the model output the loss is on, for a graph with several outputs
    (an imported classifier's label and probabilities); the others are left out of the step.
    ``options`` go to the ``PassManager`` (``print_after_all``, ``dump_dir``...).
    """
    PassManager.check_options(options, "compile_train", {
        k: f"the {k} is the optimizer's: optimizer=cr.optim.SGD({k}=...)" for k in ("lr", "momentum", "weight_decay")})
    optimizer = optimizer or SGD(lr=0.1)
    if backend != "numpy":
        check_backend(backend, executor, runner=True)
    if not isinstance(optimizer, Optimizer):
        raise IRTypeError(f"optimizer must be a cr.optim optimizer (SGD, Adam), got {type(optimizer).__name__}")
    lobj = get_loss(loss, **({"targets": targets} if targets else {}))
    # the step trains in training mode; evaluate and predict use the inference-mode lowering
    # (running statistics, no dropout), sharing the same live arrays by name
    train_base = select_output(to_graph(model, input_shape, "train", training=True).clone(), output)
    base = select_output(to_graph(model, input_shape, "train").clone(), output) if isinstance(model, Module) \
        else train_base
    if metrics is None:
        metrics = ["accuracy"] if lobj.is_classifier(base.outputs[0].type) else []
    objective, obj_name = build_objective(train_base, lobj, list(metrics), optimizer.l2)
    inference_objective = build_objective(base, lobj, list(metrics), optimizer.l2)[0]
    eval_graph = PassManager(inference_pipeline(freeze_params=False)).run(inference_objective)  # live params
    opt_pass = optimizer.make_pass(decay=[p.name for p in decayed_params(train_base.params)])
    pm = PassManager(training_pipeline(loss=obj_name, optimizer=opt_pass), **options)
    train_graph = pm.run(objective)
    pred = base.clone()
    pred.set_outputs([lobj.link(Emitter(pred, created_by="loss"), pred.outputs[0])])
    model_graph = pred.clone()
    pred = PassManager(inference_pipeline(freeze_params=False)).run(pred)
    step = TrainStep(train_graph, eval_graph, pred, lobj, optimizer, check_numerics, pm.history, executor, threads,
                     backend)
    step.model_graph = model_graph
    return step


__all__: List[str] = ["NonFiniteLossError", "TrainStep", "build_objective", "compile_train"]
