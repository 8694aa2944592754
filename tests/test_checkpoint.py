"""TrainingCheckpoint: every variable, the optimizer, the RNG and the callbacks' state, restored whole."""

import os

import keras
import numpy as np
import pytest

from lightrnn_tf.callbacks import WeightAveraging
from lightrnn_tf.checkpoint import TrainingCheckpoint
from lightrnn_tf.data import stream_dataset
from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.model import LightRNNModel
from lightrnn_tf.realloc import ReallocationCallback
from lightrnn_tf.table import WordTable
from fault_callbacks import Interrupt, InterruptAtBatch


def _setup(tmp_path, seed=0, dtype=None, weight_drop=0.0, ema=0.0):
    """`[reduce_lr, early, realloc, ckpt]`, with `WeightAveraging` first when `ema` (the momentum)."""
    keras.utils.set_random_seed(seed)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.3, table_seed=seed,
                          weight_drop=weight_drop, **({"dtype": dtype} if dtype else {}))
    optimizer = keras.optimizers.Adam(0.01, global_clipnorm=1.0, **({"use_ema": True, "ema_momentum": ema}
                                                                    if ema else {}))
    if dtype == "mixed_float16":  # as `python -m lightrnn_tf.train --mixed-precision float16` makes it
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer)
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=0.0)
    ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
    realloc = ReallocationCallback(ids, every=1, batch_size=4, bptt=5, verbose=0)
    saved = [reduce_lr, early, realloc]
    averaging = [WeightAveraging()] if ema else []
    ckpt = TrainingCheckpoint(str(tmp_path / "ckpt"), saved + averaging, verbose=0)
    return model, ids, averaging + saved + [ckpt]


def _all_variables(model, callbacks=()):
    cb_vars = [v for cb in callbacks if isinstance(cb, WeightAveraging) for v in cb.checkpoint_variables(model)]
    return list(model.variables) + model.stream_state_variables + list(model.optimizer.variables) + cb_vars


@pytest.mark.parametrize("dtype, weight_drop, ema", [(None, 0.0, 0.0), ("mixed_float16", 0.0, 0.0), (None, 0.5, 0.0),
                                                     (None, 0.0, 0.9)])
def test_restore_undoes_a_perturbation_of_every_variable(tmp_path, dtype, weight_drop, ema):
    """float32, and mixed float16: float16 stream state and the loss-scale optimizer's own state;
    with weight drop, its mask RNG too; with weight averaging, the average, the raw weights and
    which of the two the model holds."""
    model, ids, callbacks = _setup(tmp_path, dtype=dtype, weight_drop=weight_drop, ema=ema)
    ckpt = callbacks[-1]
    model.fit(stream_dataset(ids, 4, 5), validation_data=stream_dataset(ids[:100], 2, 5), epochs=2,
              callbacks=callbacks, verbose=0)
    # Training ended by restoring the best weights; the checkpoint holds the last epoch's state.
    ckpt.restore()
    variables = _all_variables(model, callbacks)
    saved = [np.array(v.numpy()) for v in variables]
    names = [getattr(v, "path", v.name) for v in variables]
    assert any("seed_generator" in n for n in names) and any("lstm_1" in n for n in names)
    if weight_drop:  # the weight-drop mask RNG is among the variables saved
        assert any(v is model.weight_dropout.seed_generator.state for v in variables)
    if ema:  # the averages (the optimizer's) and the raw weights (the callback's), which differ
        averaging = callbacks[0]
        assert sum("average" in n for n in names) == len(model.trainable_variables)
        raw = averaging.checkpoint_variables(model)
        assert averaging.averaged_in_model and len(raw) == len(model.trainable_variables)
        assert all(not np.array_equal(r.numpy(), v.numpy()) for r, v in zip(raw, model.trainable_variables))
    assert any("iteration" in n for n in names) and any("learning_rate" in n for n in names)
    if dtype == "mixed_float16":
        assert any("dynamic_scale" in n for n in names) and any("step_counter" in n for n in names)
        assert {v.dtype.name for v in model.stream_state_variables if v.dtype.name != "bool"} == {"float16"}
    # Perturb everything: weights, table, RNG state, stream state (other batch size), optimizer.
    rng = np.random.default_rng(1)
    for var in variables:
        value = np.array(var.numpy())
        if value.dtype == bool:
            var.assign(not value)
        elif value.dtype.kind in "iu":
            var.assign(value + 3)
        elif len(value.shape) == 2 and value.shape[0] in (0, 4) and "stream" not in getattr(var, "path", "x"):
            var.assign(value + rng.normal(size=value.shape).astype(value.dtype))
        else:
            var.assign(np.ones((7,) + value.shape[1:], value.dtype) if value.shape and value.shape[0] in (0, 4)
                       and var.shape[0] is None else value + 1)
    model.set_table(WordTable.random(12, 4, 4, seed=99))
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(saved, variables))
    reduce_lr, early, realloc = callbacks[-4:-1]
    early.wait, early.best, reduce_lr.cooldown_counter = 99, -1.0, 99
    realloc.reports = []
    if ema:
        callbacks[0].averaged_in_model = False
    ckpt.restore()
    for name, before, var in zip(names, saved, variables):
        np.testing.assert_array_equal(before, var.numpy(), err_msg=name)
    assert early.wait != 99 and early.best > 0 and reduce_lr.cooldown_counter != 99
    assert len(realloc.reports) == 1  # reallocated after epoch 1, not after the last epoch
    assert early.best_weights is not None and ckpt.epoch == 2 and len(ckpt.history) == 2
    if ema:
        assert callbacks[0].averaged_in_model


def test_a_mid_epoch_checkpoint_holds_the_statistics_gathered_so_far(tmp_path):
    """`ReallocationCallback(source="epoch")`: the partial sums are in the checkpoint, and restoring
    undoes a perturbation of them."""
    keras.utils.set_random_seed(0)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, dropout=0.3)
    model.compile(optimizer="adam", steps_per_execution=1)
    ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
    realloc = ReallocationCallback(ids, every=1, batch_size=4, bptt=5, verbose=0, source="epoch")
    ckpt = TrainingCheckpoint(str(tmp_path / "ckpt"), [realloc], verbose=0, save_every_windows=4)
    with pytest.raises(KeyboardInterrupt):
        model.fit(stream_dataset(ids, 4, 5), epochs=2, callbacks=[realloc, ckpt, InterruptAtBatch(10)], verbose=0)
    assert ckpt.latest.endswith("ckpt-8")  # 8 windows into epoch 1
    sums = realloc.epoch_statistics.checkpoint_variables
    ckpt.restore()
    saved = [v.numpy().copy() for v in sums]
    assert realloc.epoch_statistics.tokens() == 8 * 4 * 5 and all(np.abs(a).sum() > 0 for a in saved)
    for var in sums:
        var.assign(var.numpy() + 1.0)
    ckpt.restore()
    for before, var in zip(saved, sums):
        np.testing.assert_array_equal(before, var.numpy())


class _StopAtBatch(keras.callbacks.Callback):
    """Stops `fit` after window `batch` (1-based) of epoch `epoch` (1-based), as a time budget does."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self._current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if (self._current, batch + 1) == (self.epoch, self.batch):
            self.model.stop_training = True


def test_windows_count_what_the_epochs_trained_and_survive_a_restore(tmp_path):
    """`windows`, where the next epoch starts in a stream read on across epochs: 6 + 6 + 2 after a fit
    stopped 2 windows into epoch 3; after a kill 4 windows into epoch 4 and a resume from that
    mid-epoch checkpoint, the finished epochs' again (a restore undoes a perturbation of it), and
    the resumed epoch adds its 6, the 4 skipped included."""
    from lightrnn_tf.data import continuing_stream_dataset

    keras.utils.set_random_seed(0)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8)
    model.compile(optimizer="adam", steps_per_execution=1)
    ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
    ckpt = TrainingCheckpoint(str(tmp_path / "ckpt"), verbose=0, save_every_windows=4)
    model.fit(continuing_stream_dataset(ids, 4, 5), steps_per_epoch=6, epochs=5, callbacks=[ckpt, _StopAtBatch(3, 2)],
              verbose=0)
    assert (ckpt.epoch, ckpt.windows) == (3, 14)
    with pytest.raises(KeyboardInterrupt):
        model.fit(continuing_stream_dataset(ids, 4, 5, ckpt.windows), steps_per_epoch=6, epochs=5,
                  callbacks=[ckpt, InterruptAtBatch(5)], verbose=0)
    assert ckpt.latest.endswith(f"ckpt-{3 * 1_000_000 + 4}")
    ckpt.windows = 99
    ckpt.restore()
    assert (ckpt.epoch, ckpt.step, ckpt.windows) == (3, 4, 14)
    model.fit(ckpt.resume_dataset(continuing_stream_dataset(ids, 4, 5, ckpt.windows)), steps_per_epoch=2, epochs=5,
              callbacks=[ckpt, ckpt.stop_after_epoch()], verbose=0)
    assert (ckpt.epoch, ckpt.windows) == (4, 20)


@pytest.mark.parametrize("weight_drop, ema", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.9)])
def test_fit_resumes_where_the_checkpoint_left_off(tmp_path, weight_drop, ema):
    """Interrupted after epoch 2, then the same `fit` call with fresh objects (as in a new process)
    continues to epoch 4 and ends where an uninterrupted run ends: dropout on, reallocation on,
    and weight drop on or off; with weight averaging, training goes on from the raw weights."""
    def run(path, interrupt_after=None):
        model, ids, callbacks = _setup(path, weight_drop=weight_drop, ema=ema)
        fit = lambda cbs: model.fit(stream_dataset(ids, 4, 5), validation_data=stream_dataset(ids[:100], 2, 5),
                                    epochs=4, callbacks=cbs, verbose=0)
        if interrupt_after:
            with pytest.raises(KeyboardInterrupt):
                fit(callbacks + [Interrupt(interrupt_after)])
            model, ids, callbacks = _setup(path, seed=5, weight_drop=weight_drop, ema=ema)  # all from the checkpoint
        fit(callbacks)
        return model, callbacks[-1]

    a, ckpt_a = run(tmp_path / "a")
    b, ckpt_b = run(tmp_path / "b", interrupt_after=2)
    assert [h["epoch"] for h in ckpt_b.history] == [1, 2, 3, 4]
    for ha, hb in zip(ckpt_a.history, ckpt_b.history):
        for key in ("loss", "val_loss", "learning_rate"):
            assert ha[key] == pytest.approx(hb[key], rel=1e-6), key
    for va, vb in zip(list(a.variables) + list(a.optimizer.variables), list(b.variables) + list(b.optimizer.variables)):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-6, atol=1e-7, err_msg=va.path)


def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    model, ids, callbacks = _setup(tmp_path)
    ckpt = callbacks[-1]
    model.fit(stream_dataset(ids, 4, 5), validation_data=stream_dataset(ids[:100], 2, 5), epochs=2,
              callbacks=callbacks, verbose=0)
    data = [f for f in os.listdir(ckpt.directory) if f.startswith("ckpt-2.data")]
    for f in data:
        with open(os.path.join(ckpt.directory, f), "r+b") as fh:
            fh.truncate(10)
    ckpt.verbose = 1
    ckpt.restore()
    assert ckpt.epoch == 1
    assert "ckpt-2 is corrupt" in capsys.readouterr().err
    for f in os.listdir(ckpt.directory):
        if f.startswith("ckpt-1.data"):
            with open(os.path.join(ckpt.directory, f), "r+b") as fh:
                fh.truncate(10)
    with pytest.raises(LightRNNError, match=r"checkpoint .*ckpt-2 is corrupt or does not match this model") as e:
        ckpt.restore()
    assert "\n" not in str(e.value)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    model, ids, callbacks = _setup(tmp_path)
    model.fit(stream_dataset(ids, 4, 5), epochs=1, callbacks=callbacks[-1:], verbose=0)
    other = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=16, num_layers=2)
    other.compile(optimizer="adam")
    ckpt = TrainingCheckpoint(str(tmp_path / "ckpt"), verbose=0)
    ckpt.set_model(other)
    with pytest.raises(LightRNNError, match="does not match this model"):
        ckpt.restore()


def _small_model_saving_every_4_windows(tmp_path):
    """A fresh V = 12 model (as in a new process) and a `TrainingCheckpoint` in `tmp_path/ckpt`
    that also saves every 4 windows."""
    keras.utils.set_random_seed(0)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, dropout=0.0)
    model.compile(optimizer="adam", steps_per_execution=1)
    return model, TrainingCheckpoint(str(tmp_path / "ckpt"), [], verbose=0, save_every_windows=4)


def test_a_plain_fit_after_a_mid_epoch_checkpoint_is_refused(tmp_path):
    """A mid-epoch checkpoint restored by a plain `fit` would train its windows again from the wrong
    state: refused with the way to resume; `resume_dataset` + `stop_after_epoch` is accepted."""
    from lightrnn_tf.errors import LightRNNError

    setup = lambda: _small_model_saving_every_4_windows(tmp_path)  # noqa: E731

    ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
    model, ckpt = setup()
    with pytest.raises(KeyboardInterrupt):
        model.fit(stream_dataset(ids, 4, 5), epochs=2, callbacks=[ckpt, InterruptAtBatch(10)], verbose=0)
    model, ckpt = setup()
    with pytest.raises(LightRNNError, match="8 windows into epoch 1: this fit would train those windows again"):
        model.fit(stream_dataset(ids, 4, 5), epochs=2, callbacks=[ckpt], verbose=0)
    model, ckpt = setup()  # resume_dataset before restore() would skip nothing: refused, saying so
    with pytest.raises(LightRNNError, match=r"nothing was restored yet.*checkpoint.restore\(\) first"):
        ckpt.resume_dataset(stream_dataset(ids, 4, 5))
    ckpt.set_model(model)
    ckpt.restore()
    model.fit(ckpt.resume_dataset(stream_dataset(ids, 4, 5)), epochs=2,
              callbacks=[ckpt, ckpt.stop_after_epoch()], verbose=0)
    model.fit(stream_dataset(ids, 4, 5), epochs=2, callbacks=[ckpt], verbose=0)
    assert [h["epoch"] for h in ckpt.history] == [1, 2]


def test_a_fit_with_nothing_left_to_train_is_not_refused(tmp_path):
    """Killed inside epoch 2 of 2, resumed with `epochs=1` (the training command's "nothing to
    train", e.g. a spent budget): the mid-epoch checkpoint is restored and nothing is trained."""
    class InterruptInEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch + 1 == 10:
                raise KeyboardInterrupt

    setup = lambda: _small_model_saving_every_4_windows(tmp_path)  # noqa: E731

    ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
    model, ckpt = setup()
    with pytest.raises(KeyboardInterrupt):
        model.fit(stream_dataset(ids, 4, 5), epochs=2, callbacks=[ckpt, InterruptInEpoch2()], verbose=0)
    model, ckpt = setup()
    model.fit(stream_dataset(ids, 4, 5), initial_epoch=1, epochs=1, callbacks=[ckpt], verbose=0)
    assert (ckpt.epoch, ckpt.step) == (1, 8) and len(ckpt.history) == 1


def test_a_lost_index_is_rebuilt_in_the_order_the_checkpoints_were_written(tmp_path):
    """ckpt-1000120 (120 windows into epoch 2) was written before ckpt-2 (the end of epoch 2), though
    its number is larger: the rebuilt index names ckpt-2 as the latest."""
    import os

    d = tmp_path / "ckpt"
    d.mkdir()
    for name, when in (("ckpt-1000120", 100.0), ("ckpt-2", 200.0)):
        for ext in (".index", ".data-00000-of-00001"):
            (d / (name + ext)).write_bytes(b"x")
            os.utime(d / (name + ext), (when, when))
    ckpt = TrainingCheckpoint(str(d), [], verbose=0)
    assert [os.path.basename(p) for p in ckpt._on_disk()] == ["ckpt-1000120", "ckpt-2"]
    assert ckpt.latest == str(d / "ckpt-2")


def test_keras_backup_and_restore_resumes_a_run_without_stateful_callbacks(tmp_path):
    """Keras' own `BackupAndRestore` keeps what a run without reallocation needs (weights, the
    table, the RNG, the optimizer): interrupted after epoch 2 and run again, it ends where an
    uninterrupted run ends."""
    def run(path, interrupt_after=None):
        def fresh(seed):
            keras.utils.set_random_seed(seed)
            model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, dropout=0.3, table_seed=seed)
            model.compile(optimizer=keras.optimizers.Adam(0.01))
            return model
        ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
        fit = lambda model, cbs: model.fit(stream_dataset(ids, 4, 5), epochs=4, verbose=0,
                                           callbacks=[keras.callbacks.BackupAndRestore(str(path))] + cbs)
        model = fresh(0)
        if interrupt_after:
            with pytest.raises(KeyboardInterrupt):
                fit(model, [Interrupt(interrupt_after)])
            model = fresh(5)  # everything from the backup
        history = fit(model, [])
        return model, history.epoch

    a, epochs_a = run(tmp_path / "a")
    b, epochs_b = run(tmp_path / "b", interrupt_after=2)
    assert epochs_a == [0, 1, 2, 3] and epochs_b == [2, 3]
    for va, vb in zip(list(a.variables) + list(a.optimizer.variables), list(b.variables) + list(b.optimizer.variables)):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-6, atol=1e-7, err_msg=va.path)


def test_keras_backup_and_restore_beside_a_stateful_callback_is_refused(tmp_path):
    """It would restore the weights but not the reallocations done, so the resumed run would
    reallocate again; refused before training, pointing to `TrainingCheckpoint`."""
    model, ids, callbacks = _setup(tmp_path)
    before = [v.numpy().copy() for v in model.trainable_variables]
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(LightRNNError, match=r"BackupAndRestore .* ReallocationCallback.*TrainingCheckpoint"):
        model.fit(stream_dataset(ids, 4, 5), epochs=1, callbacks=callbacks[:-1] + [backup], verbose=0)
    for b, v in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(b, v.numpy())
    assert not os.path.exists(tmp_path / "backup")
    # saving inside epochs: Keras restores the epoch, not the window, so it is refused alone too
    inside = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"), save_freq=5)
    with pytest.raises(LightRNNError, match=r"save_freq=N restores the epoch but not the window"):
        model.fit(stream_dataset(ids, 4, 5), epochs=1, callbacks=[inside], verbose=0)


def test_save_weights_keeps_the_dropout_rng_and_reads_files_without_it(tmp_path, monkeypatch):
    """Keras leaves `SeedGenerator` states out of `save_weights`; the model adds them, so a
    perturbed RNG comes back. A file written without them (before, or by Keras' own method)
    still loads, and leaves the RNG as it is."""
    from lightrnn_tf.stream_model import StreamLanguageModel

    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, dropout=0.3, weight_drop=0.5)
    model.compile(optimizer="adam")
    ids = np.random.default_rng(0).integers(0, 12, 200).astype(np.int32)
    model.fit(stream_dataset(ids, 4, 5), epochs=1, verbose=0)
    rng = model.rng_state_variables()
    assert len(rng) >= 2 and {v.path for v in rng} == {v.path for v in model.variables if "seed_generator" in v.path}
    saved = [v.numpy().copy() for v in rng]
    model.save_weights(str(tmp_path / "with.weights.h5"))
    for v in rng:
        v.assign(v.numpy() + 7)
    model.load_weights(str(tmp_path / "with.weights.h5"))
    for s, v in zip(saved, rng):
        np.testing.assert_array_equal(s, v.numpy())

    monkeypatch.setattr(StreamLanguageModel, "save_own_variables", keras.Model.save_own_variables)
    model.save_weights(str(tmp_path / "without.weights.h5"))
    monkeypatch.undo()
    weights = [v.numpy().copy() for v in model.trainable_variables]
    for v in rng:
        v.assign(v.numpy() + 7)
    model.load_weights(str(tmp_path / "without.weights.h5"))
    for s, v in zip(saved, rng):
        np.testing.assert_array_equal(s + 7, v.numpy())
    for w, v in zip(weights, model.trainable_variables):
        np.testing.assert_array_equal(w, v.numpy())

    # into a model with other dropout settings (another number of RNG states): the weights load
    other = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, dropout=0.0)
    other((np.zeros((1, 3), np.int32),) * 2)
    other.load_weights(str(tmp_path / "with.weights.h5"))
    for w, v in zip(weights, other.trainable_variables):
        np.testing.assert_array_equal(w, v.numpy())


def test_restore_brings_back_the_saved_best_weights_and_running_loss(tmp_path):
    """A checkpoint saved 8 windows into epoch 2 holds the best weights `EarlyStopping` held then
    (from epoch 1, not zeros) and the running training-loss metric of those 8 windows: perturbing
    both (and the metric running on to window 10) and restoring brings back exactly the values
    they had when the checkpoint was written."""
    class SnapshotAtSave(keras.callbacks.Callback):  # after the checkpoint: what it has just saved
        def __init__(self, early):
            super().__init__()
            self.early, self.epoch, self.saved = early, 0, None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch + 1 == 8:
                self.saved = ([np.array(w) for w in self.early.best_weights],
                              [np.array(v.numpy()) for m in self.model.metrics for v in m.variables])
            if self.epoch == 1 and batch + 1 == 10:
                raise KeyboardInterrupt

    model, ids, callbacks = _setup(tmp_path)
    reduce_lr, early, realloc, ckpt = callbacks
    ckpt.save_every_windows = 8
    snap = SnapshotAtSave(early)
    with pytest.raises(KeyboardInterrupt):
        model.fit(stream_dataset(ids, 4, 5), validation_data=stream_dataset(ids[:100], 2, 5), epochs=3,
                  callbacks=callbacks + [snap], verbose=0)
    assert ckpt.latest.endswith(f"ckpt-{1 * 1_000_000 + 8}")  # 8 windows into epoch 2
    best, metrics = snap.saved
    metric_vars = [v for m in model.metrics for v in m.variables]
    assert len(metric_vars) == len(metrics) >= 2 and all(np.any(m != 0) for m in metrics)
    assert len(best) == len(model.weights) and any(np.any(w != 0) for w in best)
    # the metric went on to window 10; perturb it and the best weights further
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(metrics, metric_vars))
    for var in metric_vars:
        var.assign(var.numpy() + 5)
    early.best_weights = [w + 1.0 for w in early.best_weights]
    ckpt.restore()
    assert ckpt.step == 8 and len(early.best_weights) == len(best)
    for before, after in zip(best, early.best_weights):
        np.testing.assert_array_equal(before, np.asarray(after))
    for before, var in zip(metrics, metric_vars):
        np.testing.assert_array_equal(before, var.numpy(), err_msg=var.path)


@pytest.mark.parametrize("kind", ["lightrnn", "full_softmax", "sampled_softmax"])
def test_a_tf_checkpoint_of_the_model_alone_holds_every_variable(tmp_path, kind):
    """`tf.train.Checkpoint(model=m)`, the TensorFlow way a user saves a Keras model: restored into
    a new model whose optimizer is not built (so nothing comes back through the optimizer's
    references), every variable comes back, the LSTMs (a Python list of layers, which TensorFlow's
    tracking does not see into) and the dropout RNG included, and so do the log-probs."""
    import tensorflow as tf

    from lightrnn_tf.baselines import FullSoftmaxLSTM, SampledSoftmaxLSTM

    cls, kwargs = {"lightrnn": (LightRNNModel, {}), "full_softmax": (FullSoftmaxLSTM, {}),
                   "sampled_softmax": (SampledSoftmaxLSTM, {"num_sampled": 5})}[kind]
    ids = np.random.default_rng(0).integers(0, 50, 2000).astype(np.int32)

    def make():
        return cls(50, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.3, **kwargs)

    trained = make()
    trained.compile(optimizer="adam")
    trained.fit(stream_dataset(ids, 4, 5).take(3), epochs=1, verbose=0)
    fresh = make()
    window = (np.array([[1, 2, 3], [4, 5, 6]], np.int32),) * 2
    fresh(window)
    own = lambda m: list(m.variables) + m.rng_state_variables()  # noqa: E731
    for v in own(fresh):
        v.assign(v + tf.cast(1, v.dtype))
    path = tf.train.Checkpoint(model=trained).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(model=fresh).read(path).expect_partial()  # (the optimizer's slots have nowhere to go)
    assert len(own(fresh)) == len(own(trained)) and any("lstm" in v.path for v in fresh.variables)
    for a, b in zip(own(trained), own(fresh)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    np.testing.assert_array_equal(np.asarray(trained(window)), np.asarray(fresh(window)))
