"""The training loop as a library (frontends/train/loop.py): what ``chainrule train`` runs."""
import numpy as np

import chainrule as cr
from chainrule.frontends.train.loop import Split, TrainingLoop, accuracy


class _StopAt:
    """A stand-in for StopOnSignal that turns truthy after ``n`` batches."""
    name, exit_code = "SIGTERM", 143

    def __init__(self, n):
        self.n, self.seen = n, 0

    def tick(self, *_):
        self.seen += 1

    def __bool__(self):
        return self.seen >= self.n


def _setup(tmp_path, name):
    X, y = cr.datasets.load_digits()
    Xtr, Xte, ytr, yte = cr.datasets.train_test_split(X[:400], y[:400], 0.25, seed=0)
    Xtr, Xte = cr.datasets.standardize(Xtr, Xte)
    step = cr.compile_train(cr.nn.mlp([64, 16, 10], seed=0), optimizer=cr.optim.SGD(0.1), metrics=[])
    return step, Split(Xtr, ytr, ytr), Split(Xte, yte, yte), str(tmp_path / name)


def test_loop_runs_epochs_records_history_and_checkpoints(tmp_path):
    step, train, test, ckpt = _setup(tmp_path, "a.npz")
    seen = []
    loop = TrainingLoop(step, train, test, epochs=3, batch_size=32, checkpoint_path=ckpt, config={"k": 1},
                        on_epoch=seen.append)
    assert loop.run() is None
    assert [r["epoch"] for r in loop.history] == [1, 2, 3] == [r["epoch"] for r in seen]
    assert loop.history[-1]["val_accuracy"] == accuracy(step, test) >= 0.7  # chance is 0.1
    assert loop.history[0]["lr"] == 0.1 and loop.reason == "completed"
    meta, _ = cr.checkpoint.read(ckpt)
    assert meta["epoch"] == 3 and meta["config"] == {"k": 1}


def test_a_stopped_loop_resumes_to_the_same_weights(tmp_path):
    step, train, test, ckpt = _setup(tmp_path, "full.npz")
    TrainingLoop(step, train, test, epochs=2, batch_size=32, checkpoint_path=ckpt, config={}).run()
    want = {k: v.copy() for k, v in step.params.items()}

    step, train, test, ckpt = _setup(tmp_path, "cut.npz")
    stop = _StopAt(13)  # 10 batches an epoch: stops in epoch 2 after batch 3
    loop = TrainingLoop(step, train, test, epochs=2, batch_size=32, checkpoint_path=ckpt, config={},
                        on_batch=stop.tick)
    stopped = loop.run(stop)
    assert stopped is not None and (stopped.epoch, stopped.batch, stopped.batches) == (2, 3, 10)
    assert stopped.exit_code == 143

    step2, train, test, _ = _setup(tmp_path, "unused.npz")
    meta = cr.checkpoint.load(ckpt, step2)
    assert (meta["epoch"], meta["batch"]) == (1, 3)
    TrainingLoop(step2, train, test, epochs=2, batch_size=32, checkpoint_path=ckpt, config={},
                 history=meta["history"], start_epoch=meta["epoch"], start_batch=meta["batch"]).run()
    for k, v in want.items():
        np.testing.assert_array_equal(step2.params[k], v, err_msg=k)
