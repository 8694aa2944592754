"""`--lr-cooldown` / `BudgetCooldown`: over the last fraction of `--time-budget` the learning rate
falls linearly to zero, on top of the rate `ReduceLROnPlateau` decays; checked window by window
against the formula on a clock that ticks once a window, and across a mid-epoch checkpoint."""

import keras
import numpy as np
import pytest

from lightrnn_tf.callbacks import BudgetCooldown, TimeBudget
from lightrnn_tf.checkpoint import TrainingCheckpoint
from lightrnn_tf.data import num_windows, stream_dataset
from lightrnn_tf.model import LightRNNModel

BUDGET, FRACTION, LR = 30.0, 0.5, 0.8  # the cooldown starts at t = 15
WINDOWS = num_windows(200, 4, 5)  # an epoch: 10 windows of 4 x 5 tokens


class TickingBudget(TimeBudget):
    """A `TimeBudget` whose clock advances one second per training window, whatever the machine."""

    def __init__(self, seconds, spent=0.0):
        super().__init__(seconds, spent)
        self.ticks = 0

    def elapsed(self) -> float:
        return self.spent + self.ticks

    def on_train_begin(self, logs=None):
        self.ticks = 0
        super().on_train_begin(logs)

    def on_train_batch_end(self, batch, logs=None):
        self.ticks += 1
        super().on_train_batch_end(batch, logs)

    def on_train_end(self, logs=None):
        self.spent, self.ticks = self.elapsed(), 0


class RecordRates(keras.callbacks.Callback):
    """(clock, learning rate) each window trains with, and the rate the optimizer holds at each epoch's end."""

    def __init__(self, budget):
        super().__init__()
        self.budget, self.rates, self.epoch_end_rates = budget, [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append((self.budget.elapsed(), float(self.model.optimizer.learning_rate.numpy())))

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end_rates.append(float(self.model.optimizer.learning_rate.numpy()))


def _setup(path=None, fraction=FRACTION, seed=0, seconds=BUDGET):
    keras.utils.set_random_seed(seed)
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8, table_seed=0)
    model.compile(optimizer=keras.optimizers.SGD(LR), steps_per_execution=1)
    budget = TickingBudget(seconds)
    cooldown = BudgetCooldown(budget, fraction)
    # min_delta so large that every epoch after the first counts as no better: the rate halves at each epoch end.
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=0, min_delta=1e9)
    record = RecordRates(budget)
    callbacks = [cooldown, reduce_lr, record, budget]  # the order build_callbacks uses
    if path is not None:
        callbacks.append(TrainingCheckpoint(str(path), [reduce_lr, budget, cooldown], verbose=0, save_every_windows=4))
    return model, callbacks, record


def _data():
    """`(train, valid)` windows: 200 tokens in rows of 4 x 5, and the first 100 in rows of 2 x 5."""
    ids = np.random.default_rng(0).integers(0, 12, 200).astype(np.int32)
    return stream_dataset(ids, 4, 5), stream_dataset(ids[:100], 2, 5)


def _fit(model, callbacks, extra=(), train=None):
    windows, valid = _data()
    return model.fit(windows if train is None else train, validation_data=valid, epochs=100,
                     callbacks=list(callbacks) + list(extra), verbose=0).history


def _expected(clock: float, base: float) -> float:
    return base * min(1.0, max(0.0, (BUDGET - clock) / (FRACTION * BUDGET)))


def test_the_rate_falls_linearly_to_zero_over_the_last_fraction_of_the_budget():
    model, callbacks, record = _setup()
    history = _fit(model, callbacks)
    assert len(record.rates) == BUDGET  # one window a second: the budget stopped fit after 30 windows
    epochs = len(history["loss"])
    assert epochs == 3
    bases = [LR, LR, LR / 2]  # the rate of each epoch: halved at the end of epoch 2 (1-based)
    for window, (clock, rate) in enumerate(record.rates):
        assert clock == window
        assert rate == pytest.approx(_expected(clock, bases[window // WINDOWS]), rel=1e-6), window
    assert record.rates[16][1] < LR and record.rates[-1][1] == pytest.approx(LR / 2 / 15, rel=1e-6)
    # At every epoch's end the optimizer holds the base rate again, which ReduceLROnPlateau logs and
    # then decays (and a checkpoint saves); the logs carry the factor each epoch ended at.
    assert history["learning_rate"] == pytest.approx(bases, rel=1e-6)
    assert record.epoch_end_rates == pytest.approx([LR, LR / 2, LR / 4], rel=1e-6)
    last_clocks = [(e + 1) * WINDOWS - 1 for e in range(epochs)]
    assert history["lr_factor"] == pytest.approx([_expected(c, 1.0) for c in last_clocks], rel=1e-6)


@pytest.mark.parametrize("fraction, seconds", [(0.0, BUDGET), (FRACTION, 0.0)])
def test_no_cooldown_without_a_fraction_or_a_budget(fraction, seconds):
    model, callbacks, record = _setup(fraction=fraction, seconds=seconds)
    callbacks.pop(1)  # no ReduceLROnPlateau: the rate stays as set
    history = _fit(model, callbacks, extra=[StopAfterWindows(20)])
    assert len(record.rates) == 20 and all(rate == pytest.approx(LR) for _, rate in record.rates)
    assert "lr_factor" not in history


class StopAfterWindows(keras.callbacks.Callback):
    """Ends `fit` after `windows` training windows in all; with `interrupt`, raises Ctrl-C there instead."""

    def __init__(self, windows, interrupt=False):
        super().__init__()
        self.windows, self.interrupt, self.seen = windows, interrupt, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.windows:
            if self.interrupt:
                raise KeyboardInterrupt
            self.model.stop_training = True


def test_a_mid_epoch_checkpoint_resumes_the_cooldown_where_it_was(tmp_path):
    """Interrupted 7 windows into epoch 3 (in the cooldown, after a decay), restored into fresh objects,
    the rest of the run trains with the rates of the uninterrupted run; perturbing the restored base
    rate and restoring again puts it back."""
    model, callbacks, whole = _setup()
    _fit(model, callbacks)

    model, callbacks, record = _setup(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _fit(model, callbacks, extra=[StopAfterWindows(2 * WINDOWS + 7, interrupt=True)])
    model, callbacks, resumed = _setup(tmp_path, seed=5)
    ckpt, cooldown = callbacks[-1], callbacks[0]
    ckpt.set_model(model)
    ckpt.restore()
    assert (ckpt.epoch, ckpt.step) == (2, 4)  # the last save, 4 windows into epoch 3
    assert cooldown.base_lr == pytest.approx(LR / 2) and callbacks[3].spent == 2 * WINDOWS + 4
    cooldown.base_lr = 123.0
    ckpt.restore()
    assert cooldown.base_lr == pytest.approx(LR / 2)

    _fit(model, callbacks, extra=[ckpt.stop_after_epoch()], train=ckpt.resume_dataset(_data()[0]))
    assert callbacks[3].exhausted  # the budget ended the run in that epoch, as it did the uninterrupted one
    rest = whole.rates[2 * WINDOWS + 4:]
    assert [clock for clock, _ in resumed.rates] == [clock for clock, _ in rest]
    assert [rate for _, rate in resumed.rates] == pytest.approx([rate for _, rate in rest], rel=1e-6)


def test_a_learning_rate_schedule_is_refused_up_front():
    """The cooldown sets the rate, which a LearningRateSchedule owns: one clear error before training."""
    from lightrnn_tf.errors import LightRNNError

    model = LightRNNModel(12, 4, 4, embedding_dim=4, hidden_dim=4)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.9)))
    ids = np.arange(200) % 12
    cooldown = BudgetCooldown(TimeBudget(60), 0.2)
    with pytest.raises(LightRNNError, match="LearningRateSchedule"):
        model.fit(stream_dataset(ids, 2, 5), epochs=1, callbacks=[cooldown], verbose=0)
