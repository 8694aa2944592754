"""`--ema-momentum` / `WeightAveraging`: validation and the fitted model use the optimizer's moving
average of the weights, checked against a NumPy average of the raw weights recorded after every
step; training itself goes on from the raw weights, exactly as without averaging."""

import dataclasses

import keras
import numpy as np
import pytest

from lightrnn_tf import realloc as realloc_module
from lightrnn_tf.callbacks import WeightAveraging
from lightrnn_tf.data import stream_dataset
from lightrnn_tf.model import LightRNNModel

M = 0.8  # momentum: a short memory, so that a few steps make the average differ from the raw weights


class RecordRawWeights(keras.callbacks.Callback):
    """The trainable weights after every training step (the model holds the raw ones then)."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([v.numpy().copy() for v in self.model.trainable_variables])


def _fit(ema: bool, epochs=3, early_stopping=False, extra=()):
    keras.utils.set_random_seed(0)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.3, table_seed=0)
    opt = keras.optimizers.SGD(1.0, global_clipnorm=1.0, **({"use_ema": True, "ema_momentum": M} if ema else {}))
    model.compile(optimizer=opt, steps_per_execution=1)
    ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
    valid = stream_dataset(ids[:100], 2, 5)
    record = RecordRawWeights()
    callbacks = ([WeightAveraging()] if ema else []) + [record, *extra]
    if early_stopping:  # patience 0 with an epoch that got worse: fit stops before its last epoch
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, restore_best_weights=True))
    history = model.fit(stream_dataset(ids, 4, 5), validation_data=valid, epochs=epochs, callbacks=callbacks,
                        verbose=0)
    return model, record.steps, history.history, valid


def _numpy_averages(steps):
    """Keras' update, written out: the first step's weights, then avg <- m avg + (1 - m) w."""
    averages, avg = [], None
    for weights in steps:
        avg = [w.copy() for w in weights] if avg is None else [M * a + (1 - M) * w for a, w in zip(avg, weights)]
        averages.append(avg)
    return averages


def _valid_loss(model, valid) -> float:
    return model.evaluate(valid, verbose=0, return_dict=True)["loss"]


def test_validation_and_the_fitted_model_use_the_average_and_training_the_raw_weights():
    model, steps, history, valid = _fit(ema=True)
    plain_model, plain_steps, plain_history, _ = _fit(ema=False)
    per_epoch = len(steps) // 3
    # Training is untouched by the averaging: the same raw weights after every step (epochs 2 and 3
    # start from the raw weights, not from the average validation used).
    assert len(steps) == len(plain_steps)
    for a, b in zip(steps, plain_steps):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history["loss"], plain_history["loss"], rtol=1e-5)
    averages = _numpy_averages(steps)
    assert max(np.abs(a - w).max() for a, w in zip(averages[-1], steps[-1])) > 1e-3  # they differ
    # The fitted model holds the average of the last epoch.
    for var, avg in zip(model.trainable_variables, averages[-1]):
        np.testing.assert_allclose(var.numpy(), avg, rtol=1e-4, atol=1e-6, err_msg=var.path)
    # Every epoch's validation loss is that of the average at the epoch's end, not of the raw weights.
    for epoch in range(3):
        for var, avg in zip(model.trainable_variables, averages[(epoch + 1) * per_epoch - 1]):
            var.assign(avg)
        assert _valid_loss(model, valid) == pytest.approx(history["val_loss"][epoch], rel=1e-5)
    for var, raw in zip(model.trainable_variables, steps[-1]):
        var.assign(raw)
    assert _valid_loss(model, valid) != pytest.approx(history["val_loss"][-1], rel=1e-3)


class StopAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            self.model.stop_training = True


@pytest.mark.parametrize("stop", ["early_stopping", "callback"])
def test_a_fit_stopped_before_its_last_epoch_keeps_the_average(stop):
    """Early stopping keeps the best epoch's average; a fit another callback stops (a time budget)
    keeps the last one. (Keras' own `SwapEMAWeights(swap_on_epoch=True)` leaves the raw weights in
    the second case: the optimizer's final `finalize_variable_values` writes what it holds.)"""
    model, steps, history, valid = _fit(ema=True, epochs=30, early_stopping=stop == "early_stopping",
                                        extra=[StopAfterEpoch(2)] if stop == "callback" else [])
    epochs_run = len(history["val_loss"])
    assert epochs_run == 2 if stop == "callback" else 2 < epochs_run < 30
    per_epoch = len(steps) // epochs_run
    best = int(np.argmin(history["val_loss"])) if stop == "early_stopping" else epochs_run - 1
    averages = _numpy_averages(steps)
    for var, avg in zip(model.trainable_variables, averages[(best + 1) * per_epoch - 1]):
        np.testing.assert_allclose(var.numpy(), avg, rtol=1e-4, atol=1e-6, err_msg=var.path)
    assert _valid_loss(model, valid) == pytest.approx(history["val_loss"][best], rel=1e-5)


def test_an_optimizer_without_use_ema_is_refused():
    keras.utils.set_random_seed(0)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8)
    model.compile(optimizer="sgd")
    ids = np.random.default_rng(0).integers(0, 12, 200).astype(np.int32)
    with pytest.raises(ValueError, match="use_ema=True"):
        model.fit(stream_dataset(ids, 4, 5), validation_data=stream_dataset(ids[:100], 2, 5), epochs=1,
                  callbacks=[WeightAveraging()], verbose=0)


def test_reallocation_reads_the_raw_weights_and_validation_the_average(monkeypatch):
    """With `averaging=`, the statistics pass runs on the raw weights training goes on from; the
    callbacks after it and the next validation see the average again."""
    seen = []
    real = realloc_module.reallocate

    def spy(model, *args, **kwargs):
        seen.append([v.numpy().copy() for v in model.trainable_variables])
        return real(model, *args, **kwargs)

    monkeypatch.setattr(realloc_module, "reallocate", spy)
    keras.utils.set_random_seed(0)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, dropout=0.3, table_seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1.0, use_ema=True, ema_momentum=M), steps_per_execution=1)
    ids = np.random.default_rng(0).integers(0, 12, 400).astype(np.int32)
    averaging, record = WeightAveraging(), RecordRawWeights()
    after = []
    check = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: after.append(
        [v.numpy().copy() for v in model.trainable_variables]))
    realloc = realloc_module.ReallocationCallback(ids, every=1, rounds=1, batch_size=4, bptt=5, verbose=0,
                                                  averaging=averaging)
    model.fit(stream_dataset(ids, 4, 5), validation_data=stream_dataset(ids[:100], 2, 5), epochs=2,
              callbacks=[averaging, record, realloc, check], verbose=0)
    assert len(seen) == 1 and len(realloc.reports) == 1
    per_epoch = len(record.steps) // 2
    averages = _numpy_averages(record.steps)
    for got, raw, avg in zip(seen[0], record.steps[per_epoch - 1], averages[per_epoch - 1]):
        np.testing.assert_allclose(got, raw, rtol=1e-5, atol=1e-6)  # the raw weights of epoch 1's last step
        assert np.abs(raw - avg).max() > 1e-4
    for got, avg in zip(after[0], averages[per_epoch - 1]):  # the callbacks after it: the average
        np.testing.assert_allclose(got, avg, rtol=1e-4, atol=1e-6)


def test_a_run_too_short_to_average_over_trains_without_the_average(capsys):
    """Fewer than 3 / (1 - M) windows in all (epochs x windows an epoch, `--steps-per-epoch`
    included): the first window's weights would still weigh over e^-3 in the average, so the run
    trains without it; from 3 / (1 - M) windows on it keeps it."""
    from lightrnn_tf.config import TrainConfig
    from lightrnn_tf.data import num_windows
    from lightrnn_tf.train import without_averaging_if_too_short

    tokens = {num_windows(n, 4, 5): n for n in range(100, 4000)}  # windows an epoch -> a corpus size
    for epochs, windows, momentum, kept in ((2, 150, 0.99, True), (2, 149, 0.99, False), (1, 30, 0.9, True),
                                            (1, 29, 0.9, False)):
        cfg = TrainConfig(epochs=epochs, batch_size=4, bptt=5, ema_momentum=momentum)
        got = without_averaging_if_too_short(cfg, tokens[windows])
        assert got.ema_momentum == (momentum if kept else 0.0), (epochs, windows, momentum)
        assert ("note: --ema-momentum" in capsys.readouterr().err) is not kept
        assert dataclasses.replace(got, ema_momentum=momentum) == cfg  # nothing else changes
    short_epochs = TrainConfig(epochs=3, batch_size=4, bptt=5, steps_per_epoch=99)  # 297 windows < 300
    assert without_averaging_if_too_short(short_epochs, tokens[150]).ema_momentum == 0.0
    off = TrainConfig(epochs=1, batch_size=4, bptt=5, ema_momentum=0.0)
    assert without_averaging_if_too_short(off, tokens[29]) is off
