"""Small Keras callbacks of the training command: NaN guard, per-epoch speed and learning rate, time budget
(and the first epoch it cuts short), averaged weights.

The rest of training's callbacks are Keras' own (`ReduceLROnPlateau`, `EarlyStopping`,
`TensorBoard`), `realloc.ReallocationCallback` and `checkpoint.TrainingCheckpoint`.
"""

from __future__ import annotations

import contextlib
import math
import time

import keras
import numpy as np
import tensorflow as tf

from lightrnn_tf import distribute
from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.fault_injection import kill_point


class NaNLossError(LightRNNError):
    """Training loss became NaN or infinite."""


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Raises `NaNLossError` at the first non-finite batch loss or perplexity, before the epoch can
    be saved, and at an epoch's end when a validation loss or perplexity is not finite. A finite
    loss past about 88.7 nats a word gives an infinite float32 perplexity: the model diverged, and
    `TrainingCheckpoint` (which never saves an epoch with a non-finite log) would save nothing.

    With `steps_per_execution` > 1 Keras reports every that many batches, so the batch named is the
    last of the group in which the loss went bad.

    Args:
        hint: str, or a callable returning one when the loss goes bad, appended to the message
            (e.g. where the last good checkpoint is).
    """

    def __init__(self, hint: str = ""):
        super().__init__(raise_error=True)
        self.hint = hint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        self._check(logs, f"at epoch {self._epoch + 1}, by batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"in the validation after epoch {epoch + 1}")

    def _check(self, logs, where: str) -> None:
        logs = logs or {}
        bad = [k for k, v in logs.items()
               if ("loss" in k or "perplexity" in k) and np.ndim(v) == 0 and not math.isfinite(float(v))]
        if not bad:
            return
        key = next((k for k in bad if "loss" in k), bad[0])  # a loss first: it says more than its exp
        what = f"{key} became {float(logs[key])}"
        loss_key = key.replace("perplexity", "loss")
        if "loss" not in key and loss_key in logs:
            what += f" ({loss_key} {float(logs[loss_key]):.6g}: the model diverged)"
        hint = self.hint() if callable(self.hint) else self.hint
        raise NaNLossError(f"{what} {where}" + (f"; {hint}" if hint else ""))


class EpochStats(keras.callbacks.Callback):
    """Adds `epoch_seconds` (training, without validation), `words_per_sec` and `learning_rate`
    (the rate the epoch trained with) to every epoch's logs. Put it before the callbacks that read
    those logs (TensorBoard, a CSV logger).

    Args:
        tokens_per_epoch: int, target words one epoch trains on.
        steps_per_epoch: int, windows an epoch has; an epoch cut short (time budget) is counted
            by the windows it ran. Default: `0` (always whole epochs).
    """

    def __init__(self, tokens_per_epoch: int, steps_per_epoch: int = 0):
        super().__init__()
        self.tokens_per_epoch, self.steps_per_epoch = int(tokens_per_epoch), int(steps_per_epoch)
        self._start = self._train_end = None
        self._lr = None
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._start, self._train_end, self._batches = time.perf_counter(), None, 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1
        kill_point("batch")

    def on_test_begin(self, logs=None):
        if self._start is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._train_end or time.perf_counter()) - self._start
        tokens = self.tokens_per_epoch
        if self.steps_per_epoch and 0 < self._batches < self.steps_per_epoch:
            tokens = tokens * self._batches / self.steps_per_epoch
        if logs is not None:
            logs.update(epoch_seconds=seconds, words_per_sec=tokens / max(seconds, 1e-9), learning_rate=self._lr)
        self._start = None


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall time have been spent, validation and reallocation included.

    Checked after every batch (a stop mid-epoch still validates that epoch) and at every epoch end,
    where the time spent so far is logged as `elapsed_seconds`. Put it after the reallocation
    callback, so that an epoch's reallocation counts in that epoch. With several workers
    (`MultiWorkerMirroredStrategy`) every worker must stop at the same step, so the budget is
    checked at epoch ends only, on the chief's clock, and its decision is sent to every worker.

    Args:
        seconds: float, the budget; 0 means none.
        spent: float, seconds already spent by earlier runs of the same training (resume).

    Attributes:
        exhausted: bool, whether this callback stopped training.
    """

    def __init__(self, seconds: float = 0.0, spent: float = 0.0):
        super().__init__()
        self.seconds, self.spent = float(seconds), float(spent)
        self.exhausted = False
        self._start = None

    def elapsed(self) -> float:
        return self.spent + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def _check(self) -> None:
        over = self.elapsed() >= self.seconds  # (callers check that there is a budget)
        strategy = self.model.distribute_strategy
        if distribute.is_multi_worker(strategy):
            over = bool(distribute.broadcast_json(strategy, over))  # the chief's decision, on every worker
        if over:
            self.exhausted = self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        if self.seconds:
            self._check()

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds and not distribute.is_multi_worker(self.model.distribute_strategy):
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["elapsed_seconds"] = self.elapsed()
        if self.seconds:
            self._check()

    def on_train_end(self, logs=None):
        self.spent, self._start = self.elapsed(), None

    def get_state(self) -> dict:
        return {"spent": self.elapsed()}

    def set_state(self, state: dict) -> None:
        """Restores the time spent (`TrainingCheckpoint`); a running clock restarts from now."""
        self.spent = float(state["spent"])
        if self._start is not None:
            self._start = time.perf_counter()


class FirstEpochCut(keras.callbacks.Callback):
    """Ends the first epoch of a `fit` once `seconds` of the time budget have been spent, and
    records how many windows it trained: every later epoch is then that long (a `fit` with
    `steps_per_epoch`, over a stream that goes on where the epoch stopped).

    Under a tight budget on a slow machine one pass over the text may take half the budget, and a
    reallocation needs an epoch left after it: with whole epochs none would fit. Cut at a quarter
    of the budget, about four epochs fit, and reallocations between them.

    A cut sets `model.stop_training` (Keras' only way to end an epoch early), so the epoch still
    validates and its epoch-end callbacks run. Put this callback first: at the epoch's end it
    clears that flag again, so that the callbacks after it (reallocation, checkpoint) see an epoch
    that ended, not a training that stops; put last a callback that ends the `fit` after its first
    epoch either way (`TrainingCheckpoint.stop_after_epoch()`). A budget spent by then
    (`time_budget.exhausted`) still stops training. Also at the epoch's end, before the callbacks
    after it (the checkpoint), it calls `on_cut(windows)`: a run records there the epoch length it
    goes on with, so that no checkpoint of the cut epoch exists without that record.

        cut = FirstEpochCut(budget, budget.seconds / 4)
        model.fit(ds, epochs=20, callbacks=[cut, *others, budget, ckpt, ckpt.stop_after_epoch()])
        if cut.windows:  # the epoch was cut: fit the rest with steps_per_epoch=cut.windows

    Args:
        time_budget: the `TimeBudget` of the same `fit` (its clock; resumed runs count their past).
        seconds: float, budget seconds after which the first epoch ends.
        skipped: int, windows of the epoch trained before this `fit` (a mid-epoch resume).
        on_cut: optional function of the windows trained, called at the end of a cut epoch.

    Attributes:
        windows: int, windows the first epoch trained when it was cut; 0 if it ended by itself.
    """

    def __init__(self, time_budget: "TimeBudget", seconds: float, skipped: int = 0, on_cut=None):
        super().__init__()
        self.time_budget, self.seconds, self.skipped = time_budget, float(seconds), int(skipped)
        self.on_cut = on_cut
        self.windows = 0

    def on_train_batch_end(self, batch, logs=None):
        if not self.windows and self.time_budget.elapsed() >= self.seconds:
            self.windows = self.skipped + batch + 1
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if not self.windows:
            return
        if self.on_cut is not None:
            self.on_cut(self.windows)
        if not self.time_budget.exhausted:
            self.model.stop_training = False


class BudgetCooldown(keras.callbacks.Callback):
    """Over the last `fraction` of a time budget, lowers the learning rate linearly to zero.

    A run that the budget stops knows when it ends, so it can end annealed (the cooldown of a
    warmup-stable-decay schedule) rather than at whatever rate `ReduceLROnPlateau` left. Before
    every call into TensorFlow (every `steps_per_execution` windows) the optimizer's rate is set to

        base * clip((budget - elapsed) / (fraction * budget), 0, 1)

    where `base` is the rate `ReduceLROnPlateau` and the user set; at every epoch's end the rate
    is put back to `base` first, so that `ReduceLROnPlateau` (put it after this callback) decays
    `base`, and an epoch-end checkpoint holds it. `base` is in `get_state()`, so a checkpoint taken
    inside an epoch (which holds the scaled rate) resumes with it. Each epoch's logs get
    `lr_factor`, the factor when the epoch stopped training.

    Args:
        time_budget: the `TimeBudget` of the same `fit` (its clock, resumes included).
        fraction: float in [0, 1]; 0 (or no budget) leaves the rate alone.
    """

    def __init__(self, time_budget: TimeBudget, fraction: float):
        super().__init__()
        self.time_budget, self.fraction = time_budget, float(fraction)
        self.base_lr = None  # None: read it from the optimizer when the next epoch begins
        self._factor = 1.0

    @property
    def active(self) -> bool:
        return bool(self.fraction and self.time_budget.seconds)

    def factor(self) -> float:
        """The multiplier the rate gets now: 1 until the cooldown, then linearly down to 0."""
        if not self.active:
            return 1.0
        left = self.time_budget.seconds - self.time_budget.elapsed()
        return min(1.0, max(0.0, left / (self.fraction * self.time_budget.seconds)))

    def _set_lr(self, value: float) -> None:
        self.model.optimizer.learning_rate = value

    def on_train_begin(self, logs=None):
        if self.active and isinstance(getattr(self.model.optimizer, "_learning_rate", None),
                                      keras.optimizers.schedules.LearningRateSchedule):
            raise LightRNNError("BudgetCooldown sets the optimizer's learning rate, which a LearningRateSchedule "
                                "owns: give the optimizer a float rate, or leave the cooldown out (fraction 0)")

    def on_epoch_begin(self, epoch, logs=None):
        if self.active and self.base_lr is None:
            self.base_lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_begin(self, batch, logs=None):
        if self.active:
            self._factor = self.factor()
            self._set_lr(self.base_lr * self._factor)

    def on_epoch_end(self, epoch, logs=None):
        if not self.active:
            return
        if logs is not None:
            logs["lr_factor"] = self._factor
        self._set_lr(self.base_lr)
        self.base_lr = None

    def get_state(self) -> dict:
        return {"base_lr": self.base_lr, "factor": self._factor}

    def set_state(self, state: dict) -> None:
        """Restores the base rate of an epoch a checkpoint interrupted (`TrainingCheckpoint`)."""
        self.base_lr = state.get("base_lr")
        self._factor = float(state.get("factor", 1.0))


class WeightAveraging(keras.callbacks.Callback):
    """Puts the optimizer's moving average of the weights in the model wherever the model is judged
    or kept; training goes on from the raw weights.

    The optimizer keeps the average (`use_ema=True, ema_momentum=m`), updated inside `train_step`
    after every step: `avg <- m * avg + (1 - m) * w`, `avg <- w` after the very first. This
    callback copies it into the model's trainable variables when validation begins and keeps it
    there until the next epoch begins, so that validation and
    every callback after this one at the epoch's end (`EarlyStopping`'s best weights, reallocation,
    `TrainingCheckpoint`) see the averaged model, and so does the model `fit` leaves; a
    `ReallocationCallback` given `averaging=` this callback (as `python -m lightrnn_tf.train` does)
    reads its statistics from the raw weights and validates the new table on the average. The raw
    weights wait in variables of their own (`checkpoint_variables`) and come back when an epoch
    begins.

    Keras' `SwapEMAWeights(swap_on_epoch=True)` swaps the two instead. When a callback stops `fit`
    before its last epoch (a time budget), the optimizer's final `finalize_variable_values` then
    writes the raw weights into the model; and its swap state is not checkpointed, so a resumed
    run would train on from the average. Copying leaves the average in the optimizer, where that
    final write is harmless, and `get_state` records which weights the model holds.

    Put it first in `fit`'s callbacks, and give it to `TrainingCheckpoint` (its state and
    variables are part of a checkpoint).

    Example:

    >>> model.compile(optimizer=keras.optimizers.SGD(20.0, use_ema=True, ema_momentum=0.99))
    >>> model.fit(train, validation_data=valid, callbacks=[WeightAveraging(), early_stopping])
    """

    def __init__(self):
        super().__init__()
        self.averaged_in_model = False  # whether the model's trainable variables hold the average
        self._raw = None

    def _optimizer(self):
        opt = self.model.optimizer
        opt = getattr(opt, "inner_optimizer", opt)  # LossScaleOptimizer
        if not getattr(opt, "use_ema", False):
            raise ValueError(f"WeightAveraging needs an optimizer with use_ema=True; {type(opt).__name__} has "
                             "use_ema=False")
        if not opt.built:
            opt.build(self.model.trainable_variables)
        return opt

    def checkpoint_variables(self, model) -> list:
        """The raw weights while the model holds the averaged ones: `(shape,)` of each trainable
        variable, created here on first use."""
        if self._raw is None:
            self.set_model(model)
            with model.distribute_strategy.scope():
                self._raw = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False)
                             for v in self._optimizer()._trainable_variables]
        return self._raw

    def _pairs(self):
        opt = self._optimizer()
        self.checkpoint_variables(self.model)
        return zip(opt._trainable_variables, opt._model_variables_moving_average, self._raw)

    def use_average(self) -> None:
        """Model := average, keeping the raw weights (no-op if the model holds the average)."""
        if self.averaged_in_model:
            return
        for var, average, raw in self._pairs():
            raw.assign(var.value)
            var.assign(average.value)
        self.averaged_in_model = True

    def use_raw(self) -> None:
        """Model := the raw weights again (no-op if it holds them)."""
        if not self.averaged_in_model:
            return
        for var, _, raw in self._pairs():
            var.assign(raw)
        self.averaged_in_model = False

    @contextlib.contextmanager
    def raw_weights(self):
        """Within it the model holds the raw weights; after it, whichever it held before."""
        averaged = self.averaged_in_model
        self.use_raw()
        try:
            yield
        finally:
            if averaged:
                self.use_average()

    def on_epoch_begin(self, epoch, logs=None):
        self.use_raw()

    def on_test_begin(self, logs=None):
        self.use_average()

    def on_epoch_end(self, epoch, logs=None):
        self.use_average()  # also when fit has no validation data

    def get_state(self) -> dict:
        return {"averaged_in_model": self.averaged_in_model}

    def set_state(self, state: dict) -> None:
        self.averaged_in_model = bool(state["averaged_in_model"])
